"""Getting a known model's official file into the cache: download, check, unpack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..errors import UprezError
from . import checksums
from .archive import extract_member
from .cache import cache_dir, models_dir
from .download import DownloadProgress, download, sha256_of
from .zoo import KnownModel

Notice = Callable[[str], None]


def fetch_known(
    model: KnownModel, *, progress: DownloadProgress | None = None, notice: Notice | None = None
) -> Path:
    """Downloads ``model``'s file (or its archive) and returns its path in ``models_dir()``.

    The bytes are checked against the published sha256, else against the one recorded on an
    earlier first fetch; with neither, this fetch records it and says so through ``notice``.
    """
    source = model.download
    if source is None:
        where = f"; get it from {model.page}" if model.page else ""
        raise UprezError(f"model '{model.id}' has no direct download{where}")
    target = models_dir() / model.file_name
    if target.is_file():
        return target
    expected = source.sha256 or checksums.recorded(source.url)
    fetched = archive_path(source.url) if source.member else target
    if not (source.member and fetched.is_file()):
        download(source.url, fetched, sha256=expected, size=source.size, progress=progress)
    if expected is None:
        digest = sha256_of(fetched)
        checksums.record(source.url, digest)
        if notice:
            notice(
                f"{fetched.name}: upstream publishes no checksum; recorded sha256 {digest} "
                f"in {checksums.record_path()} and later downloads must match it"
            )
    if source.member:
        extract_member(fetched, source.member, target)
    return target


def archive_path(url: str) -> Path:
    """Where a downloaded archive is kept (several models may come out of one)."""
    return cache_dir() / "archives" / PurePosixPath(urlsplit(url).path).name
