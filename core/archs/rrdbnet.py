"""RRDBNet: ESRGAN (2018) and the Real-ESRGAN x4plus/x2plus/anime generators.

One module, three key schemes: BasicSR's (canonical here), ESRGAN's 2019 "new arch" and
ESRGAN's original ``model.N`` sequential names. Layers and names follow
``shared/reference/seed-architectures.md`` sections 4 and 5.1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ._base import Architecture, Example, SRNet, StateDict, has_all, indices, load_strict, made_from_weights
from ._cuda_epilogue import applies as one_pass_applies
from ._cuda_epilogue import bias_leaky
from ._dense_partial_sums import DTYPES as PARTIAL_SUM_DTYPES
from ._dense_partial_sums import applies as partial_sums_apply
from ._dense_partial_sums import dense_block as partial_sums_dense_block
from ._dense_partial_sums import producer_weights
from ._residual import add_scaled_
from ._rrdb_winograd import applies as winograd_applies
from ._rrdb_winograd import dense_block as winograd_dense_block
from ._staged import in_cache_sized_tiles
from ._winograd import Workspace, filter_transform

NEGATIVE_SLOPE = 0.2
RESIDUAL_SCALE = 0.2
# Tile context in core pixels. The trunk's receptive field is hundreds of pixels wide, so no
# pad makes tiles exact. x4plus, 64-px tiles, three real photos (benchmarks/tile_seams.py),
# mean / worst 16x16 block in 8-bit levels: 10 px 0.34 / 2.5, 32 px 0.061 / 0.67, 48 px
# 0.016 / 0.65, 64 px 0.003 / 0.15. 48 keeps a wide margin under the 0.2 / 1.5 bar; it costs
# 1.41x at 512-px tiles against 1.27x for 32 (auto tiles are usually the whole photo: no cost).
TILE_CONTEXT = 48
# The upsampling tail is four 3x3 convs at 2x and 4x resolution: under two core pixels.
TAIL_CONTEXT = 2
# Five 3x3 convs. On large CPU maps each dense block runs in tiles with this much context
# (_staged.py): the same numbers, 1.08x faster through the engine on 256x256 and 640x480
# photos (x4plus, 2 threads).
DENSE_BLOCK_RADIUS = 5


def dense_block(
    x: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], one_pass: bool = False
) -> torch.Tensor:
    """ESRGAN's residual dense block as a function of tensors, so that a compiler can fuse its
    concatenations, biases and activations (``SRNet.fuse``); the module runs it as it is.

    ``one_pass`` (CUDA without a compiler): each conv runs without its bias, and
    ``_cuda_epilogue`` adds it and applies the activation in one pass over the conv's output."""
    features = [x]
    for index, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
        joined = torch.cat(features, 1) if len(features) > 1 else x
        last = index == len(weights) - 1
        if one_pass:
            out = bias_leaky(F.conv2d(joined, weight, None, padding=1), bias, 1.0 if last else NEGATIVE_SLOPE)
        else:
            out = F.conv2d(joined, weight, bias, padding=1)
            out = out if last else F.leaky_relu(out, NEGATIVE_SLOPE, inplace=True)
        features.append(out)
    return add_scaled_(features[-1], RESIDUAL_SCALE, x)


