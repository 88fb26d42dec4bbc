"""Which models the loader offers, and loading one of them safely by name."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ..core.errors import ModelNotFoundError
from ..core.model import LoadedModel, load_model
from ..core.models import all_availability, open_model
from ..core.weights import supported_suffixes
from . import _comfy

KNOWN_PREFIX = "uprez: "  # known ids are listed as "uprez: realesrgan-x4plus"
_LOADED: dict[str, tuple[float, LoadedModel]] = {}


def model_names() -> list[str]:
    """Files under ComfyUI's upscale_models folders, then the uprez models this machine can get."""
    suffixes = tuple(s for s in supported_suffixes())
    files = set()
    for folder in _comfy.model_folders():
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and path.name.lower().endswith(suffixes) and ".git" not in path.parts:
                    files.add(path.relative_to(folder).as_posix())
    known = [f"{KNOWN_PREFIX}{found.model.id}" for found in all_availability()
             if found.installed or found.packaged or found.model.download]  # fmt: skip
    return sorted(files) + known


def checked_name(name: str) -> PurePosixPath:
    """A model file name relative to a model folder; refuses absolute paths and '..'."""
    relative = PurePosixPath(name.replace("\\", "/"))
    if not name or relative.is_absolute() or ".." in relative.parts or ":" in relative.parts[0]:
        raise ModelNotFoundError(f"model name '{name}' must be a file inside the upscale_models folder")
    return relative


def load_named(name: str) -> LoadedModel:
    """The model behind a loader choice; files are re-read only when they change."""
    if name.startswith(KNOWN_PREFIX):
        model_id = name[len(KNOWN_PREFIX) :]
        cached = _LOADED.get(name)
        if cached is None:
            cached = (0.0, open_model(model_id))
            _LOADED[name] = cached
        return cached[1]
    path = _find(checked_name(name))
    stamp = path.stat().st_mtime
    cached = _LOADED.get(str(path))
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_model(path))
        _LOADED[str(path)] = cached
    return cached[1]


def _find(relative: PurePosixPath) -> Path:
    for folder in _comfy.model_folders():
        root = folder.resolve()
        candidate = (root / relative).resolve()
        if candidate.is_file() and (candidate == root or root in candidate.parents):
            return candidate
    folders = os.pathsep.join(str(f) for f in _comfy.model_folders()) or "no upscale_models folder"
    raise ModelNotFoundError(f"model '{relative}' not found in {folders}")
