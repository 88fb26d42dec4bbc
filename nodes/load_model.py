"""Load Upscale Model (uprez): any file uprez reads, or a known model by id."""

from __future__ import annotations

from ..core.model import LoadedModel
from ._models import load_named, model_names


class UprezLoadModel:
    DESCRIPTION = (
        "Loads an upscaling model for uprez's nodes: a file from models/upscale_models (.pth, .pt, .ckpt, "
        ".safetensors, ncnn .param/.bin; RRDBNet/ESRGAN/Real-ESRGAN and SRVGGNetCompact), or a known "
        "model by id ('uprez: realesrgan-x4plus'), taken from uprez's cache or downloaded with a checked sha256."
    )
    DISPLAY_NAME = "Load Upscale Model (uprez)"
    CATEGORY = "uprez"
    FUNCTION = "load"
    RETURN_TYPES = ("UPREZ_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model, for Upscale Image (uprez) and Upscale Image to Size (uprez).",)

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802 - ComfyUI's name
        return {"required": {"model_name": (model_names(), {"tooltip": "A model file or a known uprez model."})}}

    def load(self, model_name: str) -> tuple[LoadedModel]:
        return (load_named(model_name),)


NODE = UprezLoadModel
