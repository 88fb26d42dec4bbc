"""neural-enhance's generators (alexjc/neural-enhance, Theano/Lasagne): the v0.3 and v0.1 layouts.

v0.3 (``ne1x-photo-deblur``, ``ne1x-photo-repair``, ``ne2x-photo-default``, ``ne4x-photo-default``):
a 7x7 conv, D 4x4 stride-2 convs, B blocks of one 3x3 conv, U stages of a 3x3 conv to 4u
channels and a 2x pixel shuffle, and a linear 7x7 conv to RGB; every conv but the last is
followed by a per-channel PReLU. v0.1 (``ne4x-{small,medium,large}-0.1``): two 5x5 convs,
blocks of two 3x3 convs, stages of conv, shuffle, conv, and a 5x5 conv with tanh. Layer lists
and names follow ``shared/reference/seed-architectures.md`` section 1.

The original code builds a residual sum in every block but never wires it into the graph (the
next layer connects to the PReLU), so the published networks are plain chains, and so is this
port. neural-enhance's ``SubpixelReshuffleLayer`` orders channels as PyTorch's ``pixel_shuffle``
does. Its filters are flipped (a true convolution) by the weight reader, not here.

Input and output are shifted by 0.5, as in the original (``x - 0.5`` in, ``+ 0.5`` out). With
D > 0 the image must be a multiple of 2**D: the original crops it, uprez mirror-pads it (the
engine folds the image by 2**D, see ``unshuffle``) and uses its own tiling where the original
ran 80-px tiles with 24 px of reflected overlap.
"""

from __future__ import annotations

import math
from itertools import chain, islice, repeat

import torch
from torch import nn
from torch.nn import functional as F

from ._base import Architecture, Example, SRNet, StateDict, has_all, indices, load_strict

VERSIONS = ("0.3", "0.1")
# neural-enhance feeds x - 0.5 and adds 0.5 to the output.
INPUT_SHIFT = 0.5
# Tile context cap in core pixels; the published networks need 12-14 (their receptive radius).
MAX_TILE_CONTEXT = 48
# Feature maps alive per conv: its input, its output and the PReLU's output.
MAPS_PER_CONV = 3


