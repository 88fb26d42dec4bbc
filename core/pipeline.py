"""From a decoded picture to an upscaled one: channels, alpha, passes and the final size."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .engine.upscaler import CancelCheck, Progress, Upscaler
from .errors import UprezError
from .imageio import Picture, from_tensor, resize, to_tensor

ALPHA_MODES = ("resize", "model")
# ITU-R BT.601 luma, as OpenCV's BGR2GRAY (what Real-ESRGAN uses for gray output).
LUMA = (0.299, 0.587, 0.114)
MAX_SCALE = 16.0


@dataclass(frozen=True)
class Stage:
    """What the pipeline is doing, for progress displays: pass k of n, and the tile counter."""

    name: str
    tiles: Progress


StageCallback = Callable[[Stage], None]


def output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(1, round(height * scale)), max(1, round(width * scale))


def upscale_picture(
    picture: Picture,
    upscaler: Upscaler,
    *,
    scale: float | None = None,
    alpha: str = "resize",
    progress: StageCallback | None = None,
    cancel: CancelCheck | None = None,
) -> Picture:
    """Upscales ``picture`` by ``scale`` (the model's own when None), keeping depth and alpha.

    See ``upscale_batch`` for what happens to colour, gray, alpha and scales.
    """
    scale = float(upscaler.scale if scale is None else scale)
    if not 0 < scale <= MAX_SCALE:
        raise UprezError(f"scale must be above 0 and at most {MAX_SCALE:g}, not {scale:g}")
    _check_alpha_mode(alpha)
    image = to_tensor(picture.pixels).unsqueeze(0)
    colour, alpha_plane = (image[:, :-1], image[:, -1:]) if picture.has_alpha else (image, None)
    target = output_size(picture.height, picture.width, scale)
    if _engine_rounds_it(picture, upscaler, scale):
        samples = upscaler.upscale(
            colour[0],
            out_dtype=torch.uint8,
            progress=_stage_reporter(progress, "colour"),
            cancel=cancel,
        )
        return picture.with_pixels(np.ascontiguousarray(samples.permute(1, 2, 0).numpy()))
    colour, alpha_plane = upscale_batch(
        colour, upscaler, target=target, alpha=alpha_plane, alpha_mode=alpha, progress=progress, cancel=cancel
    )
    if alpha_plane is not None:
        colour = torch.cat([colour, alpha_plane], dim=1)
    return picture.with_pixels(from_tensor(colour[0], picture.pixels.dtype, upscaler.net.output_rounding))


def _check_alpha_mode(mode: str) -> None:
    if mode not in ALPHA_MODES:
        raise UprezError(f"unknown alpha mode '{mode}'", hint="use resize or model")


def _engine_rounds_it(picture: Picture, upscaler: Upscaler, scale: float) -> bool:
    """An 8-bit picture without alpha, one pass at the model's own scale into a model of its
    channels: the engine rounds to 8 bits where it runs (on CUDA, on the device) and no float
    copy of the output is made. The same numbers: both round the same float32 samples. For a
    2560x1920 output the float path's host-side rounding took 0.14-0.34 s on 2 cores."""
    return (
        picture.pixels.dtype == np.uint8
        and not picture.has_alpha
        and scale == upscaler.scale
        and picture.channels == upscaler.net.in_channels == upscaler.net.out_channels
    )


def upscale_batch(
    colour: torch.Tensor,
    upscaler: Upscaler,
    *,
    target: tuple[int, int],
    alpha: torch.Tensor | None = None,
    alpha_mode: str = "resize",
    progress: StageCallback | None = None,
    cancel: CancelCheck | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Upscales ``(N, C, H, W)`` colour (and ``(N, 1, H, W)`` alpha) to ``target`` = (h, w).

    Colour goes through the model; gray goes through it as RGB (or directly, for one-channel
    models) and comes back as luma. Alpha is resized with Lanczos (``alpha_mode="resize"``, as
    realesrgan-ncnn-vulkan does with bicubic) or run through the model as gray (``"model"``,
    as Real-ESRGAN does). A target above the model's scale runs the model again on an
    intermediate image sized so that the last pass lands on it; one below is reached with an
    antialiased Lanczos downscale of the model's output. Float in [0, 1] in and out, CPU.
    """
    _check_alpha_mode(alpha_mode)
    height, width = colour.shape[-2:]
    scale = max(target[0] / height, target[1] / width)
    if not 0 < scale <= MAX_SCALE + 1e-9:
        raise UprezError(f"scale must be above 0 and at most {MAX_SCALE:g}, not {scale:g}")
    runner = _Runner(upscaler, scale, target, progress, cancel)
    result = _from_model_channels(runner.run(_to_model_channels(colour, upscaler), "colour"), colour.shape[1])
    if alpha is None:
        return result, None
    return result, torch.stack([_upscale_alpha(plane, runner, alpha_mode) for plane in alpha])


class _Runner:
    """Runs the model pass by pass and resizes to the target."""

    def __init__(
        self,
        upscaler: Upscaler,
        scale: float,
        target: tuple[int, int],
        progress: StageCallback | None,
        cancel: CancelCheck | None,
    ) -> None:
        self.upscaler, self.target, self.progress, self.cancel = upscaler, target, progress, cancel
        native = upscaler.scale
        self.passes = 1 if native == 1 else max(1, math.ceil(math.log(scale) / math.log(native) - 1e-9))

    def run(self, image: torch.Tensor, name: str) -> torch.Tensor:
        """``(N, C, H, W)`` in, ``(N, C, *target)`` out."""
        native = self.upscaler.scale
        for index in range(self.passes):
            if index:
                remaining = native ** (self.passes - index)
                size = (max(1, round(self.target[0] / remaining)), max(1, round(self.target[1] / remaining)))
                image = torch.stack([resize(plane, *size) for plane in image])
            stage = f"{name}, pass {index + 1} of {self.passes}" if self.passes > 1 else name
            image = self.upscaler.upscale(image, progress=_stage_reporter(self.progress, stage), cancel=self.cancel)
        if tuple(image.shape[-2:]) == self.target:
            return image
        return torch.stack([resize(plane, *self.target) for plane in image])


def _stage_reporter(progress: StageCallback | None, name: str) -> Callable[[Progress], None] | None:
    """The engine's tile counter as ``Stage`` events named ``name``."""
    if progress is None:
        return None
    return lambda tiles: progress(Stage(name, tiles))


def _to_model_channels(batch: torch.Tensor, upscaler: Upscaler) -> torch.Tensor:
    """``(N, C, H, W)`` to the batch the model takes."""
    wanted, have = upscaler.net.in_channels, batch.shape[1]
    if wanted == have:
        return batch
    if wanted == 3 and have == 1:
        return batch.expand(-1, 3, -1, -1)
    if wanted == 1:
        return batch.reshape(-1, 1, *batch.shape[-2:])  # each plane on its own through a one-channel model
    raise UprezError(f"the model takes {wanted} channels and cannot process a {have}-channel image")


def _from_model_channels(batch: torch.Tensor, channels: int) -> torch.Tensor:
    """The model's output back to ``(N, channels, H, W)``."""
    if batch.shape[1] == channels:
        return batch
    if batch.shape[1] == 1:
        return batch.reshape(-1, channels, *batch.shape[-2:])
    if channels == 1 and batch.shape[1] == 3:
        weights = torch.tensor(LUMA, dtype=batch.dtype).view(1, 3, 1, 1)
        return (batch * weights).sum(1, keepdim=True)
    raise UprezError(f"the model returned {batch.shape[1]} channels for a {channels}-channel image")


def _upscale_alpha(alpha: torch.Tensor, runner: _Runner, mode: str) -> torch.Tensor:
    """One ``(1, H, W)`` alpha plane to ``(1, *target)``."""
    first = float(alpha.flatten()[0])
    if bool((alpha == first).all()):
        return torch.full((1, *runner.target), first)  # uniform: nothing to upscale
    if mode == "resize":
        return resize(alpha, *runner.target)
    return _from_model_channels(runner.run(_to_model_channels(alpha.unsqueeze(0), runner.upscaler), "alpha"), 1)[0]
