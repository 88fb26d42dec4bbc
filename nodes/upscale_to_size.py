"""Upscale Image to Size (uprez): to given dimensions or to a megapixel count."""

from __future__ import annotations

import math

import torch

from ..core.errors import UprezError
from ._run import NODE_BORDER, run
from .upscale import model_input, optional_inputs, shared_inputs

MODES = ["dimensions", "megapixels"]
MAX_SIDE = 32768


def target_size(height: int, width: int, mode: str, target_width: int, target_height: int, megapixels: float
                ) -> tuple[int, int]:  # fmt: skip
    """(height, width) to produce; one dimension of 0 keeps the aspect ratio."""
    if mode == "megapixels":
        if megapixels <= 0:
            raise UprezError("megapixels must be above 0")
        factor = math.sqrt(megapixels * 1e6 / (height * width))
        return max(1, round(height * factor)), max(1, round(width * factor))
    if target_width <= 0 and target_height <= 0:
        raise UprezError("give a width, a height, or both")
    if target_width <= 0:
        target_width = round(width * target_height / height)
    if target_height <= 0:
        target_height = round(height * target_width / width)
    return max(1, target_height), max(1, target_width)


class UprezUpscaleToSize:
    DESCRIPTION = (
        "Upscales images to exact dimensions (0 for one side keeps the aspect ratio) or to a megapixel count, "
        "with the same engine as Upscale Image (uprez): the model runs as many times as needed, then an "
        "antialiased resize lands on the size."
    )
    DISPLAY_NAME = "Upscale Image to Size (uprez)"
    CATEGORY = "uprez"
    FUNCTION = "upscale"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    OUTPUT_TOOLTIPS = ("The images at the requested size.", "The mask at the same size (zero when none was given).")

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802 - ComfyUI's name
        side = {"default": 0, "min": 0, "max": MAX_SIDE, "step": 8}
        return {
            "required": {
                **model_input(),
                "image": ("IMAGE", {"tooltip": "The images to upscale."}),
                "mode": (MODES, {"default": "dimensions", "tooltip": "Exact dimensions, or a pixel count."}),
                "width": ("INT", {**side, "tooltip": "Output width; 0 follows the height."}),
                "height": ("INT", {**side, "tooltip": "Output height; 0 follows the width."}),
                "megapixels": ("FLOAT", {"default": 4.0, "min": 0.01, "max": 256.0, "step": 0.1,
                                         "tooltip": "Output pixel count in millions (megapixels mode)."}),
                **shared_inputs(),
            },
            "optional": optional_inputs(),
        }  # fmt: skip

    def upscale(  # noqa: PLR0913 - ComfyUI passes every input by name
        self,
        model,  # noqa: ANN001 - UPREZ_MODEL or ComfyUI's UPSCALE_MODEL
        image: torch.Tensor,
        mode: str,
        width: int,
        height: int,
        megapixels: float,
        tile: int,
        precision: str,
        mask: torch.Tensor | None = None,
        border: int = NODE_BORDER,
        compile: bool = False,  # noqa: A002 - the widget's name
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if mode not in MODES:
            raise UprezError(f"unknown mode '{mode}': use dimensions or megapixels")

        def size_of(h: int, w: int) -> tuple[int, int]:
            return target_size(h, w, mode, width, height, megapixels)

        return run(model, image, size_of, tile=tile, precision=precision, mask=mask, border=border, compile=compile)


NODE = UprezUpscaleToSize
