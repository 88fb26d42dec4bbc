"""CUDA kernels from source at run time, through NVRTC and the driver API (ctypes only).

PyTorch's CUDA wheels carry NVRTC (its jiterator uses it) and every CUDA machine has the
driver, so this needs no CUDA toolkit, compiler or Triton: ``torch.cuda._compile_kernel`` asks
for the toolkit's headers (CUDA_HOME) that users of pip-installed PyTorch do not have.
Kernels are plain ``extern "C"`` functions without includes.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch


class KernelError(RuntimeError):
    """NVRTC or the driver refused: no library, a compile error, a failed load or launch."""


def nvrtc_library() -> ctypes.CDLL:
    """NVRTC, found as PyTorch's own CUDA libraries are: by name (already loaded by PyTorch or
    on the library path), then in the ``nvidia`` wheels beside it and in torch/lib."""
    major = (torch.version.cuda or "12").split(".")[0]
    names = [f"nvrtc64_{major}0_0.dll"] if sys.platform == "win32" else [f"libnvrtc.so.{major}", "libnvrtc.so"]
    candidates = list(names)
    for site in sys.path:
        for name in names:
            candidates += sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", name)))
            candidates += sorted(glob.glob(os.path.join(site, "nvidia", "*", "bin", name)))
    candidates += [str(Path(torch.__file__).parent / "lib" / name) for name in names]
    for candidate in candidates:
        try:
            return ctypes.CDLL(candidate)
        except OSError:
            continue
    raise KernelError(f"no NVRTC library ({', '.join(names)}) beside PyTorch")


def compile_to_cubin(source: str, architecture: str, *, library: ctypes.CDLL | None = None) -> bytes:
    """``source`` compiled for ``architecture`` (``"sm_90"``); the compiler's log on failure."""
    nvrtc = library or nvrtc_library()
    program = ctypes.c_void_p()
    _check_nvrtc(nvrtc, nvrtc.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"uprez.cu", 0, None, None))
    try:
        options = [f"--gpu-architecture={architecture}".encode(), b"--std=c++17"]
        result = nvrtc.nvrtcCompileProgram(program, len(options), (ctypes.c_char_p * len(options))(*options))
        if result != 0:
            log_size = ctypes.c_size_t()
            nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(log_size))
            log = ctypes.create_string_buffer(log_size.value)
            nvrtc.nvrtcGetProgramLog(program, log)
            text = log.value.decode(errors="replace").strip()
            raise KernelError(f"NVRTC could not compile for {architecture}: {text}")
        size = ctypes.c_size_t()
        _check_nvrtc(nvrtc, nvrtc.nvrtcGetCUBINSize(program, ctypes.byref(size)))
        cubin = ctypes.create_string_buffer(size.value)
        _check_nvrtc(nvrtc, nvrtc.nvrtcGetCUBIN(program, cubin))
        return cubin.raw
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))


def _check_nvrtc(nvrtc: ctypes.CDLL, result: int) -> None:
    if result != 0:
        nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p
        raise KernelError(f"NVRTC error {result}: {nvrtc.nvrtcGetErrorString(result).decode()}")


class Module:
    """Compiled kernels loaded into one device's primary context (the one PyTorch uses)."""

    def __init__(self, source: str, device: torch.device) -> None:
        self.device = device
        self.index = device.index if device.index is not None else torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(device)
        cubin = compile_to_cubin(source, f"sm_{major}{minor}")
        self._driver = _driver_library()
        self._handle = ctypes.c_void_p()
        # The device's primary context, PyTorch's, is this thread's once a CUDA op ran here on
        # that device (kernels are made at their first launch, after a conv).
        with torch.cuda.device(device):
            self._call("cuModuleLoadData", ctypes.byref(self._handle), cubin)
        self._functions: dict[str, ctypes.c_void_p] = {}

    def launch(self, name: str, grid: int, block: int, arguments: Sequence[ctypes._SimpleCData]) -> None:
        """Runs kernel ``name`` on the device's current PyTorch stream (ordered after the work
        already queued there). ``arguments`` are ctypes values in the kernel's parameter order.

        Called once per layer, so kept short: on small images the host's time per launch is
        what the GPU waits for."""
        function = self._functions.get(name)
        if function is None:
            function = ctypes.c_void_p()
            self._call("cuModuleGetFunction", ctypes.byref(function), self._handle, name.encode())
            self._functions[name] = function
        # The driver takes the address of each argument's value.
        addresses = (ctypes.c_void_p * len(arguments))(*(ctypes.addressof(a) for a in arguments))
        stream = ctypes.c_void_p(_raw_stream(self.index))
        if torch.cuda.current_device() == self.index:  # its context is this thread's already
            self._call("cuLaunchKernel", function, grid, 1, 1, block, 1, 1, 0, stream, addresses, None)
            return
        with torch.cuda.device(self.index):
            self._call("cuLaunchKernel", function, grid, 1, 1, block, 1, 1, 0, stream, addresses, None)

    def _call(self, name: str, *arguments: object) -> None:
        result = getattr(self._driver, name)(*arguments)
        if result != 0:
            message = ctypes.c_char_p()
            self._driver.cuGetErrorString(result, ctypes.byref(message))
            raise KernelError(f"{name} failed: {(message.value or b'unknown error').decode()} ({result})")


def _raw_stream(index: int) -> int:
    """The handle of PyTorch's current stream on device ``index``: the C function Inductor's
    generated code calls, else the public (slower) way."""
    get_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    if get_raw_stream is not None:
        return get_raw_stream(index)
    return torch.cuda.current_stream(index).cuda_stream


def _driver_library() -> ctypes.CDLL:
    driver = ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
    pointer, unsigned = ctypes.c_void_p, ctypes.c_uint
    driver.cuLaunchKernel.argtypes = [pointer, *[unsigned] * 7, pointer, pointer, pointer]
    driver.cuModuleGetFunction.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p]
    driver.cuModuleLoadData.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    driver.cuGetErrorString.argtypes = [ctypes.c_int, ctypes.c_void_p]
    return driver
