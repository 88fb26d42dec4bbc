"""ComfyUI's IMAGE ``[B, H, W, C]`` and MASK ``[B, H, W]`` to the core's ``[N, C, H, W]`` and back.

The one place where layouts change; everything else in uprez uses the core's contract.
"""

from __future__ import annotations

import torch


def image_to_core(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """IMAGE to (colour ``[B, C, H, W]``, alpha ``[B, 1, H, W]`` or None), float32 in [0, 1]."""
    if image.ndim == 3:
        image = image.unsqueeze(0)
    batch = image.movedim(-1, 1).float().clamp(0.0, 1.0)
    if batch.shape[1] in (2, 4):
        return batch[:, :-1].contiguous(), batch[:, -1:].contiguous()
    return batch.contiguous(), None


def core_to_image(colour: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """(colour ``[B, C, H, W]``, alpha) to IMAGE ``[B, H, W, C]``."""
    if alpha is not None:
        colour = torch.cat([colour, alpha], dim=1)
    return colour.movedim(1, -1).contiguous()


def mask_to_core(mask: torch.Tensor, batch: int) -> torch.Tensor:
    """MASK ``[B, H, W]`` or ``[H, W]`` to ``[batch, 1, H, W]`` (a single mask serves every image)."""
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    mask = mask.float().clamp(0.0, 1.0).unsqueeze(1)
    if mask.shape[0] == 1 and batch > 1:
        mask = mask.expand(batch, -1, -1, -1)
    return mask.contiguous()


def core_to_mask(mask: torch.Tensor) -> torch.Tensor:
    return mask[:, 0].contiguous()
