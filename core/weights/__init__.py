"""Weight-file readers. Each module here that defines ``READER`` handles one format and
returns a canonical state dict (wrappers unwrapped, ``module.`` stripped, layouts converted),
so architecture detection works the same for every format.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from .._discover import discover
from ..errors import WeightFileError
from ._common import MAX_WEIGHT_FILE_BYTES, WeightReader, Weights

__all__ = ["MAX_WEIGHT_FILE_BYTES", "WeightReader", "Weights", "read_weights", "readers", "supported_suffixes"]


@functools.cache
def readers() -> tuple[WeightReader, ...]:
    return tuple(discover(__name__, __path__, "READER", WeightReader))


def supported_suffixes() -> tuple[str, ...]:
    return tuple(suffix for reader in readers() for suffix in reader.suffixes)


def read_weights(path: str | os.PathLike[str]) -> Weights:
    """Reads any supported weight file into a canonical state dict.

    Raises:
        WeightFileError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bin" and path.with_suffix(".param").exists():
        suffix = ".param"  # the weights half of an ncnn pair
    for reader in readers():
        if suffix in reader.suffixes:
            return reader.read(path)
    known = ", ".join(supported_suffixes())
    raise WeightFileError(path, f"unknown weight-file type '{path.suffix}' (uprez reads {known})")
