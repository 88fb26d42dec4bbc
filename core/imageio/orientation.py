"""EXIF orientation (tag 274), applied to pixel arrays of any depth."""

from __future__ import annotations

import numpy as np

ORIENTATION_TAG = 274


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Returns ``(H, W, C)`` pixels turned upright, as EXIF orientation 1..8 asks."""
    if orientation == 2:
        pixels = pixels[:, ::-1]
    elif orientation == 3:
        pixels = pixels[::-1, ::-1]
    elif orientation == 4:
        pixels = pixels[::-1]
    elif orientation == 5:
        pixels = pixels.transpose(1, 0, 2)
    elif orientation == 6:
        pixels = np.rot90(pixels, -1)
    elif orientation == 7:
        pixels = pixels.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:
        pixels = np.rot90(pixels, 1)
    return np.ascontiguousarray(pixels)
