"""SRVGGNetCompact's convolutions in Winograd F(6x6, 3x3), for fp32 on the CPU, by a C kernel.

Direct convolution runs at this machine's measured conv peak there, and each activation is one
more pass over a 64-channel map. The kernel (``_winograd_layer.c``) computes a layer's conv,
bias and activation in groups of tiles that stay in cache, between channels-last maps with a
zero border (the next layer reads it as its padding). A 64->64 layer with PReLU over a 660x500
map, 2 threads, AVX-512, alternating: 70-72 ms direct (channels-last conv, then PReLU), 28-29
ms here, about half of it the products (390 GFLOP/s) and half the transforms, which move the
maps through memory. Channel counts are padded to multiples of 16 with zero weights (3 -> 16 at the input).
Without a C compiler the modules run as before (``_native``).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from . import _native
from ._winograd import Tiling, Workspace, filter_transform

SOURCE = "_winograd_layer.c"
LANES = 16

# Switched off to run the network as its authors wrote it (_as_written.as_written, tests).
ENABLED = True


def kernel() -> Callable | None:
    """The C function, typed; None where it cannot be built (``_native.why_unavailable``)."""
    library = _native.library(SOURCE)
    if library is None:
        return None
    function = library.winograd_layer
    if function.argtypes is None:
        pointer, size = ctypes.c_void_p, ctypes.c_long
        function.argtypes = [pointer, pointer, size, size, size, size, size, pointer, pointer, pointer, ctypes.c_int]
        function.restype = ctypes.c_int
    return function


def applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """For fp32 inputs and weights on the CPU (not bf16's: its image stays fp32), without autograd."""
    fp32 = x.dtype == weight.dtype == torch.float32
    cpu = x.device.type == weight.device.type == "cpu"
    return ENABLED and fp32 and cpu and not torch.is_grad_enabled() and kernel() is not None


@dataclass(frozen=True)
class Layer:
    """One conv, as the kernel takes it: transformed filter [64, inputs, outputs] and padded
    bias and slopes (None: no activation), channels padded to multiples of 16."""

    filter: torch.Tensor
    bias: torch.Tensor
    slopes: torch.Tensor | None
    inputs: int
    outputs: int


def prepared(
    weights: list[torch.Tensor], biases: list[torch.Tensor], slopes: list[torch.Tensor | float]
) -> list[Layer]:
    """The network's convs for the kernel; ``slopes`` has one per activation (a tensor of PReLU
    weights or one slope for all channels), the last conv has none."""
    layers = []
    for index, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
        outputs, inputs = _padded(weight.shape[0]), _padded(weight.shape[1])
        padded = torch.zeros(outputs, inputs, 3, 3)
        padded[: weight.shape[0], : weight.shape[1]] = weight.detach().float()
        transformed = filter_transform(padded).transpose(1, 2).contiguous()
        slope = None
        if index < len(slopes):
            slope = torch.zeros(outputs)
            slope[: weight.shape[0]] = torch.as_tensor(slopes[index]).detach().float()
        layers.append(Layer(transformed, _zero_padded(bias.detach().float(), outputs), slope, inputs, outputs))
    return layers


def residual(
    x: torch.Tensor,
    layers: list[Layer],
    out_channels: int,
    workspace: Workspace,
    before_layer: Callable[[int, torch.Tensor], None],
) -> torch.Tensor:
    """The convs' output for one image [1, C, H, W], as [1, out_channels, H, W] (a strided view
    of a workspace buffer, valid until the next call). ``before_layer(i, x)`` runs before conv i."""
    height, width = x.shape[-2:]
    tiling = Tiling(height, width)
    grid = tiling.padded
    written = (height, width)
    image = workspace.zeroed("image", (*grid, layers[0].inputs), written=written)
    image[1 : height + 1, 1 : width + 1, : x.shape[1]].copy_(x[0].permute(1, 2, 0))
    maps = [workspace.zeroed(name, (*grid, layers[0].outputs), written=written) for name in ("even", "odd")]
    out = workspace.zeroed("out", (*grid, layers[-1].outputs), written=written)
    run = kernel()
    source = image
    threads = torch.get_num_threads()
    for index, layer in enumerate(layers):
        before_layer(index, x)
        target = out if index == len(layers) - 1 else maps[index % 2]
        slopes = layer.slopes.data_ptr() if layer.slopes is not None else None
        status = run(source.data_ptr(), target.data_ptr(), grid[1], height, width, layer.inputs, layer.outputs,
                     layer.filter.data_ptr(), layer.bias.data_ptr(), slopes, threads)  # fmt: skip
        if status == 2:
            raise MemoryError("the Winograd kernel could not allocate its tile buffers")
        if status:
            raise ValueError(f"the Winograd kernel refused layer {index}: channels not a multiple of {LANES}")
        source = target
    return out[1 : height + 1, 1 : width + 1, :out_channels].permute(2, 0, 1).unsqueeze(0)


def _padded(channels: int) -> int:
    return -(-channels // LANES) * LANES


def _zero_padded(values: torch.Tensor, size: int) -> torch.Tensor:
    return F.pad(values, (0, size - values.shape[0]))
