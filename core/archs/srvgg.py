"""SRVGGNetCompact: Real-ESRGAN's small models (realesr-general-x4v3, realesr-animevideov3).

A plain chain of 3x3 convs at input resolution, a pixel shuffle, and the nearest-upsampled
input added back (``shared/reference/seed-architectures.md`` section 5.2).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from . import _srvgg_winograd
from ._base import Architecture, Example, SRNet, StateDict, has_all, indices, load_strict, made_from_weights
from ._cuda_epilogue import applies as one_pass_applies
from ._cuda_epilogue import bias_leaky
from ._winograd import Workspace

ACTIVATIONS = ("prelu", "relu", "leakyrelu")
LEAKY_SLOPE = 0.1  # BasicSR's SRVGGNetCompact uses 0.1, not ESRGAN's 0.2
NEGATIVE_SLOPES = {"relu": 0.0, "leakyrelu": LEAKY_SLOPE}  # PReLU's are weights
# animevideov3-x4, fp32, 2 cores. Under glibc's default allocator, maps over 32 MiB are
# page-faulted in afresh each time: a 640x480 photo ran 1.46 s in 320-px tiles (maps under
# it) against 1.9 s whole. Where large blocks are reused it ran 1.28 s whole, and a
# 2000x1500 photo 12.7 s in 720-px tiles (1.3 GB peak) against 13.8 s in 320-px ones and
# 12.5 s in 1000-px ones (1.7 GB).
CPU_TILE = 320
CPU_TILE_REUSING_LARGE_BLOCKS = 720


def compact_core(
    x: torch.Tensor,
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    slopes: list[torch.Tensor],
    activation: str,
    scale: int,
    one_pass: bool = False,
) -> torch.Tensor:
    """The whole network as a function of tensors, for a compiler to fuse (``SRNet.fuse``): each
    conv's bias and activation become one pass. Each conv takes its input in its weights' dtype,
    as bf16's hooks do for the modules (the last conv stays fp32 there).

    ``one_pass`` (CUDA without a compiler): each conv runs without its bias, and
    ``_cuda_epilogue.bias_leaky`` adds the bias and applies the activation in one pass."""
    out = x
    for index, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
        last = index == len(weights) - 1
        if one_pass:
            slope = 1.0 if last else slopes[index] if activation == "prelu" else NEGATIVE_SLOPES[activation]
            out = bias_leaky(F.conv2d(out.to(weight.dtype), weight, None, padding=1), bias, slope)
        else:
            out = F.conv2d(out.to(weight.dtype), weight, bias, padding=1)
            if not last:
                out = _activated(out, activation, slopes, index)
    return _add_input_and_shuffle(out, x, scale)


def _activated(out: torch.Tensor, activation: str, slopes: list[torch.Tensor], index: int) -> torch.Tensor:
    if activation == "prelu":
        return F.prelu(out, slopes[index])
    if activation == "relu":
        return F.relu(out)
    return F.leaky_relu(out, LEAKY_SLOPE)


def _add_input_and_shuffle(out: torch.Tensor, x: torch.Tensor, scale: int) -> torch.Tensor:
    # The nearest-upsampled input, added before the shuffle: each input pixel goes to the
    # scale**2 channels that become its block (the same sums, without the upsampled copy).
    out_channels = out.shape[1] // scale**2
    base = x[:, :out_channels] if x.shape[1] != out_channels else x
    out.unflatten(1, (out_channels, scale**2)).add_(base.unsqueeze(2))  # a view, also of a strided map
    return F.pixel_shuffle(out, scale)


class SRVGGNetCompact(SRNet):
    preferred_cpu_tile = CPU_TILE
    cpu_tile_reusing_large_blocks = CPU_TILE_REUSING_LARGE_BLOCKS
    fused: Callable | None = None  # compact_core compiled (fuse), used instead of the modules

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_conv: int = 16,
        upscale: int = 4,
        activation: str = "prelu",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"SRVGGNetCompact: activation must be one of {ACTIVATIONS}")
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, upscale
        self.hyperparameters = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            num_features=num_features,
            num_conv=num_conv,
            upscale=upscale,
            activation=activation,
        )
        nf = num_features
        layers: list[nn.Module] = [nn.Conv2d(in_channels, nf, 3, 1, 1), _activation(activation, nf)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(nf, nf, 3, 1, 1), _activation(activation, nf)]
        layers.append(nn.Conv2d(num_features, out_channels * upscale**2, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.workspace = Workspace()  # the Winograd kernel's maps, reused from tile to tile

    def forward_core(self, x: torch.Tensor) -> torch.Tensor:
        # uprez's one-pass kernels before a compiled function: on an H100 as fast from 640x480
        # up (74.1 against 72.5 MP/s, 108.3 against 104.8 at 2000x1500) with no seconds of
        # compiling. At 256x256 a call is host time (2 ms), which the engine's CUDA graphs
        # take away (core/engine/cuda_graphs.py).
        if one_pass_applies(x):
            return compact_core(x, *self._tensors(), self.hyperparameters["activation"], self.scale, one_pass=True)
        if self.fused is not None:
            return self.fused(x, *self._tensors(), self.hyperparameters["activation"], self.scale)
        if _srvgg_winograd.applies(x, self.body[0].weight):
            return self._winograd_forward(x)
        # Module by module (not compact_core), so that the engine's per-layer hooks run: the
        # cancel check between layers, and bf16's input casts.
        out = x
        for layer in self.body:
            out = layer(out)
        return _add_input_and_shuffle(out, x, self.scale)

    def _winograd_forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = self._winograd_layers()
        outputs = []
        for image in x.split(1):
            out = _srvgg_winograd.residual(image, layers, self.out_channels * self.scale**2, self.workspace,
                                           self._before_conv)  # fmt: skip
            outputs.append(_add_input_and_shuffle(out, image, self.scale))
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0]

    def _winograd_layers(self) -> list[_srvgg_winograd.Layer]:
        # Prepared once per set of weights (load_state_dict changes them in place).
        weights, biases, slopes = self._tensors()
        activation = self.hyperparameters["activation"]
        per_layer = slopes if activation == "prelu" else [NEGATIVE_SLOPES[activation]] * (len(weights) - 1)
        prepare = functools.partial(_srvgg_winograd.prepared, weights, biases, per_layer)
        return made_from_weights(self, "_winograd_layers_cache", (*weights, *biases, *slopes), prepare)

    def _before_conv(self, index: int, x: torch.Tensor) -> None:
        # The engine's hooks on the conv modules (its cancel check) run as if the modules did,
        # given the network's input: the kernel's maps are not the modules' tensors.
        conv = self.body[2 * index]
        for hook in conv._forward_pre_hooks.values():
            hook(conv, (x,))

    def _tensors(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """Weights, biases and PReLU slopes (none for ReLU and LeakyReLU), for the functions."""
        layers = list(self.body)  # not self.body[0::2]: slicing builds ModuleLists (65 us a call)
        convs, activations = layers[0::2], layers[1::2]
        slopes = [a.weight for a in activations] if self.hyperparameters["activation"] == "prelu" else []
        return [c.weight for c in convs], [c.bias for c in convs], slopes

    def fuse(self, compiler: Callable[[Callable], Callable]) -> None:
        self.fused = compiler(compact_core)

    def fp32_layers(self) -> tuple[str, ...]:
        # The output is this conv's residual plus the image itself; in bf16 (8 significant bits)
        # both would round to steps of about one 8-bit level. In fp32 bf16's loss on six photos
        # fell from -0.18..+0.05 dB to -0.02..+0.07 dB (benchmarks/bench_quality.py).
        return (f"body.{len(self.body) - 1}",)

    def tile_context(self) -> int:
        # Receptive radius: one pixel per 3x3 conv; with this much context tiles are exact.
        return self.hyperparameters["num_conv"] + 2

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        nf = self.hyperparameters["num_features"]
        # Two feature maps alive per layer, plus the shuffled output and the upsampled input.
        per_pixel = 2 * nf + 3 * self.out_channels * self.scale**2
        return per_pixel * element_size, 0


def _activation(kind: str, num_features: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=num_features)
    if kind == "relu":
        return nn.ReLU(inplace=True)
    return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)


def _conv_indices(state_dict: StateDict) -> list[int]:
    return [i for i in indices(state_dict, r"body\.(\d+)\.weight") if state_dict[f"body.{i}.weight"].ndim == 4]


def detect(state_dict: StateDict) -> bool:
    if not has_all(state_dict, "body.0.weight", "body.0.bias") or state_dict["body.0.weight"].ndim != 4:
        return False
    convs = _conv_indices(state_dict)
    return len(convs) >= 2 and convs == list(range(0, convs[-1] + 1, 2))


def load(state_dict: StateDict) -> SRVGGNetCompact:
    convs = _conv_indices(state_dict)
    last = convs[-1]
    first = state_dict["body.0.weight"]
    # Guess: ReLU and LeakyReLU(0.1) carry no weights and cannot be told apart; the published
    # models all use PReLU, and BasicSR's default for weightless activations is ReLU.
    activation = "prelu" if "body.1.weight" in state_dict else "relu"
    in_channels = first.shape[1]
    # Guess: output channels equal input channels (true of every published model).
    out_channels = in_channels
    upscale = math.isqrt(state_dict[f"body.{last}.weight"].shape[0] // out_channels)
    if out_channels * upscale**2 != state_dict[f"body.{last}.weight"].shape[0]:
        width = state_dict[f"body.{last}.weight"].shape[0]
        raise ValueError(f"SRVGGNetCompact: last conv width {width} is not {out_channels} times a square")
    net = SRVGGNetCompact(
        in_channels=in_channels,
        out_channels=out_channels,
        num_features=first.shape[0],
        num_conv=(last - 2) // 2,
        upscale=upscale,
        activation=activation,
    )
    return load_strict(net, state_dict, "SRVGGNetCompact")


ARCH = Architecture(
    id="srvgg",
    name="SRVGGNetCompact (Real-ESRGAN compact)",
    module=SRVGGNetCompact,
    detect=detect,
    load=load,
    fp16_safe=True,
    bf16_safe=True,
    examples=(
        Example("prelu-x4", dict(num_features=8, num_conv=3, upscale=4)),
        Example("prelu-x2-deep", dict(num_features=6, num_conv=6, upscale=2)),
        Example("relu-x3", dict(num_features=8, num_conv=2, upscale=3, activation="relu")),
        Example("prelu-gray-x4", dict(in_channels=1, out_channels=1, num_features=8, num_conv=2, upscale=4)),
    ),
)
