"""C kernels, built on first use by the machine's own C compiler and loaded with ctypes.

Built for this CPU (``-march=native``), so a library is kept under a name that hashes the
source, the flags, the compiler and the CPU: a cache shared between machines never loads one
built for another. Where there is no compiler (most Windows machines), OpenMP is missing
(Apple's clang) or the build fails, ``library`` returns None and the caller runs its PyTorch
path; a warning (once) and ``why_unavailable`` say why. ``UPREZ_NATIVE=0`` turns the kernels
off; ``CC`` picks the compiler.

OpenMP: PyTorch loads its own ``libgomp.so.1``; a library that needs that name gets the one
already loaded, so the kernels and PyTorch share one pool of threads.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

DISABLE_ENV = "UPREZ_NATIVE"
FLAGS = ("-O3", "-march=native", "-fno-signed-zeros", "-fno-trapping-math", "-fopenmp", "-shared", "-fPIC")
BUILD_TIMEOUT_S = 120

# Where libraries are kept: the engine points this at the user's cache (core/models/cache.py).
# Unset, each process builds into a private temporary folder.
build_dir: Path | None = None

_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL | None] = {}
_reasons: dict[str, str] = {}
_private_dir: Path | None = None


def library(source: str) -> ctypes.CDLL | None:
    """The C file ``source`` (beside this module) built and loaded, or None (see ``why_unavailable``)."""
    if os.environ.get(DISABLE_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        _reasons[source] = f"turned off ({DISABLE_ENV}={os.environ[DISABLE_ENV]})"
        return None
    with _lock:
        if source not in _loaded:
            _loaded[source] = _build_and_load(source)
            if _loaded[source] is None:  # once per process: the caller's PyTorch path is slower
                message = f"uprez: C kernel unavailable ({_reasons[source]}); using PyTorch's ops"
                warnings.warn(message, RuntimeWarning, stacklevel=3)
        if _loaded[source] is not None:
            _reasons.pop(source, None)
        return _loaded[source]


def why_unavailable(source: str) -> str | None:
    """Why the last ``library(source)`` gave None, in one line; None if it gave a library."""
    return _reasons.get(source)


def forget() -> None:
    """Drop what was loaded or refused, so that the next ``library`` call looks again (tests)."""
    with _lock:
        _loaded.clear()
        _reasons.clear()


def _build_and_load(source: str) -> ctypes.CDLL | None:
    path = Path(__file__).with_name(source)
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if sys.platform == "win32" or not compiler:
        _reasons[source] = "no C compiler (cc, gcc or clang; or CC)"
        return None
    try:
        text = path.read_bytes()
        target = _folder() / f"{path.stem}-{_fingerprint(text, compiler)}.so"
        if target.exists():
            try:
                return ctypes.CDLL(str(target))
            except OSError:
                target.unlink()  # damaged: built again below
        _build(path, compiler, target)
        return ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError, BuildError) as error:
        _reasons[source] = f"{path.name}: {error}".splitlines()[0]
        return None


class BuildError(RuntimeError):
    """The compiler refused the source (its first error line)."""


def _build(source: Path, compiler: str, target: Path) -> None:
    # Built beside the target and renamed into place: another process never loads half a file.
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".so.part")
    os.close(handle)
    try:
        command = [compiler, *FLAGS, "-o", temporary, str(source)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if "error" in line] or result.stderr.splitlines()
            raise BuildError(f"{Path(compiler).name} failed: {errors[0] if errors else 'no output'}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _folder() -> Path:
    global _private_dir
    if build_dir is not None:
        build_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return build_dir
    if _private_dir is None:
        _private_dir = Path(tempfile.mkdtemp(prefix="uprez-kernels-"))  # mode 0700: no one else writes there
    return _private_dir


def _fingerprint(text: bytes, compiler: str) -> str:
    resolved = shutil.which(compiler) or compiler
    stat = os.stat(resolved)
    parts = [text, " ".join(FLAGS).encode(), f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}".encode(), _cpu().encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _cpu() -> str:
    """What ``-march=native`` depends on: the CPU's model and feature flags."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            wanted = ("model name", "flags", "Features", "CPU part")
            lines = {line.split(":")[0].strip(): line for line in cpuinfo if line.split(":")[0].strip() in wanted}
        return "".join(sorted(lines.values()))
    except OSError:
        return f"{platform.machine()} {platform.processor()} {platform.platform()}"
