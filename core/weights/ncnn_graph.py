"""Maps the ncnn graphs of the official Real-ESRGAN files onto canonical state dicts.

The graphs came from ONNX exports of BasicSR's modules, so their convolutions appear in the
modules' state-dict order. Each recogniser checks the graph facts it relies on (fused
LeakyReLU 0.2, residual coefficients, nearest 2x upsampling, pixel-shuffle order) and
refuses a graph that differs, rather than guessing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .ncnn import Layer

LEAKY = (2, [0.2])  # ncnn activation_type 2 = LeakyReLU, with its slope
NO_ACTIVATION = (0, [])
NEAREST, BICUBIC = 1, 3
ELTWISE_SUM = 1
RESIDUAL_COEFFS = [0.2, 1.0]  # Eltwise sum: 0.2 * block + 1.0 * skip, as in RDB and RRDB
STRUCTURAL = {"Input", "Split"}

Arrays = dict[str, np.ndarray]
Metadata = dict[str, str]


def to_state_dict(layers: list[Layer]) -> tuple[Arrays, Metadata]:
    """Canonical state dict and metadata for a recognised graph; ValueError otherwise."""
    layers = [layer for layer in layers if layer.type not in STRUCTURAL]
    layers, metadata = _split_output_resize(layers)
    kinds = {layer.type for layer in layers}
    if "PixelShuffle" in kinds:
        return _compact(layers), metadata
    if "Eltwise" in kinds and "Concat" in kinds:
        return _rrdbnet(layers), metadata
    raise ValueError(f"ncnn graph not recognised (layer types: {', '.join(sorted(kinds))})")


def _split_output_resize(layers: list[Layer]) -> tuple[list[Layer], Metadata]:
    """A bicubic Interp after the network, as in realesr-animevideov3-x2/x3, becomes metadata."""
    last = layers[-1]
    if last.type != "Interp" or last.param(0) != BICUBIC:
        return layers, {}
    scale_h, scale_w = float(last.param(1, 1.0)), float(last.param(2, 1.0))
    if scale_h != scale_w or last.param(6):
        raise ValueError("ncnn graph ends in an unsupported resize (anisotropic or align_corners)")
    return layers[:-1], {"uprez.output_scale": repr(scale_h), "uprez.output_resample": "bicubic"}


def _conv(layer: Layer, key: str, activation: tuple[int, list[float]]) -> Arrays:
    out_channels, kernel = int(layer.param(0)), int(layer.param(1))
    stride, dilation, pad = int(layer.param(3, 1)), int(layer.param(2, 1)), int(layer.param(4))
    if layer.param(11, kernel) != kernel or stride != 1 or dilation != 1 or pad != kernel // 2:
        raise ValueError(f"ncnn layer {layer.name}: only square 'same' convolutions with stride 1 are supported")
    found = (int(layer.param(9)), [round(float(v), 6) for v in layer.param(10, [])])
    if found != activation:
        raise ValueError(f"ncnn layer {layer.name}: activation {found}, expected {activation}")
    weight, *bias = layer.weights
    in_channels = weight.size // (out_channels * kernel * kernel)
    arrays = {f"{key}.weight": weight.reshape(out_channels, in_channels, kernel, kernel)}
    if bias:
        arrays[f"{key}.bias"] = bias[0]
    return arrays


def _compact(layers: list[Layer]) -> Arrays:
    signature = " ".join(layer.type for layer in layers)
    if not re.fullmatch(r"(Convolution (PReLU|ReLU) )+Convolution PixelShuffle Interp BinaryOp", signature):
        raise ValueError("ncnn graph looks like SRVGGNetCompact but its layer order differs")
    *body, shuffle, upsample, add = layers
    factor = int(shuffle.param(0))
    if shuffle.param(1) != 0:
        raise ValueError(f"ncnn layer {shuffle.name}: only PyTorch pixel-shuffle order is supported")
    if upsample.param(0) != NEAREST or float(upsample.param(1)) != factor or float(upsample.param(2)) != factor:
        raise ValueError(f"ncnn layer {upsample.name}: expected a nearest {factor}x residual upsample")
    if add.param(0) != 0:
        raise ValueError(f"ncnn layer {add.name}: expected the residual to be added")
    arrays: Arrays = {}
    for index, layer in enumerate(body):
        if layer.type == "Convolution":
            arrays.update(_conv(layer, f"body.{index}", NO_ACTIVATION))
        elif layer.type == "PReLU":
            arrays[f"body.{index}.weight"] = layer.weights[0]
        elif float(layer.param(0, 0.0)) != 0.0:
            raise ValueError(f"ncnn layer {layer.name}: leaky ReLU slope is not supported here")
    return arrays


def _rrdbnet(layers: list[Layer]) -> Arrays:
    convs = [layer for layer in layers if layer.type == "Convolution"]
    upsamples = [layer for layer in layers if layer.type == "Interp"]
    residuals = [layer for layer in layers if layer.type == "Eltwise"]
    num_upsamples = len(upsamples)
    num_blocks, rest = divmod(len(convs) - 4 - num_upsamples, 15)
    if rest or num_blocks < 1:
        raise ValueError(f"ncnn graph has {len(convs)} convolutions, which no RRDBNet has")
    for layer in upsamples:
        if layer.param(0) != NEAREST or float(layer.param(1)) != 2.0 or float(layer.param(2)) != 2.0:
            raise ValueError(f"ncnn layer {layer.name}: expected a nearest 2x upsample")
    if len(residuals) != 4 * num_blocks:
        raise ValueError(f"ncnn graph has {len(residuals)} residual sums, expected {4 * num_blocks}")
    for layer in residuals:
        coeffs = [round(float(c), 6) for c in layer.param(1, [])]
        if layer.param(0) != ELTWISE_SUM or coeffs != RESIDUAL_COEFFS:
            raise ValueError(f"ncnn layer {layer.name}: residual {coeffs}, expected {RESIDUAL_COEFFS}")
    plan: list[tuple[str, tuple[int, list[float]]]] = [("conv_first", NO_ACTIVATION)]
    for i in range(num_blocks):
        for k in (1, 2, 3):
            plan += [(f"body.{i}.rdb{k}.conv{j}", LEAKY) for j in (1, 2, 3, 4)]
            plan.append((f"body.{i}.rdb{k}.conv5", NO_ACTIVATION))
    plan.append(("conv_body", NO_ACTIVATION))
    plan += [(f"conv_up{n}", LEAKY) for n in range(1, num_upsamples + 1)]
    plan += [("conv_hr", LEAKY), ("conv_last", NO_ACTIVATION)]
    arrays: Arrays = {}
    for layer, (key, activation) in zip(convs, plan, strict=True):
        arrays.update(_conv(layer, key, activation))
    return arrays
