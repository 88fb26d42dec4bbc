"""The decoded image that travels between reading, upscaling and writing."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..quantize import quantize_

# Largest value of each stored sample type; float images are already in [0, 1].
PEAKS = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


@dataclass
class Picture:
    """Pixels ``(H, W, C)`` with C = 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA).

    ``pixels`` is uint8, uint16 or float32 (0..1) and is stored at its own precision; ``icc``
    and ``exif`` are carried to the output (EXIF with its orientation already applied).
    """

    pixels: np.ndarray
    icc: bytes | None = None
    exif: bytes | None = None
    format: str = "PNG"

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    @property
    def bits(self) -> int:
        return {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(self.pixels.dtype, 32)

    def with_pixels(self, pixels: np.ndarray) -> Picture:
        return replace(self, pixels=pixels)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` stored samples to ``(C, H, W)`` float32 in [0, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)
    peak = PEAKS.get(pixels.dtype)
    if peak is None:
        return tensor.float().clamp(0.0, 1.0)
    return tensor.float().div_(peak)


def from_tensor(tensor: torch.Tensor, dtype: np.dtype, rounding: str = "half_up") -> np.ndarray:
    """``(C, H, W)`` float in [0, 1] to ``(H, W, C)`` samples, rounded as ``rounding`` says."""
    tensor = tensor.float().clamp(0.0, 1.0)
    peak = PEAKS.get(np.dtype(dtype))
    if peak is not None:
        tensor = quantize_(tensor, peak, rounding)
        tensor = tensor.to(torch.uint8 if peak == 255.0 else torch.int32)
    return np.ascontiguousarray(tensor.permute(1, 2, 0).numpy().astype(dtype, copy=False))
