"""Choosing the device and finding how much memory a run may use on it."""

from __future__ import annotations

import os

import torch

from ..errors import DeviceError

# On the CPU the working set competes with the whole image, the output and the user's other
# programs. 4 GiB lets x4plus take a 1024x1024 image in one piece (no tile context to pay),
# and keeps a 2000x1500 run (four tiles) under 4 GB of peak RSS.
CPU_BUDGET_CAP = 4 * 1024**3
CPU_BUDGET_SHARE = 0.5  # of MemAvailable
GPU_BUDGET_SHARE = 0.75  # of free device memory, leaving room for cuDNN workspaces


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; anything else is checked and used."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as error:
        raise DeviceError(f"unknown device '{requested}'", hint="use auto, cpu, cuda, cuda:N or mps") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{requested}' asked for, but this torch has no usable CUDA")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device '{requested}' does not exist ({torch.cuda.device_count()} CUDA devices)")
    if device.type == "mps" and not _mps_available():
        raise DeviceError("device 'mps' asked for, but Apple MPS is not available here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device type '{device.type}' is not supported", hint="use cpu, cuda or mps")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def memory_budget(device: torch.device) -> int:
    """Bytes of working memory a run may plan for on ``device``."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        # Blocks PyTorch keeps cached after earlier work are this process's to reuse (its
        # allocator also empties the cache and retries before it reports out of memory).
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int((free + cached) * GPU_BUDGET_SHARE)
    if device.type == "mps":
        recommended = torch.mps.recommended_max_memory()
        return int((recommended - torch.mps.driver_allocated_memory()) * GPU_BUDGET_SHARE)
    return int(min(available_ram() * CPU_BUDGET_SHARE, CPU_BUDGET_CAP))


def available_ram() -> int:
    """MemAvailable on Linux; elsewhere physical memory as a stand-in."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3  # no way to ask (Windows without /proc): assume a modest machine


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors and failed CPU allocations."""
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    message = str(error)
    return isinstance(error, RuntimeError) and any(
        marker in message for marker in ("out of memory", "DefaultCPUAllocator", "can't allocate memory")
    )


def release_cached_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
