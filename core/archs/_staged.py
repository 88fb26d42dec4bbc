"""Running one block over a large map in tiles, exactly, to keep its working set in cache."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

# On a CPU, a dense block's maps fall out of the caches past about 200 px (x4plus's trunk ran
# at 258 GFLOP/s on 96-192 px maps, 218 at 256, 195 at 384), so larger maps go through such
# blocks in tiles of at most 160 px (split evenly). 160 rather than 128: a 276-px map then
# takes 2x2 tiles, not 3x3, and recomputes half the overlap (x4plus on photo-256 1.07x faster).
# A GPU gains nothing from it and runs whole maps.
CPU_TILE = 160
CPU_TILES_ABOVE = 192


def in_cache_sized_tiles(block: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, radius: int):
    """``block(x)``; on a CPU map larger than ``CPU_TILES_ABOVE``, tile by tile (same numbers)."""
    if x.device.type == "cpu" and max(x.shape[-2:]) > CPU_TILES_ABOVE:
        return apply_in_tiles(block, x, CPU_TILE, radius)
    return block(x)


def layout_of(x: torch.Tensor) -> torch.memory_format:
    """Channels-last where ``x`` is laid out so, else contiguous: tiles keep the block's layout
    (direct convs prefer channels-last, the Winograd blocks contiguous)."""
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def apply_in_tiles(block: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, radius: int):
    """``block(x)`` computed tile by tile; equal to the whole-map call, not an approximation
    (to the last bit for direct convs; Winograd blocks round by where their 6x6 tiles fall).

    Each tile carries ``radius`` pixels of real context (the block's receptive radius), and at
    the map's edge none, so the convs' zero padding falls where it does for the whole map.
    """
    layout = layout_of(x)
    # A block may write each tile's share straight into the map (see the Winograd dense block).
    writes_into = getattr(block, "writes_into", False)
    height, width = x.shape[-2:]
    rows, cols = math.ceil(height / tile), math.ceil(width / tile)
    tile_h, tile_w = math.ceil(height / rows), math.ceil(width / cols)
    # Blocks that write into the map keep its channels, so it can be made before the first tile.
    out = torch.empty_like(x, memory_format=torch.contiguous_format) if writes_into else None
    for y0 in range(0, height, tile_h):
        for x0 in range(0, width, tile_w):
            y1, x1 = min(height, y0 + tile_h), min(width, x0 + tile_w)
            wy0, wx0 = max(0, y0 - radius), max(0, x0 - radius)
            window = x[..., wy0 : min(height, y1 + radius), wx0 : min(width, x1 + radius)]
            if writes_into:
                block(window, out=out[..., y0:y1, x0:x1], offset=(y0 - wy0, x0 - wx0))
                continue
            # A contiguous-layout block (Winograd) copies its input once anyway: no copy here.
            result = block(window if layout == torch.contiguous_format else window.contiguous(memory_format=layout))
            if out is None:
                out = x.new_empty((*x.shape[:-3], result.shape[-3], height, width))
                out = out.contiguous(memory_format=layout_of(result))
            out[..., y0:y1, x0:x1] = result[..., y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
    assert out is not None  # maps are never empty
    return out