class ConvPReLU(nn.Module):
    """Lasagne's ``make_layer``: a conv (``{name}x``) and a per-channel PReLU (``{name}>``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, *, stride: int = 1, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class NeuralEnhance(SRNet):
    """A neural-enhance generator.

    Args:
        version: "0.3" or "0.1" (the layer layout).
        filters: channel widths, as the file's ``generator_filters``: the last one repeats.
            v0.3 takes (head, one per downscale, blocks, one per upscale); v0.1 takes
            (head and blocks, one per 2x stage). Stored expanded to one width per slot.
        num_blocks: blocks between the head (and downscales) and the upscale stages.
        num_downscale: 4x4 stride-2 convs after the head (v0.3 only).
        num_upscale: 2x pixel-shuffle stages; the scale is 2**(num_upscale - num_downscale).
    """

    # The original reflect-pads the whole image by its 24-px tile overlap (--rendering-overlap),
    # more than the networks' receptive radius: so its borders are exactly a 24-px mirror.
    original_prepad = 24

    def __init__(
        self,
        *,
        version: str = "0.3",
        filters: tuple[int, ...] = (128,),
        num_blocks: int = 8,
        num_downscale: int = 0,
        num_upscale: int = 1,
    ) -> None:
        super().__init__()
        if version not in VERSIONS:
            raise ValueError(f"neural-enhance: version must be one of {VERSIONS}, not {version!r}")
        if version == "0.1" and num_downscale:
            raise ValueError("neural-enhance: v0.1 has no downscale layers")
        if num_upscale < num_downscale:
            raise ValueError(f"neural-enhance: {num_downscale} downscales exceed {num_upscale} upscales")
        self.version = version
        self.unshuffle = 2**num_downscale
        self.scale = 2 ** (num_upscale - num_downscale)
        if version == "0.3":
            widths = _expand(filters, 2 + num_downscale + num_upscale)
            if num_blocks == 0:
                # No block reads its width, so no file can tell it: take the width before it.
                widths[1 + num_downscale] = widths[num_downscale]
            self._build_v03(widths, num_blocks, num_downscale)
        else:
            widths = _expand(filters, 1 + num_upscale)
            self._build_v01(widths, num_blocks)
        self.hyperparameters = dict(
            version=version,
            filters=tuple(widths),
            num_blocks=num_blocks,
            num_downscale=num_downscale,
            num_upscale=num_upscale,
        )

    def _build_v03(self, widths: list[int], num_blocks: int, num_downscale: int) -> None:
        head, down = widths[0], widths[1 : 1 + num_downscale]
        block, up = widths[1 + num_downscale], widths[2 + num_downscale :]
        self.stem = nn.Sequential(ConvPReLU(3, head, 7, padding=3))
        channels = [head, *down]
        pairs = zip(channels[:-1], down, strict=True)
        self.down = nn.Sequential(*(ConvPReLU(a, b, 4, stride=2, padding=1) for a, b in pairs))
        blocks, c = [], channels[-1]
        for _ in range(num_blocks):
            blocks.append(nn.Sequential(ConvPReLU(c, block, 3)))
            c = block
        self.blocks = nn.Sequential(*blocks)
        stages = []
        for u in up:
            stages.append(nn.Sequential(ConvPReLU(c, 4 * u, 3), nn.PixelShuffle(2)))
            c = u
        self.up = nn.Sequential(*stages)
        self.conv_out = nn.Conv2d(c, 3, 7, 1, 3)

    def _build_v01(self, widths: list[int], num_blocks: int) -> None:
        units, up = widths[0], widths[1:]
        self.stem = nn.Sequential(ConvPReLU(3, units, 5, padding=2), ConvPReLU(units, units, 5, padding=2))
        self.down = nn.Sequential()
        self.blocks = nn.Sequential(
            *(nn.Sequential(ConvPReLU(units, units, 3), ConvPReLU(units, units, 3)) for _ in range(num_blocks))
        )
        stages, c = [], units
        for u in up:
            stages.append(nn.Sequential(ConvPReLU(c, 4 * u, 3), nn.PixelShuffle(2), ConvPReLU(u, u, 3)))
            c = u
        self.up = nn.Sequential(*stages)
        self.conv_out = nn.Conv2d(c, 3, 5, 1, 2)

    def forward_core(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_shuffle(x, self.unshuffle)  # the engine hands over folded tiles
        y = self.conv_out(self.up(self.blocks(self.down(self.stem(x - INPUT_SHIFT)))))
        if self.version == "0.1":
            y = torch.tanh(y)
        return y.add_(INPUT_SHIFT)

    def tile_context(self) -> int:
        # With the whole receptive radius as context, tiles are exact (zero padding inside).
        return min(MAX_TILE_CONTEXT, math.ceil(self._receptive_radius() / self.unshuffle))

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        jump, peak = 1.0, 0.0  # jump: image pixels per feature pixel
        for module in self._layers():
            if isinstance(module, nn.Conv2d):
                values_in = module.in_channels / jump**2
                jump *= module.stride[0]
                peak = max(peak, values_in + (MAPS_PER_CONV - 1) * module.out_channels / jump**2)
            else:
                jump /= module.upscale_factor
        return math.ceil(peak * self.unshuffle**2 * element_size), 0

    def _receptive_radius(self) -> int:
        """Image pixels an output pixel's value reaches out on each side, walked back from the
        output: a conv widens the reach by its kernel's overhang (then the stride scales it), a
        pixel shuffle rounds it up to whole pixels of the coarser map."""
        reach = 0
        for module in reversed(self._layers()):
            if isinstance(module, nn.Conv2d):
                (k, _), (s, _), (p, _) = module.kernel_size, module.stride, module.padding
                reach = reach * s + max(p, k - p - s)
            else:
                reach = math.ceil(reach / module.upscale_factor)
        return reach

    def _layers(self) -> list[nn.Module]:
        """Convs and shuffles in the order they run (``modules()`` keeps it: the net is a chain)."""
        return [m for m in self.modules() if isinstance(m, nn.Conv2d | nn.PixelShuffle)]


def _expand(filters: tuple[int, ...] | list[int], count: int) -> list[int]:
    """neural-enhance's ``extend``: the widths in order, then the last one repeated."""
    if not filters:
        raise ValueError("neural-enhance: filters must name at least one width")
    return list(islice(chain(filters, repeat(filters[-1])), count))


