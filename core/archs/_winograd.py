"""Winograd's minimal filtering F(6x6, 3x3): 3x3 convolutions with 5.06x fewer multiplications.

Each 6x6 output tile comes from an 8x8 input tile: the input tile and the kernel are carried
to 64 "points" (small matrix products), multiplied point by point (one matrix product per
point, over all channels), and carried back. Used for fp32 on the CPU, where direct
convolution is already at the machine's measured peak (core/archs/_rrdb_winograd.py).

The rounding differs from direct convolution's: x4plus on a 640x480 photo, 2,163 of 14.7 M
8-bit values one level apart from the direct path's, none further.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch

OUTPUT_TILE = 6
KERNEL = 3
INPUT_TILE = OUTPUT_TILE + KERNEL - 1
POINTS = INPUT_TILE**2
# Interpolation points (and infinity): small powers of two keep the transforms' rounding low.
NODES = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)


def cook_toom(nodes: tuple[float, ...], output_tile: int, kernel: int) -> tuple[torch.Tensor, ...]:
    """(AT, G, BT) of F(output_tile, kernel) over ``nodes`` and infinity, in float64:
    ``AT @ ((G @ g) * (BT @ d))`` is the correlation of ``d`` with ``g``.

    AT evaluates at the nodes and G interpolates (Lagrange); BT is whatever makes the identity
    hold, solved for exactly (it is unique for distinct nodes).
    """
    nodes_ = torch.tensor(nodes, dtype=torch.float64)
    size = output_tile + kernel - 1
    if len(nodes) != size - 1:
        raise ValueError(f"F({output_tile}, {kernel}) needs {size - 1} nodes, got {len(nodes)}")
    at = torch.zeros(output_tile, size, dtype=torch.float64)
    at[:, :-1] = nodes_.unsqueeze(0) ** torch.arange(output_tile, dtype=torch.float64).unsqueeze(1)
    at[-1, -1] = 1
    g = torch.zeros(size, kernel, dtype=torch.float64)
    for j, node in enumerate(nodes_):
        others = torch.cat([nodes_[:j], nodes_[j + 1 :]])
        g[j] = node ** torch.arange(kernel, dtype=torch.float64) / torch.prod(node - others)
    g[-1, -1] = 1
    # sum_j AT[i, j] G[j, k] BT[j, l] = [l == i + k], for every output i and tap k.
    system = (at.unsqueeze(1) * g.t().unsqueeze(0)).reshape(output_tile * kernel, size)
    wanted = torch.zeros(output_tile * kernel, size, dtype=torch.float64)
    for i in range(output_tile):
        for k in range(kernel):
            wanted[i * kernel + k, i + k] = 1
    bt = torch.linalg.lstsq(system, wanted).solution
    return at, g, torch.round(bt * 2**20) / 2**20  # its entries are multiples of 1/4 here


_AT, _G, _BT = cook_toom(NODES, OUTPUT_TILE, KERNEL)
INPUT_TRANSFORM = torch.kron(_BT, _BT).float()  # [64 points, 64 tile pixels]
OUTPUT_TRANSFORM = torch.kron(_AT, _AT).float()  # [36 tile pixels, 64 points]
FILTER_TRANSFORM = torch.kron(_G, _G).float()  # [64 points, 9 taps]
# A constant added at the point (1, 1) reaches every output of the tile unchanged (node 1's
# column of AT is all ones): biases go there, 1/64 of a pass instead of a pass over the output.
BIAS_POINT = NODES.index(1.0) * (INPUT_TILE + 1)


def filter_transform(weight: torch.Tensor) -> torch.Tensor:
    """[Cout, Cin, 3, 3] -> [64, Cout, Cin]: the kernel at each point (one product, no copy)."""
    cout, cin = weight.shape[:2]
    return torch.mm(FILTER_TRANSFORM, weight.reshape(cout * cin, KERNEL**2).t()).view(POINTS, cout, cin)


@dataclass(frozen=True)
class Tiling:
    """How an ``height`` x ``width`` map is cut into 6x6 output tiles."""

    height: int
    width: int

    @property
    def rows(self) -> int:
        return -(-self.height // OUTPUT_TILE)

    @property
    def cols(self) -> int:
        return -(-self.width // OUTPUT_TILE)

    @property
    def tiles(self) -> int:
        return self.rows * self.cols

    @property
    def padded(self) -> tuple[int, int]:
        """The zero-bordered map the input tiles are cut from (one pixel of padding, plus the
        last tile's overhang)."""
        return OUTPUT_TILE * self.rows + KERNEL - 1, OUTPUT_TILE * self.cols + KERNEL - 1


def input_transform(padded: torch.Tensor, tiling: Tiling, out: torch.Tensor) -> None:
    """[C, H+2, W+2] zero-bordered map -> ``out`` [C, 64, tiles]: each channel's tiles at the points."""
    channels = padded.shape[0]
    channel, row, col = padded.stride()
    step = OUTPUT_TILE
    shape = (channels, INPUT_TILE, INPUT_TILE, tiling.rows, tiling.cols)
    patches = padded.as_strided(shape, (channel, row, col, step * row, step * col))
    torch.matmul(INPUT_TRANSFORM, patches.reshape(channels, POINTS, tiling.tiles), out=out)


def output_tiles(products: torch.Tensor, tiling: Tiling, out: torch.Tensor) -> torch.Tensor:
    """[64, C, tiles] point products -> their 6x6 output tiles, [6, 6, C, rows, cols] in ``out``
    (the order the product leaves them in; ``to_map`` or ``in_tile_order`` reorder them)."""
    channels = products.shape[1]
    tiles = out.view(OUTPUT_TILE**2, channels * tiling.tiles)
    torch.mm(OUTPUT_TRANSFORM, products.reshape(POINTS, channels * tiling.tiles), out=tiles)
    return out.view(OUTPUT_TILE, OUTPUT_TILE, channels, tiling.rows, tiling.cols)


def to_map(tiles: torch.Tensor, tiling: Tiling) -> torch.Tensor:
    """[6, 6, C, rows, cols] output tiles -> [C, height, width] (a view of a fresh tensor)."""
    channels, rows, cols, step = tiles.shape[2], tiling.rows, tiling.cols, OUTPUT_TILE
    spatial = tiles.permute(2, 3, 0, 4, 1).reshape(channels, rows * step, cols * step)
    return spatial[:, : tiling.height, : tiling.width]


# A map between two convs can stay in its output tiles, as "planes": [C, 6, 6, rows, cols],
# each pixel position of the tile a plane of all tiles. Reordering into planes and gathering
# the next input tiles from them moves runs of a whole tile row; a map would be reordered
# pixel by pixel and gathered in strides of 6 (with the products in their own buffer,
# x4plus's dense block over a 660x500 map in 160-px block tiles: 1.18x faster, the same
# numbers).


def in_tile_order(planes: torch.Tensor) -> torch.Tensor:
    """[C, 6, 6, rows, cols] planes viewed as [6, 6, C, rows, cols]: output tiles written into
    the view land in planes."""
    return planes.permute(1, 2, 0, 3, 4)


def zero_past_edge(planes: torch.Tensor, tiling: Tiling) -> None:
    """Zero the outputs of the last row and column of tiles that fall past the map's edge: the
    next convolution reads them as its zero padding."""
    if tiling.height % OUTPUT_TILE:
        planes[:, tiling.height % OUTPUT_TILE :, :, -1, :].zero_()
    if tiling.width % OUTPUT_TILE:
        planes[:, :, tiling.width % OUTPUT_TILE :, :, -1].zero_()


def _patch_parts(tiles: int) -> tuple[tuple[slice, slice, slice, slice], ...]:
    """Along one axis, where an input tile's 8 pixels come from, as (input pixels, output
    pixels, input tiles, output tiles): the previous tile's last pixel, the tile's own 6, the
    next tile's first. Tiles on the map's edge have no neighbour on that side."""
    last = OUTPUT_TILE - 1
    return (
        (slice(0, 1), slice(last, last + 1), slice(1, tiles), slice(0, tiles - 1)),
        (slice(1, OUTPUT_TILE + 1), slice(0, OUTPUT_TILE), slice(0, tiles), slice(0, tiles)),
        (slice(OUTPUT_TILE + 1, INPUT_TILE), slice(0, 1), slice(0, tiles - 1), slice(1, tiles)),
    )


def planes_input_transform(planes: torch.Tensor, patches: torch.Tensor, out: torch.Tensor) -> None:
    """[C, 6, 6, rows, cols] planes -> ``out`` [C, 64, tiles], through ``patches`` [C, 8, 8,
    rows, cols]: a buffer whose entries past the map's edge are zero (``Workspace.zeroed``),
    since they are never written."""
    rows, cols = planes.shape[-2:]
    for to_row, from_row, to_rows, from_rows in _patch_parts(rows):
        for to_col, from_col, to_cols, from_cols in _patch_parts(cols):
            source = planes[:, from_row, from_col, from_rows, from_cols]
            patches[:, to_row, to_col, to_rows, to_cols].copy_(source)
    torch.matmul(INPUT_TRANSFORM, patches.view(planes.shape[0], POINTS, rows * cols), out=out)


class Workspace(threading.local):
    """Buffers reused from call to call (per thread): fresh ones of this size would be mapped
    and page-faulted in on every block (glibc maps blocks over 32 MiB afresh)."""

    def __init__(self) -> None:
        self._storage: dict[str, torch.Tensor] = {}
        self._zeroed_for: dict[str, tuple] = {}

    # Scratch space: a copy of a network (or a pickled one) starts with its own, empty.
    def __deepcopy__(self, memo: dict) -> Workspace:
        return Workspace()

    def __reduce__(self) -> tuple:
        return Workspace, ()

    def buffer(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        size = math.prod(shape)
        storage = self._storage.get(name)
        if storage is None or storage.numel() < size:
            storage = self._storage[name] = torch.empty(size)
            self._zeroed_for.pop(name, None)
        return storage[:size].view(shape)

    def zeroed(self, name: str, shape: tuple[int, ...], written: tuple = ()) -> torch.Tensor:
        """A buffer whose elements are zero wherever its callers do not write. ``written`` says
        what they write when the shape alone does not (a map's size: maps of as many tiles
        write interiors of different sizes into one shape); either changing zeroes it again."""
        buffer = self.buffer(name, shape)
        if self._zeroed_for.get(name) != (shape, written):
            buffer.zero_()
            self._zeroed_for[name] = (shape, written)
        return buffer
