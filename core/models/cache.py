"""Where downloaded and imported models live, per operating system."""

from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_ENV = "UPREZ_CACHE_DIR"
OFFLINE_ENV = "UPREZ_OFFLINE"


def cache_dir() -> Path:
    """``$UPREZ_CACHE_DIR``, else the OS's user cache folder plus ``uprez``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "uprez" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "uprez"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "uprez"


def models_dir() -> Path:
    return cache_dir() / "models"


def kernels_dir() -> Path:
    """C kernels built for this machine (core/archs/_native.py)."""
    return cache_dir() / "kernels"


def offline() -> bool:
    """True when ``$UPREZ_OFFLINE`` asks uprez never to download."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")
