"""One file out of a downloaded .tar.gz, without trusting the archive's paths."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from ..errors import DownloadError
from ..weights import MAX_WEIGHT_FILE_BYTES


def extract_member(archive: Path, member: str, destination: Path) -> Path:
    """Copies the regular file ``member`` of ``archive`` to ``destination`` atomically.

    Only the named member is read, by name, into a temporary file beside the destination;
    nothing else in the archive touches the disk (no ``extractall``, no links followed).
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            try:
                info = tar.getmember(member)
            except KeyError:
                names = ", ".join(tar.getnames()[:5])
                raise DownloadError(f"{archive.name}: has no {member} (it holds {names})") from None
            if not info.isfile():
                raise DownloadError(f"{archive.name}: {member} is not a regular file")
            if info.size > MAX_WEIGHT_FILE_BYTES:
                raise DownloadError(f"{archive.name}: {member} is {info.size} bytes, larger than any model")
            source = tar.extractfile(info)
            assert source is not None  # regular files always have contents
            destination.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as target:
                    shutil.copyfileobj(source, target)
                os.replace(temporary, destination)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DownloadError(f"{archive.name}: cannot be unpacked ({error})") from error
    return destination
