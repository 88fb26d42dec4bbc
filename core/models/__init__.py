"""Known models, the model cache, downloads and ncnn imports."""

from .cache import cache_dir, models_dir, offline
from .download import download, sha256_of
from .fetch import fetch_known
from .ncnn_source import import_pair, package_models_dir
from .resolve import Availability, Resolved, all_availability, availability, open_model, resolve
from .zoo import DEFAULT_MODEL, MODELS, KnownModel, find

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "Availability",
    "KnownModel",
    "Resolved",
    "all_availability",
    "availability",
    "cache_dir",
    "download",
    "fetch_known",
    "find",
    "import_pair",
    "models_dir",
    "offline",
    "open_model",
    "package_models_dir",
    "resolve",
    "sha256_of",
]
