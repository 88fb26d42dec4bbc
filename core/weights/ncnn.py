"""ncnn model files: a text ``.param`` graph and a ``.bin`` of weights in layer order.

Format facts (ncnn ``src/paramdict.cpp``, ``src/modelbin.cpp``; see
``shared/reference/realesrgan-measured.md``): the ``.bin`` has no header; a Convolution reads
its weight behind a 4-byte tag (fp16, int8, fp32 or a 256-entry quantisation table) and then
its bias as raw fp32; a PReLU reads its slopes as raw fp32. A correct reader consumes the
whole ``.bin``, which is how truncation and mismatched pairs are caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import WeightFileError
from ._common import WeightReader, Weights, check_size
from .ncnn_graph import to_state_dict

MAGIC = 7767517
ARRAY_KEY_BASE = -23300  # a key k <= this holds an array for parameter id ARRAY_KEY_BASE - k
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32 = 0x0002C056
QUANT_TABLE_ENTRIES = 256
# Layer types the reader knows to carry no weights in the .bin.
WEIGHTLESS = {
    "Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle",
    "ReLU", "Sigmoid", "Clip", "Crop", "Padding", "Reshape", "Permute", "Noop",
}  # fmt: skip

ParamValue = int | float | list[int | float]


@dataclass
class Layer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, ParamValue]
    weights: list[np.ndarray] = field(default_factory=list)

    def param(self, key: int, default: ParamValue = 0) -> ParamValue:
        return self.params.get(key, default)


def parse_param(text: str, path: Path) -> list[Layer]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise WeightFileError(path, f"not an ncnn .param file (first line is not {MAGIC})")
    try:
        layer_count = int(lines[1][0])
        layers = [_parse_layer(fields) for fields in lines[2:]]
    except (IndexError, ValueError) as error:
        raise WeightFileError(path, "malformed ncnn .param file") from error
    if len(layers) != layer_count:
        raise WeightFileError(path, f"declares {layer_count} layers but lists {len(layers)}")
    return layers


def _parse_layer(fields: list[str]) -> Layer:
    kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
    blobs = fields[4 : 4 + n_in + n_out]
    if len(blobs) != n_in + n_out:
        raise ValueError("blob list too short")
    params: dict[int, ParamValue] = {}
    for item in fields[4 + n_in + n_out :]:
        key_text, _, value_text = item.partition("=")
        key = int(key_text)
        if key <= ARRAY_KEY_BASE:
            count, *values = value_text.split(",")
            params[ARRAY_KEY_BASE - key] = [_number(v) for v in values[: int(count)]]
        else:
            params[key] = _number(value_text)
    return Layer(kind, name, blobs[:n_in], blobs[n_in:], params)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


class _BinCursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.offset, self.path = data, 0, path

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.data):
            raise WeightFileError(self.path, "is truncated: the .param asks for more weights than it holds")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def raw_fp32(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        tag_bytes = self.take(4)
        tag = int.from_bytes(tag_bytes, "little")
        if tag == TAG_FP16:
            values = np.frombuffer(self.take(_align4(2 * count)), dtype="<f2")[:count]
            return values.astype(np.float32)
        if tag == TAG_INT8:
            raise WeightFileError(self.path, "holds int8-quantised weights, which uprez does not read")
        if tag == TAG_FP32 or sum(tag_bytes) == 0:
            return self.raw_fp32(count)
        table = np.frombuffer(self.take(4 * QUANT_TABLE_ENTRIES), dtype="<f4")
        index = np.frombuffer(self.take(_align4(count)), dtype=np.uint8)[:count]
        return table[index].astype(np.float32)


def _align4(size: int) -> int:
    return (size + 3) // 4 * 4


def read_bin(layers: list[Layer], data: bytes, path: Path) -> None:
    """Attaches each layer's weight arrays, in file order; the whole file must be used."""
    cursor = _BinCursor(data, path)
    for layer in layers:
        if layer.type == "Convolution":
            if layer.param(8):
                raise WeightFileError(path, f"layer {layer.name} is int8-quantised, which uprez does not read")
            layer.weights.append(cursor.tagged(int(layer.param(6))))
            if layer.param(5):
                layer.weights.append(cursor.raw_fp32(int(layer.param(0))))
        elif layer.type == "PReLU":
            layer.weights.append(cursor.raw_fp32(int(layer.param(0))))
        elif layer.type not in WEIGHTLESS:
            raise WeightFileError(path, f"has a {layer.type} layer ({layer.name}), which uprez cannot read")
    if cursor.offset != len(data):
        raise WeightFileError(
            path, f"the .bin holds {len(data) - cursor.offset} bytes more than the .param uses: a mismatched pair"
        )


def paired_files(path: Path) -> tuple[Path, Path]:
    """(.param, .bin) for a path to either of them."""
    return path.with_suffix(".param"), path.with_suffix(".bin")


def read(path: Path) -> Weights:
    param_path, bin_path = paired_files(path)
    check_size(param_path)
    check_size(bin_path)
    try:
        text = param_path.read_text(encoding="ascii")
    except UnicodeDecodeError as error:
        raise WeightFileError(param_path, "not an ncnn .param file (binary content)") from error
    layers = parse_param(text, param_path)
    read_bin(layers, bin_path.read_bytes(), bin_path)
    try:
        arrays, metadata = to_state_dict(layers)
    except ValueError as error:
        raise WeightFileError(param_path, str(error)) from error
    state_dict = {key: torch.from_numpy(value) for key, value in arrays.items()}
    return Weights(state_dict, param_path, "ncnn", metadata)


READER = WeightReader("ncnn", (".param",), read)
