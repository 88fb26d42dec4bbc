"""sha256 digests recorded on a first download, for files whose authors published none.

Trust on first use: the first fetch can only be checked against nothing, but every later
fetch of the same URL (a new machine sharing the cache, a re-download after a cleanup) must
produce the same bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .cache import cache_dir

RECORD_FILE = "recorded-sha256.json"


def record_path() -> Path:
    return cache_dir() / RECORD_FILE


def recorded(url: str) -> str | None:
    return _load().get(url)


def record(url: str, sha256: str) -> None:
    records = _load()
    records[url] = sha256
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".checksums-", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(records, file, indent=2, sort_keys=True)
    os.replace(temporary, path)


def _load() -> dict[str, str]:
    try:
        records = json.loads(record_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in records.items()} if isinstance(records, dict) else {}
