"""Splitting an image into tiles: pure arithmetic, no tensors."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    """Half-open pixel box ``[y0, y1) x [x0, x1)``."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def grown(self, margin: int, bounds: Tile) -> Tile:
        """This box grown by ``margin`` on every side, clipped to ``bounds``."""
        return Tile(
            max(self.y0 - margin, bounds.y0),
            min(self.y1 + margin, bounds.y1),
            max(self.x0 - margin, bounds.x0),
            min(self.x1 + margin, bounds.x1),
        )

    def quarters(self) -> list[Tile]:
        """Four boxes that cover this one (fewer when a side is one pixel)."""
        ys = _halves(self.y0, self.y1)
        xs = _halves(self.x0, self.x1)
        return [Tile(a, b, c, d) for a, b in ys for c, d in xs]


def _halves(start: int, end: int) -> list[tuple[int, int]]:
    if end - start < 2:
        return [(start, end)]
    middle = (start + end) // 2
    return [(start, middle), (middle, end)]


def spans(length: int, max_size: int) -> list[tuple[int, int]]:
    """Cuts ``[0, length)`` into the fewest spans of at most ``max_size``, sized evenly."""
    count = max(1, math.ceil(length / max(1, max_size)))
    edges = [round(i * length / count) for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def grid(area: Tile, max_size: int) -> list[Tile]:
    """Tiles of at most ``max_size`` per side covering ``area``, row by row."""
    return [
        Tile(area.y0 + a, area.y0 + b, area.x0 + c, area.x0 + d)
        for a, b in spans(area.height, max_size)
        for c, d in spans(area.width, max_size)
    ]


def side_for_budget(budget_bytes: int, bytes_per_pixel: float, context: int) -> int:
    """The largest square tile whose padded area fits ``budget_bytes``."""
    padded = math.isqrt(max(1, int(budget_bytes / max(bytes_per_pixel, 1e-9))))
    return max(1, padded - 2 * context)
