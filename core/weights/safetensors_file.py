"""safetensors files: a JSON header and raw tensors; nothing in them can run."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError, safe_open

from ..errors import WeightFileError
from ._common import WeightReader, Weights, check_size, unwrap


def read(path: Path) -> Weights:
    check_size(path)
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightFileError(path, f"cannot be read as safetensors ({_short(error)})") from error
    if not tensors:
        raise WeightFileError(path, "holds no tensors")
    return Weights(unwrap(tensors, path), path, "safetensors", metadata)


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


READER = WeightReader("safetensors", (".safetensors",), read)
