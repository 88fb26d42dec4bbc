"""What every architecture file provides, and the module base class the engine talks to."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

StateDict = Mapping[str, torch.Tensor]


class SRNet(nn.Module):
    """Base of every super-resolution network, as the engine sees it.

    Contract: ``forward(x)`` takes ``(N, in_channels, H, W)`` float in [0, 1] (RGB order, or one
    channel) and returns ``(N, out_channels, H * scale, W * scale)`` in about the same range
    (not clamped). A network that first folds its input with ``pixel_unshuffle(unshuffle)``
    runs the rest as ``forward_core``; the engine calls that on pre-folded tiles.

    A network whose cost is in a deep low-resolution ``forward_head`` and whose memory is in a
    shallow high-resolution ``forward_tail`` sets ``tail_context`` (the tail's receptive radius
    in core pixels); the engine then tiles the tail on its own, exactly.
    """

    scale: int = 1
    in_channels: int = 3
    out_channels: int = 3
    unshuffle: int = 1
    tail_context: int | None = None
    # Largest tile side (core pixels) worth using on a CPU, where big feature maps fall out of
    # cache or are page-faulted in afresh; None when context is too costly for small tiles.
    preferred_cpu_tile: int | None = None
    # The same where the process reuses freed blocks of every size (core/engine/heap.py); None
    # for a network that gains nothing from that (maps of many sizes fragment the heap).
    cpu_tile_reusing_large_blocks: int | None = None
    # How the original tool turned floats into 8/16-bit levels (see core/quantize.py).
    output_rounding: str = "half_up"
    # Pixels the original tool mirrored around the whole image (0: it ran the image as it is,
    # with the convs' zero padding at the border); the engine's default. 10 is
    # realesrgan-ncnn-vulkan's prepadding.
    original_prepad: int = 10

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = nn.functional.pixel_unshuffle(x, self.unshuffle)
        return self.forward_core(x)

    def forward_core(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_tail(self.forward_head(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_tail(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def tile_context(self) -> int:
        """Core pixels of real context a tile needs so that seams stay invisible."""
        raise NotImplementedError

    def fp32_layers(self) -> tuple[str, ...]:
        """Modules a bf16 run keeps in fp32: those whose rounding would reach the output as it is."""
        return ()

    def fuse(self, compiler: Callable[[Callable], Callable]) -> None:
        """Runs the network's hot blocks through ``compiler(function)`` (torch.compile on CUDA,
        core/engine/compiler.py); an architecture that has none written as functions of
        tensors keeps running eagerly."""

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        """Working memory per core pixel of (head, tail), or (whole network, 0) when unsplit."""
        raise NotImplementedError


@dataclass(frozen=True)
class Example:
    """A tiny configuration that the registry tests build, save, detect and reload.

    ``naming`` picks the key scheme its state dict is written in (an architecture may accept
    several, e.g. ESRGAN's old and new key names).
    """

    name: str
    config: Mapping[str, Any]
    naming: str = "canonical"


@dataclass(frozen=True)
class Architecture:
    """One architecture family: its module, its detector and its loader.

    Detection is documented as "no false negatives" for the files of its family and is
    checked to be exclusive by the cross-detection test over every example.
    """

    id: str
    name: str
    module: type[SRNet]
    detect: Callable[[StateDict], bool]
    load: Callable[[StateDict], SRNet]
    examples: tuple[Example, ...]
    # Writes a canonical state dict in another of the family's key schemes (tests, exports).
    rename: Callable[[StateDict, str], dict[str, torch.Tensor]] = lambda sd, naming: dict(sd)
    fp16_safe: bool = False
    bf16_safe: bool = False
    # Ids of architectures whose detector must run before this one's (known key overlaps).
    after: tuple[str, ...] = field(default=())


def has_all(state_dict: StateDict, *keys: str) -> bool:
    return all(key in state_dict for key in keys)


def indices(state_dict: StateDict, pattern: str) -> list[int]:
    """Sorted distinct integers captured by the single group of ``pattern`` over all keys."""
    regex = re.compile(pattern)
    found = {int(m.group(1)) for key in state_dict if (m := regex.fullmatch(key))}
    return sorted(found)


def renamed_layers(state_dict: StateDict, layer_name: Callable[[str], str]) -> dict[str, torch.Tensor]:
    """``state_dict`` with every key's layer part (all but the last name) passed through ``layer_name``."""
    renamed = {}
    for key, value in state_dict.items():
        layer, _, leaf = key.rpartition(".")
        renamed[f"{layer_name(layer)}.{leaf}"] = value
    return renamed


def load_strict(module: SRNet, state_dict: StateDict, arch_name: str) -> SRNet:
    """Loads ``state_dict`` into ``module`` and says which keys did not fit, in one line."""
    missing, unexpected = _key_mismatch(module.state_dict().keys(), state_dict.keys())
    if missing or unexpected:
        raise ValueError(f"keys do not fit {arch_name}: missing {_few(missing)}, unexpected {_few(unexpected)}")
    for key, target in module.state_dict().items():
        if tuple(state_dict[key].shape) != tuple(target.shape):
            raise ValueError(
                f"{arch_name}: {key} has shape {tuple(state_dict[key].shape)}, expected {tuple(target.shape)}"
            )
    module.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    return module.eval().requires_grad_(False)


def _key_mismatch(expected: Iterable[str], given: Iterable[str]) -> tuple[list[str], list[str]]:
    expected_set, given_set = set(expected), set(given)
    return sorted(expected_set - given_set), sorted(given_set - expected_set)


def _few(keys: list[str], limit: int = 3) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def made_from_weights(owner: nn.Module, name: str, tensors: Iterable[torch.Tensor], make: Callable[[], Any]) -> Any:
    """``make()``, kept in ``owner``'s ``name`` (not a buffer: not saved, not moved) until one
    of ``tensors`` is replaced or changed in place (its memory, dtype or version count)."""
    key = tuple((t.data_ptr(), t.dtype, _version_of(t)) for t in tensors)
    cached = owner.__dict__.get(name)
    if cached is None or cached[0] != key:
        cached = owner.__dict__[name] = (key, make())
    return cached[1]


def _version_of(tensor: torch.Tensor) -> int | None:
    try:
        return tensor._version
    except RuntimeError:  # made under inference_mode (ComfyUI loads models so): no version count
        return None
