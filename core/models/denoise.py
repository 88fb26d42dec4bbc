"""Denoise strength for realesr-general-x4v3: Real-ESRGAN's network interpolation (DNI).

The original blends every tensor of two trained networks, ``dn * x4v3 + (1 - dn) * wdn``
(slopes and biases included). "wdn" is the weak-denoise twin: 0 gives it alone (grain kept),
1 gives x4v3 alone (the strongest denoising).
"""

from __future__ import annotations

import torch

from ..errors import UprezError

DENOISE_MODEL = "realesr-general-x4v3"
DENOISE_PARTNER = "realesr-general-wdn-x4v3"
DEFAULT_DENOISE = 0.5  # Real-ESRGAN's own default (-dn 0.5)


def check_strength(strength: float) -> float:
    if not 0.0 <= strength <= 1.0:
        raise UprezError(f"denoise strength must be between 0 and 1, not {strength:g}")
    return strength


def blend(
    x4v3: dict[str, torch.Tensor], weak: dict[str, torch.Tensor], strength: float
) -> dict[str, torch.Tensor]:
    """``strength * x4v3 + (1 - strength) * weak`` for every tensor, as Real-ESRGAN does."""
    if x4v3.keys() != weak.keys():
        raise UprezError(f"{DENOISE_MODEL} and {DENOISE_PARTNER} do not have the same tensors")
    blended = {}
    for key, tensor in x4v3.items():
        if tensor.shape != weak[key].shape:
            raise UprezError(f"{key} differs in shape between {DENOISE_MODEL} and {DENOISE_PARTNER}")
        blended[key] = strength * tensor + (1.0 - strength) * weak[key]
    return blended
