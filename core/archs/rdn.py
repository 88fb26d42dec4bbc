"""RDN: idealo ISR's Residual Dense Network (``psnr-large``, ``psnr-small``, ``noise-cancel``).

Layers and names follow ``shared/reference/seed-architectures.md`` section 3.2. ISR names
every layer explicitly (``F_m1``, ``F_3_2``, ``LFF_3``, ``GFF_1``, ``UPN3``, ``SR``), so its
files load by name. The published weights upsample with ``UpSampling2D`` (nearest) before the
last conv ("ups"); ISR's other mode ("shuffle") uses TF's ``depth_to_space`` instead, and its
``UPN3`` is reordered for ``pixel_shuffle`` on the way in.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from ._base import Architecture, Example, SRNet, StateDict, has_all, indices, load_strict, renamed_layers
from ._isr_dense import DenseBlock, channel_buffer
from ._keras import depth_to_space_order, pixel_shuffle_to_depth_to_space

UPSCALINGS = ("ups", "shuffle")
# ISR's upsampling net: UPN1 5x5 -> 64, UPN2 3x3 -> 32 (fixed widths in ISR's _UPN).
UPN1_WIDTH, UPN2_WIDTH = 64, 32
TILE_CONTEXT_CAP = 48
# Tail receptive radius in core pixels: UPN1 (2), UPN2 (1), UPN3 (1), and the SR conv's one
# output pixel, which reaches one core pixel over.
TAIL_CONTEXT = 5


class RDN(SRNet):
    """ISR's RDN. ISR's letters: G0 = num_features, G = growth, C = convs, D = blocks, x = upscale."""

    tail_context = TAIL_CONTEXT
    output_rounding = "truncate"  # ISR: np.uint8(clip(x, 0, 1) * 255)
    original_prepad = 0  # ISR ran the whole image, zero padding at the border

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        growth_channels: int = 64,
        num_convs: int = 6,
        num_blocks: int = 20,
        upscale: int = 2,
        upscaling: str = "ups",
    ) -> None:
        super().__init__()
        if upscaling not in UPSCALINGS:
            raise ValueError(f"RDN: upscaling must be one of {UPSCALINGS}")
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, upscale
        self.hyperparameters = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            num_features=num_features,
            growth_channels=growth_channels,
            num_convs=num_convs,
            num_blocks=num_blocks,
            upscale=upscale,
            upscaling=upscaling,
        )
        nf = num_features
        self.sfe1 = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.sfe2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.blocks = nn.ModuleList(
            DenseBlock(num_features=nf, growth_channels=growth_channels, num_convs=num_convs, fusion_kernel=1)
            for _ in range(num_blocks)
        )
        self.gff1 = nn.Conv2d(num_blocks * nf, nf, 1)
        self.gff2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upn1 = nn.Conv2d(nf, UPN1_WIDTH, 5, 1, 2)
        self.upn2 = nn.Conv2d(UPN1_WIDTH, UPN2_WIDTH, 3, 1, 1)
        self.upn3 = nn.Conv2d(UPN2_WIDTH, out_channels * upscale**2, 3, 1, 1)
        last_in = out_channels * upscale**2 if upscaling == "ups" else out_channels
        self.conv_last = nn.Conv2d(last_in, out_channels, 3, 1, 1)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.sfe1(x)
        # The block outputs go straight into the buffer that ISR concatenates (LRLs_Concat).
        nf = shallow.shape[1]
        outputs = channel_buffer(shallow, nf * len(self.blocks))
        block_in = self.sfe2(shallow)
        for d, block in enumerate(self.blocks):
            block_out = outputs[:, d * nf : (d + 1) * nf]
            block_out.copy_(block(block_in).add_(block_in))
            block_in = block_out
        return self.gff2(self.gff1(outputs)).add_(shallow)

    def forward_tail(self, features: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.upn2(F.relu(self.upn1(features))))
        x = self.upn3(x)
        if self.hyperparameters["upscaling"] == "ups":
            x = F.interpolate(x, scale_factor=self.scale, mode="nearest")
        else:
            x = F.pixel_shuffle(x, self.scale)
        return self.conv_last(x)

    def tile_context(self) -> int:
        # Receptive radius: two 3x3 convs, C 3x3 convs per block (LFF is 1x1), GFF_2, the tail.
        hp = self.hyperparameters
        return min(TILE_CONTEXT_CAP, 2 + hp["num_blocks"] * hp["num_convs"] + 1 + TAIL_CONTEXT)

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        hp = self.hyperparameters
        nf, gc = hp["num_features"], hp["growth_channels"]
        # Head peak, in the last block: the D block outputs, the shallow features, the dense
        # buffer, a conv's output and its ReLU, and the fused output (measured: equal for
        # psnr-large, 7,936 bytes per pixel in fp32).
        head = (hp["num_blocks"] * nf + nf + (nf + hp["num_convs"] * gc) + 2 * gc + nf) * element_size
        # Tail: UPN1/UPN2 outputs, UPN3's, its nearest upsampling ("ups": every channel x^2
        # larger; "shuffle": the same elements rearranged) and the output.
        upn3 = hp["out_channels"] * self.scale**2
        upsampled = upn3 * self.scale**2 if hp["upscaling"] == "ups" else upn3
        tail = UPN1_WIDTH + UPN2_WIDTH + upn3 + upsampled + hp["out_channels"] * self.scale**2
        return head, tail * element_size


# --- key schemes ----------------------------------------------------------------------------

NAMINGS = ("canonical", "isr")
_ISR_BLOCK = re.compile(r"F_(\d+)_(\d+)|LFF_(\d+)")
_ISR_FLAT = {"sfe1": "F_m1", "sfe2": "F_0", "gff1": "GFF_1", "gff2": "GFF_2", "upn1": "UPN1", "upn2": "UPN2",
             "upn3": "UPN3", "conv_last": "SR"}  # fmt: skip
_CANONICAL_FLAT = {isr: ours for ours, isr in _ISR_FLAT.items()}


def _to_isr(module: str) -> str:
    if module in _ISR_FLAT:
        return _ISR_FLAT[module]
    parts = module.split(".")  # blocks.{d}.convs.{c} or blocks.{d}.lff, counted from 0
    if parts[2] == "lff":
        return f"LFF_{int(parts[1]) + 1}"
    return f"F_{int(parts[1]) + 1}_{int(parts[3]) + 1}"


def _to_canonical(layer: str) -> str:
    if layer in _CANONICAL_FLAT:
        return _CANONICAL_FLAT[layer]
    match = _ISR_BLOCK.fullmatch(layer)
    if match is None:
        return layer  # load_strict names it as unexpected
    if match.group(3):
        return f"blocks.{int(match.group(3)) - 1}.lff"
    return f"blocks.{int(match.group(1)) - 1}.convs.{int(match.group(2)) - 1}"


def _naming_of(state_dict: StateDict) -> str | None:
    if has_all(state_dict, "sfe1.weight", "sfe2.weight", "blocks.0.convs.0.weight", "blocks.0.lff.weight",
               "gff1.weight", "upn3.weight", "conv_last.weight"):  # fmt: skip
        return "canonical"
    if has_all(state_dict, "F_m1.weight", "F_0.weight", "F_1_1.weight", "LFF_1.weight", "GFF_1.weight",
               "UPN3.weight", "SR.weight"):  # fmt: skip
        return "isr"
    return None


def _shuffles(state_dict: StateDict, last: str) -> bool:
    """ISR's 'shuffle' mode: the last conv takes c channels (after depth_to_space), not c * x^2.

    At 1x the two modes coincide (and compute the same), so either answer is right there.
    """
    weight = state_dict[f"{last}.weight"]
    return weight.shape[1] == weight.shape[0]


def _upscale(state_dict: StateDict, upn3: str, last: str) -> int:
    out_channels = state_dict[f"{last}.weight"].shape[0]
    width = state_dict[f"{upn3}.weight"].shape[0]
    upscale = round((width / out_channels) ** 0.5)
    if out_channels * upscale**2 != width:
        raise ValueError(f"RDN: UPN3 width {width} is not {out_channels} times a square")
    return upscale


def rename(state_dict: StateDict, naming: str) -> dict[str, torch.Tensor]:
    """Writes a canonical state dict in ``naming`` ("isr": the h5 reader's view of ISR's file)."""
    if naming == "canonical":
        return dict(state_dict)
    sd = dict(state_dict)
    if _shuffles(sd, "conv_last"):
        block = _upscale(sd, "upn3", "conv_last")
        sd["upn3.weight"], sd["upn3.bias"] = pixel_shuffle_to_depth_to_space(sd["upn3.weight"], sd["upn3.bias"], block)
    return renamed_layers(sd, _to_isr)


def canonical(state_dict: StateDict) -> dict[str, torch.Tensor]:
    naming = _naming_of(state_dict)
    if naming is None:
        raise ValueError("not an RDN state dict")
    if naming == "canonical":
        return dict(state_dict)
    sd = renamed_layers(state_dict, _to_canonical)
    if _shuffles(sd, "conv_last"):
        block = _upscale(sd, "upn3", "conv_last")
        sd["upn3.weight"], sd["upn3.bias"] = depth_to_space_order(sd["upn3.weight"], sd["upn3.bias"], block)
    return sd


def detect(state_dict: StateDict) -> bool:
    return _naming_of(state_dict) is not None


def load(state_dict: StateDict) -> RDN:
    sd = canonical(state_dict)
    first = sd["sfe1.weight"]
    net = RDN(
        in_channels=first.shape[1],
        out_channels=sd["conv_last.weight"].shape[0],
        num_features=first.shape[0],
        growth_channels=sd["blocks.0.convs.0.weight"].shape[0],
        num_convs=len(indices(sd, r"blocks\.0\.convs\.(\d+)\.weight")),
        num_blocks=len(indices(sd, r"blocks\.(\d+)\.lff\.weight")),
        upscale=_upscale(sd, "upn3", "conv_last"),
        upscaling="shuffle" if _shuffles(sd, "conv_last") else "ups",
    )
    return load_strict(net, sd, "RDN")


_SMALL = dict(num_features=8, growth_channels=4, num_convs=2, num_blocks=3)

ARCH = Architecture(
    id="rdn",
    name="RDN (idealo ISR)",
    module=RDN,
    detect=detect,
    load=load,
    rename=rename,
    # Unmeasured on the published weights: 20 blocks of unnormalised residual sums could pass
    # fp16's range, and ISR always ran in fp32.
    fp16_safe=False,
    bf16_safe=True,
    examples=(
        Example("x2", dict(_SMALL)),
        Example("isr-x2", dict(_SMALL, num_blocks=11), naming="isr"),
        Example("isr-x3", dict(_SMALL, num_convs=3, upscale=3), naming="isr"),
        Example("isr-x4", dict(_SMALL, growth_channels=6, upscale=4), naming="isr"),
        Example("isr-shuffle-x2", dict(_SMALL, upscaling="shuffle"), naming="isr"),
        Example("shuffle-x3", dict(_SMALL, upscale=3, upscaling="shuffle")),
    ),
)
