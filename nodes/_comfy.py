"""ComfyUI's services when ComfyUI is there, plain fallbacks when it is not (tests, scripts)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

LOG = logging.getLogger("uprez")
UPSCALE_FOLDER = "upscale_models"

try:  # ComfyUI puts these on sys.path; nothing here needs them to import
    import comfy.model_management as model_management
    import comfy.utils as comfy_utils
    import folder_paths
except ImportError:
    model_management = comfy_utils = folder_paths = None


def inside_comfyui() -> bool:
    return folder_paths is not None


def model_folders() -> list[Path]:
    """ComfyUI's ``models/upscale_models`` folders (extra_model_paths.yaml included)."""
    if folder_paths is not None:
        return [Path(p) for p in folder_paths.get_folder_paths(UPSCALE_FOLDER)]
    extra = os.environ.get("UPREZ_COMFY_MODEL_DIRS", "")
    return [Path(p) for p in extra.split(os.pathsep) if p]


def device() -> torch.device:
    if model_management is not None:
        return model_management.get_torch_device()
    from ..core.engine.device import pick_device

    return pick_device("auto")


def make_room(needed_bytes: int, target: torch.device) -> int | None:
    """Asks ComfyUI to unload other models until ``needed_bytes`` fit; returns free bytes (or None)."""
    if model_management is None:
        return None
    model_management.free_memory(needed_bytes, target)
    return int(model_management.get_free_memory(target))


def tidy_up() -> None:
    if model_management is not None:
        model_management.soft_empty_cache()


def interrupt_check() -> Callable[[], bool] | None:
    """Raises ComfyUI's own InterruptProcessingException when the user pressed Cancel."""
    if model_management is None:
        return None

    def check() -> bool:
        model_management.throw_exception_if_processing_interrupted()
        return False

    return check


class ProgressBar:
    """ComfyUI's progress bar (one step per tile), or nothing outside ComfyUI."""

    def __init__(self, total: int) -> None:
        self.bar = comfy_utils.ProgressBar(total) if comfy_utils is not None else None
        self.total = total

    def set(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update_absolute(done, total)