# --- key schemes ----------------------------------------------------------------------------
# "canonical" is this module's names; "lasagne" is the layer names neural-enhance pickles, as
# the Lasagne reader turns them into keys: "{layer}.weight" and "{layer}.bias".

NAMINGS = ("canonical", "lasagne")


def _units(version: str, num_downscale: int, num_blocks: int, num_upscale: int) -> dict[str, str]:
    """Canonical ConvPReLU name -> the Lasagne layer name before its ``x`` / ``>`` suffix."""
    if version == "0.3":
        names = {"stem.0": "iter.0"}
        names |= {f"down.{i}": f"downscale{i}" for i in range(num_downscale)}
        names |= {f"blocks.{i}.0": f"iter.{i + 1}-A" for i in range(num_blocks)}
        names |= {f"up.{i}.0": f"upscale{i}.2" for i in range(num_upscale)}
        return names
    names = {"stem.0": "iter.0-A", "stem.1": "iter.0-B"}
    for i in range(num_blocks):
        names |= {f"blocks.{i}.0": f"iter.{i + 1}-A", f"blocks.{i}.1": f"iter.{i + 1}-B"}
    for i in range(num_upscale):
        names |= {f"up.{i}.0": f"scale{i}.3", f"up.{i}.2": f"scale{i}.1"}
    return names


def _key_map(version: str, num_downscale: int, num_blocks: int, num_upscale: int) -> dict[str, str]:
    """Canonical key -> Lasagne key, for every parameter."""
    keys = {"conv_out.weight": "out.weight", "conv_out.bias": "out.bias"}
    for ours, theirs in _units(version, num_downscale, num_blocks, num_upscale).items():
        keys |= {f"{ours}.conv.weight": f"{theirs}x.weight", f"{ours}.conv.bias": f"{theirs}x.bias"}
        keys[f"{ours}.act.weight"] = f"{theirs}>.weight"
    return keys


def _count(state_dict: StateDict, pattern: str, start: int = 0) -> int:
    found = [i for i in indices(state_dict, pattern) if i >= start]
    return max(found) + 1 - start if found else 0


def _naming_of(state_dict: StateDict) -> tuple[str, str] | None:
    """(naming, version), or None when the keys are not neural-enhance's."""
    if has_all(state_dict, "stem.0.conv.weight", "stem.0.act.weight", "conv_out.weight", "conv_out.bias"):
        return "canonical", "0.1" if "stem.1.conv.weight" in state_dict else "0.3"
    if has_all(state_dict, "iter.0x.weight", "iter.0>.weight", "out.weight", "out.bias"):
        return "lasagne", "0.3"
    if has_all(state_dict, "iter.0-Ax.weight", "iter.0-B>.weight", "out.weight", "out.bias"):
        return "lasagne", "0.1"
    return None


def _depth(state_dict: StateDict, naming: str, version: str) -> tuple[int, int, int]:
    """(num_downscale, num_blocks, num_upscale) read from the keys of ``naming``."""
    if naming == "canonical":
        return (
            _count(state_dict, r"down\.(\d+)\.conv\.weight"),
            _count(state_dict, r"blocks\.(\d+)\.0\.conv\.weight"),
            _count(state_dict, r"up\.(\d+)\.0\.conv\.weight"),
        )
    blocks = _count(state_dict, r"iter\.(\d+)-Ax\.weight", start=1)
    if version == "0.3":
        return _count(state_dict, r"downscale(\d+)x\.weight"), blocks, _count(state_dict, r"upscale(\d+)\.2x\.weight")
    return 0, blocks, _count(state_dict, r"scale(\d+)\.3x\.weight")


