"""neural-enhance's Lasagne weight files (.pkl.bz2), read through a numpy-only unpickler.

A file is a bz2 stream holding a pickle of ``(config, params)``: ``config`` a dict of plain
ints and lists, ``params`` ``{layer name: [arrays]}`` in float16 and Lasagne's layouts (conv
``[W (O, I, kH, kW), b (O,)]``, PReLU ``[alpha (C,)]``). These pickles are untrusted, so the
unpickler hands out numpy's array constructors and nothing else: a pickle that asks for any
other global is refused before anything runs.
"""

from __future__ import annotations

import bz2
import codecs
import io
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import WeightFileError
from ._common import WeightReader, Weights, check_size

BZ2_MAGIC = b"BZh"
# The published generators hold about 1-3 M float16 values (a few MB); 1 GiB of pickle refuses
# a decompression bomb long before it fills memory.
MAX_PICKLE_BYTES = 1024**3
CONFIG_KEY = "neural_enhance.config"
HINT = "get the model from neural-enhance's releases"

# The globals a pickle of numpy arrays needs, under numpy 1 and numpy 2 module names. Taken
# from the objects themselves, so no module is ever imported by a name the file chose.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_SCALAR = np.float16(0).__reduce__()[0]
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # protocol-2 pickles write bytes through it
}


class _Refused(pickle.UnpicklingError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def read(path: Path) -> Weights:
    check_size(path)
    config, params = _split(path, _unpickle(path, _payload(path)))
    state_dict: dict[str, torch.Tensor] = {}
    for layer, arrays in params.items():
        state_dict.update(_convert_layer(path, layer, arrays))
    return Weights(state_dict, path, "lasagne", {CONFIG_KEY: json.dumps(config, default=str, sort_keys=True)})


def _payload(path: Path) -> bytes:
    """The pickle's bytes: bz2-decompressed (capped), or the file itself when not compressed."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise WeightFileError(path, f"cannot read ({error.strerror})") from error
    if not data.startswith(BZ2_MAGIC):
        if len(data) > MAX_PICKLE_BYTES:
            raise WeightFileError(path, "pickle is larger than any neural-enhance model")
        return data
    return _decompress(path, data)


def _decompress(path: Path, data: bytes) -> bytes:
    out, pending, later_stream = bytearray(), data, False
    decompressor = bz2.BZ2Decompressor()
    while True:
        try:
            out += decompressor.decompress(pending, max_length=MAX_PICKLE_BYTES + 1 - len(out))
        except OSError as error:
            if later_stream:
                return bytes(out)  # bytes after a complete stream that are not bz2: ignored, as bz2.open does
            raise WeightFileError(path, "is not a valid bz2 stream: corrupt", hint=HINT) from error
        pending = b""
        if len(out) > MAX_PICKLE_BYTES:
            limit = f"{MAX_PICKLE_BYTES / 1024**3:g} GiB"
            raise WeightFileError(path, f"decompresses to over {limit}, more than any model: refused as a bz2 bomb")
        if decompressor.eof:
            if not decompressor.unused_data:
                return bytes(out)
            pending, later_stream = decompressor.unused_data, True
            decompressor = bz2.BZ2Decompressor()
        elif decompressor.needs_input:
            raise WeightFileError(path, "truncated: the bz2 stream ends early", hint="download it again")


def _unpickle(path: Path, payload: bytes) -> Any:
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    except _Refused as error:
        problem = f"refused: the pickle asks for {error.name}; only numpy arrays are loaded"
        raise WeightFileError(path, problem, hint=HINT) from error
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        OverflowError,
        UnicodeDecodeError,
    ) as error:
        raise WeightFileError(path, "cannot be read as a neural-enhance pickle: truncated or corrupt") from error


def _split(path: Path, obj: Any) -> tuple[Mapping[Any, Any], Mapping[Any, Any]]:
    """The ``(config, params)`` pair that neural-enhance's ``save_generator`` writes."""
    if not (isinstance(obj, tuple | list) and len(obj) == 2 and all(isinstance(part, Mapping) for part in obj)):
        kind = type(obj).__name__
        raise WeightFileError(path, f"holds a {kind}, not the (config, params) pair of a neural-enhance model")
    config, params = obj
    if not params:
        raise WeightFileError(path, "holds no layers")
    return config, params


def _convert_layer(path: Path, layer: Any, arrays: Any) -> dict[str, torch.Tensor]:
    """One Lasagne layer's parameters as PyTorch tensors under ``{layer}.weight`` / ``.bias``."""
    if not isinstance(layer, str) or not isinstance(arrays, list | tuple):
        raise WeightFileError(path, f"layer {layer!r} is not a name with a list of arrays")
    if not all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays):
        raise WeightFileError(path, f"layer {layer} holds something other than float arrays")
    shapes = [a.shape for a in arrays]
    if len(arrays) == 2 and arrays[0].ndim == 4 and arrays[1].shape == arrays[0].shape[:1]:
        # Lasagne's Conv2DLayer flips its filters (flip_filters=True, a true convolution);
        # PyTorch's Conv2d does not (cross-correlation). This is the one place that converts.
        weight, bias = arrays[0][:, :, ::-1, ::-1], arrays[1]
        return {f"{layer}.weight": _tensor(weight), f"{layer}.bias": _tensor(bias)}
    if len(arrays) == 1 and arrays[0].ndim == 1:
        return {f"{layer}.weight": _tensor(arrays[0])}  # a PReLU's per-channel slopes
    raise WeightFileError(path, f"layer {layer} holds arrays of shapes {shapes}: neither a conv nor a PReLU")


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


READER = WeightReader("lasagne", (".bz2", ".pkl"), read)
