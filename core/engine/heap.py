"""A process that is ours keeps freed memory in its heap instead of returning it each time."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_TRIM_NEVER = 2**31 - 1

_kept = False


def keep_freed_memory() -> bool:
    """Makes glibc serve every block from its heap and never give the heap back.

    Every tile allocates and frees feature maps of tens of MB. By default glibc maps blocks
    over 32 MiB afresh each time and unmaps them when freed, so each new one is page-faulted
    in again (animevideov3 over a whole 640x480 photo: 1.55 M faults, 1.9 s against 1.3 s).
    Only a process that is ours may do this (the uprez command, GIMP's plug-in process): a
    library must not change its host's allocator. Returns False where the C library is not
    glibc. The process then holds its peak memory until it exits.
    """
    global _kept
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    # With no mmapped blocks every size comes from the heap; glibc still maps memory when the
    # heap cannot grow, so this cannot make an allocation fail.
    _kept = bool(libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_NEVER))
    return _kept


def freed_memory_is_kept() -> bool:
    """Whether this process reuses freed blocks of any size (see ``keep_freed_memory``)."""
    return _kept
