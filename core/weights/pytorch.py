"""PyTorch checkpoints (.pth, .pt, .ckpt), read with ``weights_only=True`` so no code runs."""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import torch

from ..errors import WeightFileError
from ._common import WeightReader, Weights, check_size, unwrap

_BLOCKED_GLOBAL = re.compile(r"GLOBAL (\S+)")


def read(path: Path) -> Weights:
    check_size(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notices from the restricted unpickler
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = _BLOCKED_GLOBAL.search(str(error))
        if found:
            problem = f"refused: the file asks to run code ({found.group(1)}); only tensors are loaded"
        else:
            problem = "refused: not a PyTorch weights file (a pickle with unsupported contents)"
        raise WeightFileError(path, problem, hint="get the model from its official source") from error
    except (EOFError, OSError, RuntimeError, KeyError, ValueError, IndexError) as error:
        raise WeightFileError(path, "cannot be read as a PyTorch file: truncated or corrupt") from error
    return Weights(unwrap(obj, path), path, "pytorch")


READER = WeightReader("pytorch", (".pth", ".pt", ".ckpt"), read)
