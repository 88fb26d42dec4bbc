"""What every weight-file reader returns, and the steps they share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightFileError

# The largest published SR model in scope is about 70 MB; 4 GiB leaves room for community
# models while refusing to map a disk image or a video by mistake.
MAX_WEIGHT_FILE_BYTES = 4 * 1024**3
# Checkpoint wrappers, most preferred first (Real-ESRGAN prefers the EMA weights).
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "model")
PREFIXES_TO_STRIP = ("module.",)


@dataclass
class Weights:
    """A canonical state dict plus the file's own metadata.

    ``metadata`` holds strings such as ``uprez.output_scale`` (a resize the file's graph does
    after the network, as in the ncnn animevideov3 x2/x3 files).
    """

    state_dict: dict[str, torch.Tensor]
    source: Path
    format: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WeightReader:
    """One file format: the suffixes it claims and its read function."""

    format: str
    suffixes: tuple[str, ...]
    read: Callable[[Path], Weights]


def check_size(path: Path) -> int:
    """The file's size; refuses missing, empty and implausibly large files."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise WeightFileError(path, "no such file") from None
    except OSError as error:
        raise WeightFileError(path, f"cannot read ({error.strerror})") from error
    if size == 0:
        raise WeightFileError(path, "file is empty")
    if size > MAX_WEIGHT_FILE_BYTES:
        raise WeightFileError(path, f"file is {size / 1024**3:.1f} GiB, larger than any known model")
    return size


def unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Finds the state dict inside a checkpoint and strips DataParallel prefixes."""
    for _ in range(4):  # wrappers nest at most a few levels deep in practice
        if not isinstance(obj, Mapping):
            raise WeightFileError(path, f"holds a {type(obj).__name__}, not a state dict")
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None and len(obj) == 1:
            inner = next(iter(obj.values()))
        if inner is None:
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if not tensors:
                raise WeightFileError(path, "holds no tensors")
            obj = tensors
            break
        obj = inner
    state_dict = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in PREFIXES_TO_STRIP:
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict
