"""Upscale Image (uprez): an IMAGE batch through a model, at any scale, with its mask."""

from __future__ import annotations

import torch

from ..core.errors import UprezError
from ..core.pipeline import MAX_SCALE, output_size
from ._run import NODE_BORDER, PRECISIONS, as_model, run

MODEL_TYPES = "UPREZ_MODEL,UPSCALE_MODEL"
TILE_TOOLTIP = "Largest tile side in input pixels; 0 sizes tiles from free memory."
PRECISION_TOOLTIP = (
    "auto: fp16 on CUDA where the model is known safe (tiles that overflow are redone in fp32), fp32 elsewhere. "
    "bf16 on a CPU with AMX is about 4x faster than fp32 (0.1-0.5 levels apart on average); fp32 on other CPUs."
)
MASK_TOOLTIP = "Treated as transparency and returned upscaled with the image."
BORDER_TOOLTIP = (
    "Pixels mirrored around the image before the network sees it: 0 as ComfyUI's own node and Real-ESRGAN's "
    "Python tool; 10 as realesrgan-ncnn-vulkan (its edges exactly, about 16% slower on a 256-px image)."
)


COMPILE_TOOLTIP = (
    "CUDA only: torch.compile the blocks uprez's own CUDA kernels do not cover (RRDBNet in bf16); in fp16 "
    "and fp32 the kernels run instead, faster. The first run pays some seconds."
)


def optional_inputs() -> dict:
    return {
        "mask": ("MASK", {"tooltip": MASK_TOOLTIP}),
        "border": ("INT", {"default": NODE_BORDER, "min": 0, "max": 64, "tooltip": BORDER_TOOLTIP}),
        "compile": ("BOOLEAN", {"default": False, "tooltip": COMPILE_TOOLTIP}),
    }


def model_input() -> dict:
    return {"model": (MODEL_TYPES, {"tooltip": "From Load Upscale Model (uprez) or ComfyUI's Load Upscale Model."})}


def shared_inputs() -> dict:
    return {
        "tile": ("INT", {"default": 0, "min": 0, "max": 16384, "step": 8, "tooltip": TILE_TOOLTIP}),
        "precision": (PRECISIONS, {"default": "auto", "tooltip": PRECISION_TOOLTIP}),
    }


class UprezUpscale:
    DESCRIPTION = (
        "Upscales images with uprez's engine: tiles sized from free memory with enough context that seams "
        "stay invisible, fp16/bf16 on CUDA where safe, any scale (above the model's by running it again, below "
        "by an antialiased downscale), alpha and masks kept. Takes uprez's model or ComfyUI's own UPSCALE_MODEL."
    )
    DISPLAY_NAME = "Upscale Image (uprez)"
    CATEGORY = "uprez"
    FUNCTION = "upscale"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    OUTPUT_TOOLTIPS = ("The upscaled images.", "The mask at the new size (all zero when none was given).")

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802 - ComfyUI's name
        return {
            "required": {
                **model_input(),
                "image": ("IMAGE", {"tooltip": "The images to upscale (a batch is fine)."}),
                "scale": ("FLOAT", {"default": 0.0, "min": 0.0, "max": MAX_SCALE, "step": 0.05,
                                    "tooltip": "Output size over input size; 0 uses the model's own scale."}),
                **shared_inputs(),
            },
            "optional": optional_inputs(),
        }  # fmt: skip

    def upscale(
        self,
        model,  # noqa: ANN001 - UPREZ_MODEL or ComfyUI's UPSCALE_MODEL
        image: torch.Tensor,
        scale: float,
        tile: int,
        precision: str,
        mask: torch.Tensor | None = None,
        border: int = NODE_BORDER,
        compile: bool = False,  # noqa: A002 - the widget's name
    ) -> tuple[torch.Tensor, torch.Tensor]:
        factor = float(scale) or float(as_model(model).scale)
        if not 0 < factor <= MAX_SCALE:
            raise UprezError(f"scale must be above 0 and at most {MAX_SCALE:g}, not {factor:g}")
        size_of = lambda h, w: output_size(h, w, factor)  # noqa: E731
        return run(model, image, size_of, tile=tile, precision=precision, mask=mask, border=border, compile=compile)


NODE = UprezUpscale
