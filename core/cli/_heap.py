"""The command's own process keeps freed memory in its heap instead of returning it each time."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# The largest mmap threshold glibc accepts on 64-bit: blocks up to it come from the heap.
_MMAP_THRESHOLD_MAX = 32 * 1024**2
_TRIM_NEVER = 2**31 - 1


def keep_freed_memory() -> bool:
    """Lets glibc reuse freed blocks of up to 32 MiB instead of unmapping them.

    Every tile allocates and frees maps of several MB; by default glibc returns such blocks to
    the kernel, and each new one is page-faulted in again (0.7-0.9 GiB of fresh pages in an
    x4plus run on a 200-px photo). Only the command's own process does this: a library must not
    change its host's allocator. Returns False where the C library is not glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_NEVER))
