"""The error tree of the core.

Every error prints as one line that names the file (or model), what is wrong and, where
there is one, what to do. Faces (CLI, GIMP, ComfyUI) show ``str(error)`` and nothing more.
"""

from __future__ import annotations

import os


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message, or its type's name where it has none."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


class UprezError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        one_line = " ".join(message.split())
        if hint:
            one_line = f"{one_line} ({' '.join(hint.split())})"
        super().__init__(one_line)


class FileProblem(UprezError):
    """Something is wrong with one named file."""

    def __init__(self, path: str | os.PathLike[str], problem: str, *, hint: str | None = None) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}", hint=hint)


class WeightFileError(FileProblem):
    """A weight file cannot be read: empty, truncated, unsafe or of an unknown layout."""


class UnknownArchitectureError(WeightFileError):
    """The weights were read, but no registered architecture matches their keys and shapes."""


class ModelNotFoundError(UprezError):
    """A model id or path names nothing that is installed or known."""


class DeviceError(UprezError):
    """The requested device or precision cannot be used on this machine."""


class DownloadError(UprezError):
    """A download failed; nothing was left under the final file name."""


class ChecksumError(DownloadError):
    """A downloaded file's sha256 differs from the one on record."""


class ImageReadError(FileProblem):
    """An input image cannot be decoded."""


class ImageWriteError(FileProblem):
    """An output image cannot be written (or would overwrite something it must not)."""


class OutOfMemoryError(UprezError):
    """Even the smallest tile does not fit in memory."""


class Cancelled(UprezError):
    """The caller's cancel flag was set; the engine stopped between tiles."""

    def __init__(self) -> None:
        super().__init__("cancelled")
