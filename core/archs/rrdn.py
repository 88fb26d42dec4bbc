"""RRDN: idealo ISR's Residual in Residual Dense Network (the ``gans`` weights).

Layers and names follow ``shared/reference/seed-architectures.md`` section 3.3: ESRGAN's RRDB
design with ReLU, a 3x3 local fusion, and a tail of one conv into TF's ``depth_to_space``
(``PreShuffle``, reordered for ``pixel_shuffle`` on the way in) and a 3-channel conv (``SR``).
ISR names every layer explicitly, so its files load by name.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from ._base import Architecture, Example, SRNet, StateDict, has_all, indices, load_strict, renamed_layers
from ._isr_dense import DenseBlock
from ._keras import depth_to_space_order, pixel_shuffle_to_depth_to_space
from ._residual import add_scaled_

BETA = 0.2  # ISR's RRDN(beta=0.2): scales every local and block residual; not stored in files
TILE_CONTEXT_CAP = 48
# Tail receptive radius in core pixels: PreShuffle's 3x3 (1) and SR's 3x3, one output pixel,
# which reaches one core pixel over.
TAIL_CONTEXT = 2


class RRDB(nn.Module):
    def __init__(self, *, num_features: int, growth_channels: int, num_convs: int, num_dense: int) -> None:
        super().__init__()
        self.rdbs = nn.ModuleList(
            DenseBlock(num_features=num_features, growth_channels=growth_channels, num_convs=num_convs, fusion_kernel=3)
            for _ in range(num_dense)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for rdb in self.rdbs:  # ISR's LRL_{t}_{d}: x + beta * LFF(x)
            out = add_scaled_(rdb(out), BETA, out)
        return out.mul(BETA).add_(x)  # RRDB_{t}_out: input + beta * x


class RRDN(SRNet):
    """ISR's RRDN. ISR's letters: G0 = num_features, G = growth, C = convs, D = dense, T = blocks."""

    tail_context = TAIL_CONTEXT
    output_rounding = "truncate"  # ISR: np.uint8(clip(x, 0, 1) * 255)
    original_prepad = 0  # ISR ran the whole image, zero padding at the border

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 32,
        growth_channels: int = 32,
        num_convs: int = 4,
        num_dense: int = 3,
        num_blocks: int = 10,
        upscale: int = 4,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, upscale
        self.hyperparameters = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            num_features=num_features,
            growth_channels=growth_channels,
            num_convs=num_convs,
            num_dense=num_dense,
            num_blocks=num_blocks,
            upscale=upscale,
        )
        nf = num_features
        self.conv_pre = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.blocks = nn.Sequential(
            *(
                RRDB(num_features=nf, growth_channels=growth_channels, num_convs=num_convs, num_dense=num_dense)
                for _ in range(num_blocks)
            )
        )
        self.conv_post = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_shuffle = nn.Conv2d(nf, out_channels * upscale**2, 3, 1, 1)
        self.conv_last = nn.Conv2d(out_channels, out_channels, 3, 1, 1)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.conv_pre(x)
        return self.conv_post(self.blocks(pre)).add_(pre)

    def forward_tail(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv_last(F.pixel_shuffle(self.conv_shuffle(features), self.scale))

    def tile_context(self) -> int:
        # Receptive radius: the first conv, C + 1 3x3 convs per dense block, the post conv, the tail.
        hp = self.hyperparameters
        trunk = hp["num_blocks"] * hp["num_dense"] * (hp["num_convs"] + 1)
        return min(TILE_CONTEXT_CAP, 1 + trunk + 1 + TAIL_CONTEXT)

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        hp = self.hyperparameters
        nf, dense = hp["num_features"], hp["num_features"] + hp["num_convs"] * hp["growth_channels"]
        # Head: pre, the RRDB input, the dense block input, its buffer, the fusion output and a spare.
        head = (4 * nf + dense + nf) * element_size
        # Tail: PreShuffle's output, its shuffle and the output (each c * x^2 per core pixel), plus the input.
        tail = (3 * hp["out_channels"] * self.scale**2 + nf) * element_size
        return head, tail


# --- key schemes ----------------------------------------------------------------------------

NAMINGS = ("canonical", "isr")
_ISR_BLOCK = re.compile(r"F_(\d+)_(\d+)_(\d+)|LFF_(\d+)_(\d+)")
_ISR_FLAT = {"conv_pre": "Pre_blocks_conv", "conv_post": "post_blocks_conv", "conv_shuffle": "PreShuffle",
             "conv_last": "SR"}  # fmt: skip
_CANONICAL_FLAT = {isr: ours for ours, isr in _ISR_FLAT.items()}


def _to_isr(module: str) -> str:
    if module in _ISR_FLAT:
        return _ISR_FLAT[module]
    parts = module.split(".")  # blocks.{t}.rdbs.{d}.convs.{c} or blocks.{t}.rdbs.{d}.lff, from 0
    t, d = int(parts[1]) + 1, int(parts[3]) + 1
    return f"LFF_{t}_{d}" if parts[4] == "lff" else f"F_{t}_{d}_{int(parts[5]) + 1}"


def _to_canonical(layer: str) -> str:
    if layer in _CANONICAL_FLAT:
        return _CANONICAL_FLAT[layer]
    match = _ISR_BLOCK.fullmatch(layer)
    if match is None:
        return layer  # load_strict names it as unexpected
    if match.group(4):
        return f"blocks.{int(match.group(4)) - 1}.rdbs.{int(match.group(5)) - 1}.lff"
    t, d, c = (int(match.group(i)) - 1 for i in (1, 2, 3))
    return f"blocks.{t}.rdbs.{d}.convs.{c}"


def _naming_of(state_dict: StateDict) -> str | None:
    if has_all(state_dict, "conv_pre.weight", "blocks.0.rdbs.0.convs.0.weight", "blocks.0.rdbs.0.lff.weight",
               "conv_post.weight", "conv_shuffle.weight", "conv_last.weight"):  # fmt: skip
        return "canonical"
    if has_all(state_dict, "Pre_blocks_conv.weight", "F_1_1_1.weight", "LFF_1_1.weight", "post_blocks_conv.weight",
               "PreShuffle.weight", "SR.weight"):  # fmt: skip
        return "isr"
    return None


def _upscale(state_dict: StateDict) -> int:
    channels = state_dict["conv_last.weight"].shape[1]  # after the shuffle
    width = state_dict["conv_shuffle.weight"].shape[0]
    upscale = round((width / channels) ** 0.5)
    if channels * upscale**2 != width:
        raise ValueError(f"RRDN: PreShuffle width {width} is not {channels} times a square")
    return upscale


def rename(state_dict: StateDict, naming: str) -> dict[str, torch.Tensor]:
    """Writes a canonical state dict in ``naming`` ("isr": the h5 reader's view of ISR's file)."""
    if naming == "canonical":
        return dict(state_dict)
    sd = dict(state_dict)
    block = _upscale(sd)
    sd["conv_shuffle.weight"], sd["conv_shuffle.bias"] = pixel_shuffle_to_depth_to_space(
        sd["conv_shuffle.weight"], sd["conv_shuffle.bias"], block
    )
    return renamed_layers(sd, _to_isr)


def canonical(state_dict: StateDict) -> dict[str, torch.Tensor]:
    naming = _naming_of(state_dict)
    if naming is None:
        raise ValueError("not an RRDN state dict")
    if naming == "canonical":
        return dict(state_dict)
    sd = renamed_layers(state_dict, _to_canonical)
    # PreShuffle feeds TF's depth_to_space; reorder its outputs for pixel_shuffle.
    sd["conv_shuffle.weight"], sd["conv_shuffle.bias"] = depth_to_space_order(
        sd["conv_shuffle.weight"], sd["conv_shuffle.bias"], _upscale(sd)
    )
    return sd


def detect(state_dict: StateDict) -> bool:
    return _naming_of(state_dict) is not None


def load(state_dict: StateDict) -> RRDN:
    sd = canonical(state_dict)
    first = sd["conv_pre.weight"]
    net = RRDN(
        in_channels=first.shape[1],
        out_channels=sd["conv_last.weight"].shape[0],
        num_features=first.shape[0],
        growth_channels=sd["blocks.0.rdbs.0.convs.0.weight"].shape[0],
        num_convs=len(indices(sd, r"blocks\.0\.rdbs\.0\.convs\.(\d+)\.weight")),
        num_dense=len(indices(sd, r"blocks\.0\.rdbs\.(\d+)\.lff\.weight")),
        num_blocks=len(indices(sd, r"blocks\.(\d+)\.rdbs\.0\.lff\.weight")),
        upscale=_upscale(sd),
    )
    return load_strict(net, sd, "RRDN")


_SMALL = dict(num_features=8, growth_channels=4, num_convs=2, num_dense=2, num_blocks=2)

ARCH = Architecture(
    id="rrdn",
    name="RRDN (idealo ISR)",
    module=RRDN,
    detect=detect,
    load=load,
    rename=rename,
    # Unmeasured on the published weights; ISR always ran in fp32. The beta-scaled residuals
    # keep activations small, but without the real file that stays a guess.
    fp16_safe=False,
    bf16_safe=True,
    examples=(
        Example("x4", dict(_SMALL)),
        Example("isr-x4", dict(_SMALL, num_blocks=3, num_convs=4), naming="isr"),
        Example("isr-x2", dict(_SMALL, growth_channels=6, upscale=2), naming="isr"),
        Example("isr-x3-deep", dict(_SMALL, num_blocks=10, num_dense=1, upscale=3), naming="isr"),
    ),
)
