"""Running a model on a ComfyUI IMAGE batch: device, precision, memory, progress, interrupt."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..core.engine.precision import cpu_runs_natively
from ..core.engine.upscaler import Progress, Upscaler
from ..core.imageio import resize
from ..core.model import LoadedModel
from ..core.pipeline import Stage, upscale_batch
from . import _comfy
from ._convert import core_to_image, core_to_mask, image_to_core, mask_to_core
from ._upscale_model import from_upscale_model

PRECISIONS = ["auto", "fp32", "fp16", "bf16"]
GPU_BUDGET_SHARE = 0.75
# On a GPU, ask ComfyUI to unload other models until the network and a tile of this many
# pixels fit; tiles then grow into whatever is free.
WANTED_TILE_PIXELS = 1024 * 1024


def as_model(model) -> LoadedModel:  # noqa: ANN001 - UPREZ_MODEL or ComfyUI's UPSCALE_MODEL
    return model if isinstance(model, LoadedModel) else from_upscale_model(model)


# Pixels mirrored around the image: none by default, as ComfyUI's own node and Real-ESRGAN's
# Python tool run (realesrgan-ncnn-vulkan mirrors 10; the widget offers it).
NODE_BORDER = 0


def upscaler_for(
    model: LoadedModel,
    tile: int,
    precision: str,
    border: int = NODE_BORDER,
    compile: bool = False,  # noqa: A002
) -> Upscaler:
    """One Upscaler per (device, precision, tile, border, compile) and model, kept on the model between runs."""
    device = _comfy.device()
    if device.type == "cpu" and precision in PRECISIONS and not cpu_runs_natively(precision):
        # A workflow moves between machines: it still runs, in fp32, where the CPU lacks the half type.
        _comfy.LOG.warning("uprez: %s is not native on this CPU; running in fp32", precision)
        precision = "fp32"
    key = (str(device), precision, tile, border, compile)
    cache = model.__dict__.setdefault("_uprez_upscalers", {})
    if key not in cache:
        cache[key] = Upscaler(
            model, device=str(device), precision=precision, tile=tile or None, prepad=border, compile=compile
        )
    upscaler = cache[key]
    if device.type != "cpu":
        weights = sum(p.numel() * p.element_size() for p in upscaler.net.parameters())
        element = next(upscaler.net.parameters()).element_size()
        head, tail = upscaler.net.bytes_per_pixel(element)
        needed = weights + (head + tail // 16) * WANTED_TILE_PIXELS
        free = _comfy.make_room(needed, device)  # ComfyUI unloads other models if it must
        upscaler.memory_budget = int(free * GPU_BUDGET_SHARE) if free else None
    return upscaler


def run(
    model,  # noqa: ANN001
    image: torch.Tensor,
    size_of: Callable[[int, int], tuple[int, int]],
    *,
    tile: int,
    precision: str,
    mask: torch.Tensor | None = None,
    border: int = NODE_BORDER,
    compile: bool = False,  # noqa: A002 - torch's word, as the widget says
) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE (and MASK) in, upscaled IMAGE and MASK out; ``size_of(h, w)`` gives the target."""
    upscaler = upscaler_for(as_model(model), tile, precision, border, compile)
    colour, alpha = image_to_core(image)
    height, width = colour.shape[-2:]
    target = size_of(height, width)
    bar = _comfy.ProgressBar(1)

    def on_progress(stage: Stage) -> None:
        tiles: Progress = stage.tiles
        bar.set(tiles.done, tiles.total)

    try:
        colour, alpha = upscale_batch(
            colour, upscaler, target=target, alpha=alpha, progress=on_progress, cancel=_comfy.interrupt_check()
        )
    finally:
        # A graph holds its tile's memory: between prompts it belongs to the workflow's models.
        upscaler.release_graphs()
        _comfy.tidy_up()
    planes = colour.shape[0]
    if mask is None:
        out_mask = torch.zeros((planes, 1, *target))
    else:
        planes_in = mask_to_core(mask, planes)
        out_mask = torch.stack([resize(plane, *target) for plane in planes_in])
    return core_to_image(colour, alpha), core_to_mask(out_mask)
