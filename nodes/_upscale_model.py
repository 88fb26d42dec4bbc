"""ComfyUI's own UPSCALE_MODEL (a spandrel descriptor) as a model the uprez engine can run.

Architectures uprez knows are rebuilt from the descriptor's weights (no file is read again),
so they get uprez's tiling, half precision and memory handling; any other architecture that
spandrel loaded is run as it is, inside uprez's tiles.
"""

from __future__ import annotations

import weakref

import torch

from ..core.archs import Architecture, SRNet, detect
from ..core.model import LoadedModel

# Guesses for architectures uprez does not know: context enough for most SR receptive fields
# in a tile, and working memory for about 1024 channels at input size plus 64 at output size.
FOREIGN_CONTEXT = 32
FOREIGN_CHANNELS_IN, FOREIGN_CHANNELS_OUT = 1024, 64
_ADAPTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ForeignNet(SRNet):
    """A spandrel ImageModelDescriptor behind the SRNet interface."""

    def __init__(self, descriptor) -> None:  # noqa: ANN001 - spandrel's type, never imported here
        super().__init__()
        self.descriptor = descriptor
        self.model = descriptor.model  # registered, so .to(device, dtype) moves its weights
        self.scale = int(descriptor.scale)
        self.in_channels = int(getattr(descriptor, "input_channels", 3))
        self.out_channels = int(getattr(descriptor, "output_channels", 3))
        self.hyperparameters = {"architecture": str(getattr(descriptor.architecture, "name", "unknown"))}

    def forward_core(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)  # pads to the model's size rules and crops back

    def tile_context(self) -> int:
        return FOREIGN_CONTEXT

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        return (FOREIGN_CHANNELS_IN + FOREIGN_CHANNELS_OUT * self.scale**2) * element_size, 0


def from_upscale_model(descriptor) -> LoadedModel:  # noqa: ANN001
    """The LoadedModel for a ComfyUI UPSCALE_MODEL, built once per descriptor."""
    adapted = _ADAPTED.get(descriptor)
    if adapted is None:
        adapted = _adapt(descriptor)
        _ADAPTED[descriptor] = adapted
    return adapted


def _adapt(descriptor) -> LoadedModel:  # noqa: ANN001
    name = f"ComfyUI {getattr(descriptor.architecture, 'name', 'model')}"
    state_dict = {k: v.detach().float().cpu() for k, v in descriptor.model.state_dict().items()}
    arch = detect(state_dict)
    if arch is not None:
        try:
            return LoadedModel(arch.load(state_dict), arch, name, None, {})  # type: ignore[arg-type]
        except (ValueError, KeyError, RuntimeError):
            pass  # same keys, different layers: run spandrel's module instead
    foreign = Architecture(
        id="comfyui",
        name=name,
        module=ForeignNet,
        detect=lambda sd: False,
        load=lambda sd: ForeignNet(descriptor),
        examples=(),
        fp16_safe=bool(getattr(descriptor, "supports_half", False)),
        bf16_safe=bool(getattr(descriptor, "supports_bfloat16", False)),
    )
    net = ForeignNet(descriptor).eval()
    return LoadedModel(net, foreign, name, None, {})  # type: ignore[arg-type]
