"""A network followed by a fixed resize, as the ncnn animevideov3 x2/x3 graphs are."""

from __future__ import annotations

from fractions import Fraction

import torch
from torch.nn import functional as F

from .archs import SRNet

# Extra context for the bicubic taps, in core pixels (4 taps at most 2 output pixels away).
RESIZE_CONTEXT = 1


class ResizedOutput(SRNet):
    """``inner`` then a bicubic resize by ``factor`` (align_corners=False, no antialias).

    The resize maps output pixel j to source coordinate (j + 0.5) / factor - 0.5, so it is
    exact tile by tile as long as each tile carries a pixel of context; the overall scale
    ``inner.scale * factor`` must be a whole number.
    """

    def __init__(self, inner: SRNet, factor: float, mode: str = "bicubic") -> None:
        super().__init__()
        exact = Fraction(factor).limit_denominator(64) * inner.scale
        if exact.denominator != 1 or exact < 1:
            raise ValueError(f"resize {factor} after a {inner.scale}x network is not a whole-number scale")
        self.inner, self.factor, self.mode = inner, factor, mode
        self.scale = int(exact)
        self.in_channels, self.out_channels = inner.in_channels, inner.out_channels
        self.unshuffle = inner.unshuffle
        self.preferred_cpu_tile = inner.preferred_cpu_tile
        self.cpu_tile_reusing_large_blocks = inner.cpu_tile_reusing_large_blocks
        self.output_rounding = inner.output_rounding
        self.original_prepad = inner.original_prepad
        self.hyperparameters = dict(getattr(inner, "hyperparameters", {}), output_scale=factor)
        if inner.tail_context is not None:
            self.tail_context = inner.tail_context + RESIZE_CONTEXT

    def _resize(self, y: torch.Tensor, core_size: tuple[int, int]) -> torch.Tensor:
        core_scale = self.scale * self.unshuffle
        size = (core_size[0] * core_scale, core_size[1] * core_scale)
        return F.interpolate(y, size=size, mode=self.mode, align_corners=False)

    def forward_core(self, x: torch.Tensor) -> torch.Tensor:
        return self._resize(self.inner.forward_core(x), x.shape[-2:])

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.forward_head(x)

    def forward_tail(self, features: torch.Tensor) -> torch.Tensor:
        return self._resize(self.inner.forward_tail(features), features.shape[-2:])

    def tile_context(self) -> int:
        return self.inner.tile_context() + RESIZE_CONTEXT

    def fp32_layers(self) -> tuple[str, ...]:
        return tuple(f"inner.{name}" for name in self.inner.fp32_layers())

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        head, tail = self.inner.bytes_per_pixel(element_size)
        resized = self.out_channels * self.scale**2 * element_size
        return (head + resized, tail + resized) if tail else (head + resized, 0)
