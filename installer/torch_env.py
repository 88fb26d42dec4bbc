"""Which torch build fits the machine, as a pip command."""

from __future__ import annotations

from typing import Tuple

from .platforms import Host

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA_WINDOWS_INDEX = "https://download.pytorch.org/whl/cu128"


def torch_install_argv(python: str, spec: str, index: str, host: Host) -> Tuple[Tuple[str, ...], str]:
    """(pip command, reason). ``index`` is auto, pypi or a URL.

    PyPI's default torch is right for Linux with NVIDIA (CUDA build) and macOS (MPS on Apple
    silicon); it is wrong for Windows with NVIDIA (CPU-only wheels) and wasteful for Linux
    without NVIDIA (several GB of CUDA libraries), where pytorch.org's own indexes are asked.
    """
    argv = [python, "-m", "pip", "install", "--quiet", spec]
    if index == "pypi":
        return tuple(argv), "the default index, as asked"
    if index != "auto":
        return tuple(argv + ["--index-url", index]), f"from {index}"
    if host.system == "win32" and host.nvidia:
        return tuple(argv + ["--index-url", CUDA_WINDOWS_INDEX]), "CUDA build for an NVIDIA GPU on Windows"
    if host.system == "linux" and not host.nvidia:
        return tuple(argv + ["--index-url", CPU_INDEX]), "CPU build: no NVIDIA GPU found"
    if host.system == "darwin":
        apple = host.machine in ("arm64", "aarch64")
        return tuple(argv), "MPS build for Apple silicon" if apple else "CPU build for an Intel Mac"
    return tuple(argv), "CUDA build for an NVIDIA GPU" if host.nvidia else "CPU build"