def rename(state_dict: StateDict, naming: str) -> dict[str, torch.Tensor]:
    """Writes a canonical state dict in ``naming``'s keys."""
    if naming == "canonical":
        return dict(state_dict)
    if naming != "lasagne":
        raise ValueError(f"neural-enhance: unknown naming {naming!r}, expected one of {NAMINGS}")
    version = "0.1" if "stem.1.conv.weight" in state_dict else "0.3"
    keys = _key_map(version, *_depth(state_dict, "canonical", version))
    return {keys.get(key, key): value for key, value in state_dict.items()}


def canonical(state_dict: StateDict) -> dict[str, torch.Tensor]:
    found = _naming_of(state_dict)
    if found is None:
        raise ValueError("not a neural-enhance state dict")
    naming, version = found
    if naming == "canonical":
        return dict(state_dict)
    inverse = {theirs: ours for ours, theirs in _key_map(version, *_depth(state_dict, naming, version)).items()}
    return {inverse.get(key, key): value for key, value in state_dict.items()}


def detect(state_dict: StateDict) -> bool:
    return _naming_of(state_dict) is not None


def load(state_dict: StateDict) -> NeuralEnhance:
    sd = canonical(state_dict)
    version = "0.1" if "stem.1.conv.weight" in sd else "0.3"
    num_downscale, num_blocks, num_upscale = _depth(sd, "canonical", version)
    widths = [sd["stem.0.conv.weight"].shape[0]]
    if version == "0.3":
        widths += [sd[f"down.{i}.conv.weight"].shape[0] for i in range(num_downscale)]
        widths.append(sd["blocks.0.0.conv.weight"].shape[0] if num_blocks else widths[-1])
    for i in range(num_upscale):
        stage = sd[f"up.{i}.0.conv.weight"].shape[0]
        if stage % 4:
            raise ValueError(f"neural-enhance: upscale stage {i} has {stage} channels, not a multiple of 4")
        widths.append(stage // 4)
    net = NeuralEnhance(
        version=version,
        filters=tuple(widths),
        num_blocks=num_blocks,
        num_downscale=num_downscale,
        num_upscale=num_upscale,
    )
    return load_strict(net, sd, "neural-enhance")


ARCH = Architecture(
    id="neural_enhance",
    name="neural-enhance (Lasagne)",
    module=NeuralEnhance,
    detect=detect,
    load=load,
    rename=rename,
    fp16_safe=False,  # not checked against the published weights' activation ranges
    bf16_safe=True,
    examples=(
        Example("v03-x2", dict(filters=(8,), num_blocks=2)),
        Example("v03-x2-lasagne", dict(filters=(8, 6, 5), num_blocks=3), naming="lasagne"),
        Example("v03-x4-lasagne", dict(filters=(8, 6, 5, 4), num_blocks=2, num_upscale=2), naming="lasagne"),
        Example("v03-x1-repair", dict(filters=(6, 8, 10, 8, 6, 4), num_blocks=2, num_downscale=2, num_upscale=2)),
        Example("v03-x1-repair-lasagne", dict(filters=(6, 8), num_blocks=1, num_downscale=2, num_upscale=2), "lasagne"),
        Example("v03-x2-down1-no-blocks", dict(filters=(6, 8, 7, 5), num_blocks=0, num_downscale=1, num_upscale=2)),
        Example("v01-x4", dict(version="0.1", filters=(8, 6, 4), num_blocks=1, num_upscale=2)),
        Example("v01-x4-lasagne", dict(version="0.1", filters=(8,), num_blocks=2, num_upscale=2), naming="lasagne"),
    ),
)