def _conv_then_leaky(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``leaky_relu(conv(x))``; on CUDA with the bias and activation in one pass."""
    if one_pass_applies(x):
        return bias_leaky(F.conv2d(x.to(conv.weight.dtype), conv.weight, None, padding=1), conv.bias, NEGATIVE_SLOPE)
    return F.leaky_relu(conv(x), NEGATIVE_SLOPE, inplace=True)


class ResidualDenseBlock(nn.Module):
    def __init__(self, *, num_features: int, growth_channels: int, workspace: Workspace | None = None) -> None:
        super().__init__()
        nf, gc = num_features, growth_channels
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        self.function = dense_block  # or its compiled version (RRDBNet.fuse)
        self.workspace = workspace or Workspace()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prepared(x)(x)

    def prepared(self, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The block for every tile of map ``x``: on the CPU in Winograd convolutions (fp32),
        with the kernels transformed once for all the tiles; on CUDA as grouped convs summed
        (fp16, fp32), which beat torch.compile's fusion (5.5 against 8.3 ms a block on an
        H100), then a compiled function (``RRDBNet.fuse``), then one-pass epilogues; else as
        written. A compiled function comes before Winograd (tests compile on the CPU)."""
        weights, biases = self.tensors()
        if self.function is dense_block and winograd_applies(x):
            filters = [filter_transform(weight) for weight in weights]
            slopes = dict(negative_slope=NEGATIVE_SLOPE, residual_scale=RESIDUAL_SCALE)
            block = functools.partial(winograd_dense_block, filters=filters, biases=biases, **slopes,
                                      workspace=self.workspace)  # fmt: skip
            block.writes_into = True  # see _staged.apply_in_tiles
            return block
        if partial_sums_apply(x):
            producers = self._producers(weights)
            return lambda tile: partial_sums_dense_block(
                tile, producers, biases, negative_slope=NEGATIVE_SLOPE, residual_scale=RESIDUAL_SCALE
            )
        if self.function is dense_block and one_pass_applies(x):
            return lambda tile: dense_block(tile, weights, biases, one_pass=True)
        return lambda tile: self.function(tile, weights, biases)

    def tensors(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The five convs' weights and biases, in order: what the block's functions take."""
        convs = (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5)
        return [conv.weight for conv in convs], [conv.bias for conv in convs]

    def _producers(self, weights: list[torch.Tensor]) -> list[torch.Tensor]:
        """``_dense_partial_sums.producer_weights``, made once per set of weights (69 blocks'
        worth of small concatenations would cost the host milliseconds per map)."""
        return made_from_weights(self, "_producer_cache", weights, lambda: producer_weights(weights))


class RRDB(nn.Module):
    def __init__(self, *, num_features: int, growth_channels: int, workspace: Workspace | None = None) -> None:
        super().__init__()
        sizes = dict(num_features=num_features, growth_channels=growth_channels, workspace=workspace)
        self.rdb1 = ResidualDenseBlock(**sizes)
        self.rdb2 = ResidualDenseBlock(**sizes)
        self.rdb3 = ResidualDenseBlock(**sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for rdb in (self.rdb1, self.rdb2, self.rdb3):
            out = in_cache_sized_tiles(rdb.prepared(out), out, DENSE_BLOCK_RADIUS)
        return add_scaled_(out, RESIDUAL_SCALE, x)


class RRDBNet(SRNet):
    """ESRGAN's generator; ``unshuffle`` > 1 is Real-ESRGAN's folded input for x2 and x1."""

    tail_context = TAIL_CONTEXT

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_blocks: int = 23,
        growth_channels: int = 32,
        num_upsamples: int = 2,
        unshuffle: int = 1,
    ) -> None:
        super().__init__()
        if (2**num_upsamples) % unshuffle:
            raise ValueError(f"RRDBNet: 2^{num_upsamples} upsampling cannot undo unshuffle {unshuffle}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.unshuffle = unshuffle
        self.scale = 2**num_upsamples // unshuffle
        self.hyperparameters = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            num_features=num_features,
            num_blocks=num_blocks,
            growth_channels=growth_channels,
            num_upsamples=num_upsamples,
            unshuffle=unshuffle,
        )
        nf = num_features
        self.conv_first = nn.Conv2d(in_channels * unshuffle**2, nf, 3, 1, 1)
        # One set of Winograd buffers for all blocks, which run one after another.
        workspace = Workspace()
        self.body = nn.Sequential(
            *(RRDB(num_features=nf, growth_channels=growth_channels, workspace=workspace) for _ in range(num_blocks))
        )
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        for n in range(1, num_upsamples + 1):
            setattr(self, f"conv_up{n}", nn.Conv2d(nf, nf, 3, 1, 1))
        self.num_upsamples = num_upsamples
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_channels, 3, 1, 1)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv_first(x)
        if winograd_applies(features):
            features = features.contiguous()  # the Winograd blocks' layout: no conversion per block
        return self.conv_body(self.body(features)).add_(features)

    def forward_tail(self, features: torch.Tensor) -> torch.Tensor:
        for n in range(1, self.num_upsamples + 1):
            upsampled = F.interpolate(features, scale_factor=2, mode="nearest")
            features = _conv_then_leaky(getattr(self, f"conv_up{n}"), upsampled)
        return self.conv_last(_conv_then_leaky(self.conv_hr, features))

    def fuse(self, compiler: Callable[[Callable], Callable]) -> None:
        fused = compiler(dense_block)
        for module in self.modules():
            if isinstance(module, ResidualDenseBlock):
                module.function = fused

    def tile_context(self) -> int:
        return TILE_CONTEXT

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        nf = self.hyperparameters["num_features"]
        gc = self.hyperparameters["growth_channels"]
        # Head peak, inside conv5: trunk input, RRDB input, RDB input, x1..x4, the concat and
        # x5; in grouped convs (_dense_partial_sums, CUDA) every input's shares of later convs.
        weight = self.conv_first.weight
        if weight.is_cuda and weight.dtype in PARTIAL_SUM_DTYPES:
            head = (4 * nf + gc + (10 * gc + 5 * nf)) * element_size  # shares: (4 gc + nf) + ... + nf
        else:
            head = (4 * nf + 4 * gc + (nf + 4 * gc)) * element_size
        # Tail peak, at full resolution: the upsampled input, conv_up's output and conv_hr's output.
        tail = 3 * nf * 4**self.num_upsamples * element_size
        return head, tail


# --- key schemes ----------------------------------------------------------------------------

NAMINGS = ("basicsr", "esrgan", "esrgan-old")


def _module_names(naming: str, num_blocks: int, num_upsamples: int) -> dict[str, str]:
    """Canonical (BasicSR) module name -> the same module's name in ``naming``."""
    names: dict[str, str] = {}
    for i in range(num_blocks):
        for k in (1, 2, 3):
            for j in range(1, 6):
                canonical = f"body.{i}.rdb{k}.conv{j}"
                names[canonical] = {
                    "basicsr": canonical,
                    "esrgan": f"RRDB_trunk.{i}.RDB{k}.conv{j}",
                    "esrgan-old": f"model.1.sub.{i}.RDB{k}.conv{j}.0",
                }[naming]
    ups = [f"conv_up{n}" for n in range(1, num_upsamples + 1)]
    if naming == "basicsr":
        outer = ["conv_first", "conv_body", *ups, "conv_hr", "conv_last"]
        names.update({name: name for name in outer})
    elif naming == "esrgan":
        names.update(conv_first="conv_first", conv_body="trunk_conv", conv_hr="HRconv", conv_last="conv_last")
        names.update({up: f"upconv{n}" for n, up in enumerate(ups, 1)})
    else:
        # Old sequential layout: [conv, shortcut(trunk), (upsample, conv, act) * n, hr, act, last].
        names.update(conv_first="model.0", conv_body=f"model.1.sub.{num_blocks}")
        names.update({up: f"model.{3 * n}" for n, up in enumerate(ups, 1)})
        names.update(conv_hr=f"model.{3 * num_upsamples + 2}", conv_last=f"model.{3 * num_upsamples + 4}")
    return names


def _naming_of(state_dict: StateDict) -> str | None:
    if has_all(state_dict, "conv_first.weight", "body.0.rdb1.conv1.weight", "conv_last.weight"):
        return "basicsr"
    if has_all(state_dict, "conv_first.weight", "RRDB_trunk.0.RDB1.conv1.weight", "conv_last.weight"):
        return "esrgan"
    if has_all(state_dict, "model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight"):
        return "esrgan-old"
    return None


def _depth(state_dict: StateDict, naming: str) -> tuple[int, int]:
    """(num_blocks, num_upsamples) read from the keys of ``naming``."""
    if naming == "basicsr":
        blocks = indices(state_dict, r"body\.(\d+)\.rdb1\.conv1\.weight")
        ups = indices(state_dict, r"conv_up(\d+)\.weight")
    elif naming == "esrgan":
        blocks = indices(state_dict, r"RRDB_trunk\.(\d+)\.RDB1\.conv1\.weight")
        ups = indices(state_dict, r"upconv(\d+)\.weight")
    else:
        blocks = indices(state_dict, r"model\.1\.sub\.(\d+)\.RDB1\.conv1\.0\.weight")
        last = max(indices(state_dict, r"model\.(\d+)\.weight"))
        ups = list(range((last - 4) // 3))
    return len(blocks), len(ups)


def rename(state_dict: StateDict, naming: str) -> dict[str, torch.Tensor]:
    """Writes a canonical state dict in ``naming``'s keys."""
    naming = "basicsr" if naming == "canonical" else naming
    num_blocks, num_upsamples = _depth(state_dict, "basicsr")
    names = _module_names(naming, num_blocks, num_upsamples)
    return {_swap_prefix(key, names): value for key, value in state_dict.items()}


def canonical(state_dict: StateDict) -> dict[str, torch.Tensor]:
    naming = _naming_of(state_dict)
    if naming is None:
        raise ValueError("not an RRDBNet state dict")
    num_blocks, num_upsamples = _depth(state_dict, naming)
    inverse = {theirs: ours for ours, theirs in _module_names(naming, num_blocks, num_upsamples).items()}
    return {_swap_prefix(key, inverse): value for key, value in state_dict.items()}


def _swap_prefix(key: str, names: dict[str, str]) -> str:
    module, _, leaf = key.rpartition(".")
    return f"{names.get(module, module)}.{leaf}"


def detect(state_dict: StateDict) -> bool:
    return _naming_of(state_dict) is not None


def load(state_dict: StateDict) -> RRDBNet:
    sd = canonical(state_dict)
    num_blocks, num_upsamples = _depth(sd, "basicsr")
    folded_in = sd["conv_first.weight"].shape[1]
    out_channels = sd["conv_last.weight"].shape[0]
    unshuffle = 1
    # Guess: only Real-ESRGAN's x2/x1 models fold their input, and their input and output
    # channel counts are equal, so a 4x or 16x wider first conv means pixel_unshuffle 2 or 4.
    if _naming_of(state_dict) == "basicsr" and folded_in != out_channels:
        for factor in (2, 4):
            if folded_in == out_channels * factor**2 and (2**num_upsamples) % factor == 0:
                unshuffle = factor
    net = RRDBNet(
        in_channels=folded_in // unshuffle**2,
        out_channels=out_channels,
        num_features=sd["conv_first.weight"].shape[0],
        num_blocks=num_blocks,
        growth_channels=sd["body.0.rdb1.conv1.weight"].shape[0],
        num_upsamples=num_upsamples,
        unshuffle=unshuffle,
    )
    return load_strict(net, sd, "RRDBNet")


_SMALL = dict(num_features=8, num_blocks=2, growth_channels=4)

ARCH = Architecture(
    id="rrdbnet",
    name="RRDBNet (ESRGAN, Real-ESRGAN)",
    module=RRDBNet,
    detect=detect,
    load=load,
    rename=rename,
    fp16_safe=True,  # Real-ESRGAN's own CLI runs it in fp16 by default
    bf16_safe=True,
    examples=(
        Example("basicsr-x4", dict(_SMALL)),
        Example("basicsr-x2-unshuffle", dict(_SMALL, unshuffle=2)),
        Example("basicsr-x1-unshuffle", dict(_SMALL, unshuffle=4)),
        Example("basicsr-gray-x2-unshuffle", dict(_SMALL, in_channels=1, out_channels=1, unshuffle=2)),
        Example("esrgan-x4", dict(_SMALL, num_blocks=3), naming="esrgan"),
        Example("esrgan-x2-wide", dict(_SMALL, num_features=12, growth_channels=6, num_upsamples=1), "esrgan"),
        Example("esrgan-old-x4", dict(_SMALL), naming="esrgan-old"),
        Example("esrgan-old-x8", dict(_SMALL, num_upsamples=3), naming="esrgan-old"),
        Example("esrgan-old-x1", dict(_SMALL, num_upsamples=0), naming="esrgan-old"),
        Example("esrgan-old-gray-x4", dict(_SMALL, in_channels=1, out_channels=1), naming="esrgan-old"),
    ),
)
