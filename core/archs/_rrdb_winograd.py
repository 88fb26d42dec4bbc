"""ESRGAN's residual dense block in Winograd convolutions, for fp32 on the CPU.

Direct convolution already runs at this machine's measured conv peak there, and x4plus's
dense blocks also spend a fifth of their time concatenating features. Here every feature is
carried to the Winograd points once, into one growing buffer: a conv's input is a prefix of
that buffer (no concatenation), and each conv is one batched matrix product over the points.
Between convs the features stay in their output tiles, as planes (see ``_winograd``). One
170-px block tile, x4plus's weights, 2 threads, AVX-512, alternating: 58-62 ms direct
(channels-last), 33-35 ms here (1.77x).
"""

from __future__ import annotations

import torch

from ._winograd import (
    BIAS_POINT,
    INPUT_TILE,
    OUTPUT_TILE,
    POINTS,
    Tiling,
    Workspace,
    in_tile_order,
    input_transform,
    output_tiles,
    planes_input_transform,
    to_map,
    zero_past_edge,
)


def applies(x: torch.Tensor) -> bool:
    return ENABLED and x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()


# Switched off to run the network as its authors wrote it (_as_written.as_written, tests).
ENABLED = True


def dense_block(
    x: torch.Tensor,
    filters: list[torch.Tensor],
    biases: list[torch.Tensor],
    *,
    negative_slope: float,
    residual_scale: float,
    workspace: Workspace,
    out: torch.Tensor | None = None,
    offset: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """The block of ``rrdbnet.dense_block`` on [N, nf, H, W], its weights given as
    ``filter_transform``s. Returns a contiguous (NCHW) map, the layout these blocks read fastest;
    or writes the part of it at ``offset`` that fits ``out`` there (a tile's share of the map,
    without a copy in between)."""
    if out is None:
        out, offset = torch.empty(x.shape), (0, 0)
    if x.shape[0] != 1:
        for one, target in zip(x, out, strict=True):
            dense_block(one.unsqueeze(0), filters, biases, negative_slope=negative_slope, residual_scale=residual_scale,
                        workspace=workspace, out=target.unsqueeze(0), offset=offset)  # fmt: skip
        return out
    features, height, width = x.shape[1:]
    tiling = Tiling(height, width)
    total = features + sum(filter_.shape[1] for filter_ in filters[:-1])
    growth = max(filter_.shape[1] for filter_ in filters[:-1])
    points = workspace.buffer("points", (total, POINTS, tiling.tiles))
    padded = workspace.zeroed("padded", (features, *tiling.padded), written=(height, width))
    planes = workspace.buffer("planes", (growth, OUTPUT_TILE, OUTPUT_TILE, tiling.rows, tiling.cols))
    patches = workspace.zeroed("patches", (growth, INPUT_TILE, INPUT_TILE, tiling.rows, tiling.cols))

    def conv(filter_: torch.Tensor, bias: torch.Tensor, inputs: int) -> torch.Tensor:
        outputs = filter_.shape[1]
        # Its own contiguous buffer: bmm writes into a strided one about 1.4x slower.
        product = workspace.buffer("products", (POINTS, outputs, tiling.tiles))
        torch.bmm(filter_, points[:inputs].transpose(0, 1), out=product)
        product[BIAS_POINT].add_(bias.unsqueeze(1))
        tiles = workspace.buffer("tiles", (OUTPUT_TILE, OUTPUT_TILE, outputs, tiling.rows, tiling.cols))
        return output_tiles(product, tiling, tiles)

    padded[:, 1 : height + 1, 1 : width + 1].copy_(x[0])
    input_transform(padded, tiling, points[:features])
    filled = features
    for filter_, bias in zip(filters[:-1], biases[:-1], strict=True):
        grown = filter_.shape[1]
        feature = planes[:grown]
        torch.ops.aten.leaky_relu.out(conv(filter_, bias, filled), negative_slope, out=in_tile_order(feature))
        zero_past_edge(feature, tiling)
        planes_input_transform(feature, patches[:grown], points[filled : filled + grown])
        filled += grown
    rows = slice(offset[0], offset[0] + out.shape[-2])
    cols = slice(offset[1], offset[1] + out.shape[-1])
    update = to_map(conv(filters[-1], biases[-1], filled), tiling)[:, rows, cols].unsqueeze(0)
    return torch.add(x[..., rows, cols], update, alpha=residual_scale, out=out)
