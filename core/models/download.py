"""Downloads that resume, verify sha256 before use, and never leave a half file behind."""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ... import __version__
from ..errors import ChecksumError, DownloadError

CHUNK_BYTES = 1 << 20
ATTEMPTS = 3  # each later attempt resumes where the last one stopped
TIMEOUT_SECONDS = 30.0
RETRY_PAUSE_SECONDS = 0.5
PART_SUFFIX = ".part"

DownloadProgress = Callable[[int, "int | None"], None]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    destination: Path,
    *,
    sha256: str | None,
    size: int | None = None,
    progress: DownloadProgress | None = None,
    attempts: int = ATTEMPTS,
    timeout: float = TIMEOUT_SECONDS,
) -> Path:
    """Fetches ``url`` to ``destination`` through ``destination.part``.

    A broken transfer is resumed with an HTTP Range request, within this call (up to
    ``attempts``) and across calls (the ``.part`` file stays). The file only gets its final
    name once its sha256 (or the published prefix of it) matches.

    Raises:
        DownloadError: the server refused or the connection kept failing.
        ChecksumError: the bytes are not the expected ones (the ``.part`` file is removed).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + PART_SUFFIX)
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            _fetch(url, part, size, progress, timeout)
            break
        except urllib.error.HTTPError as error:
            raise DownloadError(f"{url}: the server answered HTTP {error.code} {error.reason}") from error
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            last_error = error
            time.sleep(RETRY_PAUSE_SECONDS * (attempt + 1))
    else:
        have = part.stat().st_size if part.exists() else 0
        raise DownloadError(
            f"{url}: the connection failed {attempts} times ({_reason(last_error)})",
            hint=f"run the same command again to resume from {have} bytes",
        )
    _verify(part, url, sha256, size)
    os.replace(part, destination)
    return destination


def _fetch(url: str, part: Path, size: int | None, progress: DownloadProgress | None, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        return  # a previous call got every byte; only the check is left
    headers = {"User-Agent": f"uprez/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.headers.get_content_type() == "text/html":
            # Google Drive's "cannot scan for viruses" page, a login wall, a moved host...
            raise DownloadError(f"{url}: the server sent a web page, not a model file", hint="download it by hand")
        resumed = have > 0 and response.status == 206
        if not resumed:
            have = 0  # the server ignored the range: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else size
        with open(part, "ab" if resumed else "wb") as handle:
            while block := response.read1(CHUNK_BYTES):  # what has arrived: progress moves on slow links
                handle.write(block)
                have += len(block)
                if progress:
                    progress(have, total)
    if total is not None and have < total:
        raise ConnectionError(f"connection closed after {have} of {total} bytes")


def _verify(part: Path, url: str, sha256: str | None, size: int | None) -> None:
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink()
        raise ChecksumError(f"{url}: got {actual_size} bytes, expected {size}; the download was discarded")
    if sha256:
        digest = sha256_of(part)
        if not digest.startswith(sha256.lower()):
            part.unlink()
            raise ChecksumError(
                f"{url}: sha256 {digest[:16]}... does not match the expected {sha256[:16]}...; "
                "the download was discarded"
            )


def _reason(error: Exception | None) -> str:
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__
