"""A conv's bias and leaky activation in one pass over its output, on CUDA.

Eager PyTorch adds a cuDNN conv's bias in one pass and applies the activation in another, and
both broadcast a per-channel vector over a channels-last map, which takes PyTorch's slowest
elementwise path. In animevideov3's fp16 forward on an H200 (2000x1500 photo) those 36 passes
took 18.5 ms against 7.7 ms for the 17 convolutions (benchmarks/gpu_levers.py, profile). One
kernel here reads and writes each map once, 16 bytes per thread, and rounds once.

PReLU, LeakyReLU and ReLU are all ``y if y >= 0 else slope * y`` with per-channel slopes;
a bias alone is slope 1. Compiled by NVRTC on first use per device (_nvrtc.py); where that is
impossible the callers run PyTorch's ops, with one warning.
"""

from __future__ import annotations

import ctypes
import threading
import warnings

import torch

from ._nvrtc import KernelError, Module

# fp16 and bf16 as raw 16-bit lanes, so that the source needs no CUDA headers (NVRTC finds
# none without a toolkit). bf16's rounding is IEEE's round to nearest even, as PyTorch's.
SOURCE = r"""
typedef unsigned short bits16;

__device__ __forceinline__ float from_f16(bits16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ bits16 to_f16(float f) {
    bits16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
__device__ __forceinline__ float from_bf16(bits16 h) { return __uint_as_float(((unsigned)h) << 16); }
__device__ __forceinline__ bits16 to_bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bits16)((u >> 16) | 0x40u);
    return (bits16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float leaky(float y, float slope) { return y >= 0.f ? y : y * slope; }

#define BIAS_LEAKY_16(NAME, FROM, TO)                                                          \
extern "C" __global__ void NAME(uint4* data, const uint4* bias, const uint4* slope,            \
                                long long vectors, int channel_vectors) {                    \
    for (long long v = blockIdx.x * (long long)blockDim.x + threadIdx.x; v < vectors;          \
         v += (long long)gridDim.x * blockDim.x) {                                           \
        int c = (int)(v % channel_vectors);                                                  \
        uint4 packed = data[v], b = bias[c], s = slope[c];                                   \
        bits16* x = reinterpret_cast<bits16*>(&packed);                                      \
        const bits16* bb = reinterpret_cast<const bits16*>(&b);                              \
        const bits16* ss = reinterpret_cast<const bits16*>(&s);                              \
        for (int i = 0; i < 8; ++i) x[i] = TO(leaky(FROM(x[i]) + FROM(bb[i]), FROM(ss[i])));  \
        data[v] = packed;                                                                    \
    }                                                                                        \
}
BIAS_LEAKY_16(bias_leaky_f16, from_f16, to_f16)
BIAS_LEAKY_16(bias_leaky_bf16, from_bf16, to_bf16)

extern "C" __global__ void bias_leaky_f32(float4* data, const float4* bias, const float4* slope,
                                          long long vectors, int channel_vectors) {
    for (long long v = blockIdx.x * (long long)blockDim.x + threadIdx.x; v < vectors;
         v += (long long)gridDim.x * blockDim.x) {
        int c = (int)(v % channel_vectors);
        float4 p = data[v], b = bias[c], s = slope[c];
        p.x = leaky(p.x + b.x, s.x);
        p.y = leaky(p.y + b.y, s.y);
        p.z = leaky(p.z + b.z, s.z);
        p.w = leaky(p.w + b.w, s.w);
        data[v] = p;
    }
}
"""
# Kernel and values per 16-byte vector, by dtype.
KERNELS = {
    torch.float16: ("bias_leaky_f16", 8),
    torch.bfloat16: ("bias_leaky_bf16", 8),
    torch.float32: ("bias_leaky_f32", 4),
}
THREADS_PER_BLOCK = 256
MAX_BLOCKS = 1 << 16  # threads loop over the rest
VECTOR_BYTES = 16

ENABLED = True  # False: PyTorch's separate passes everywhere (for comparisons)

_modules: dict[int, Module | None] = {}  # per device index; None: unavailable there
_constant_slopes: dict[tuple, torch.Tensor] = {}
_lock = threading.Lock()


def applies(x: torch.Tensor) -> bool:
    """Whether the one-pass epilogue may run on ``x``: a CUDA map outside autograd and outside
    a compiler's trace (which fuses these passes itself)."""
    return (
        ENABLED
        and x.is_cuda
        and x.dtype in KERNELS
        and not (torch.is_grad_enabled() and x.requires_grad)
        and not _compiling()
        and _modules.get(_index(x.device), True) is not None
    )


def _compiling() -> bool:
    is_compiling = getattr(torch.compiler, "is_compiling", None)  # PyTorch 2.3 and later
    return bool(is_compiling and is_compiling())


def bias_leaky_(x: torch.Tensor, bias: torch.Tensor, slope: torch.Tensor | float) -> bool:
    """``x = leaky(x + bias, slope)`` in place, in one pass, for a channels-last CUDA map ``x``
    of shape (N, C, H, W); ``bias`` (C,) in ``x``'s dtype; ``slope`` (C,) or one number (0 for
    ReLU, 1 for the bias alone). Returns False, having done nothing, where the kernel cannot
    take ``x`` (another layout or device, C not a multiple of 16 bytes' worth, misaligned):
    the caller then runs PyTorch's ops."""
    if not applies(x) or x.dim() != 4:
        return False
    name, lanes = KERNELS[x.dtype]
    channels = x.shape[1]
    if channels % lanes or not x.is_contiguous(memory_format=torch.channels_last):
        return False
    slopes = slope if isinstance(slope, torch.Tensor) else _constant_slope(float(slope), channels, x)
    bias, slopes = bias.to(x.dtype).contiguous(), slopes.to(x.dtype).contiguous()
    if any(t.device != x.device or t.data_ptr() % VECTOR_BYTES for t in (x, bias, slopes)):
        return False
    if bias.shape != (channels,) or slopes.shape != (channels,):
        return False
    module = _modules.get(x.device.index) or _module(x.device)
    if module is None:
        return False
    vectors = x.numel() // lanes
    blocks = min(-(-vectors // THREADS_PER_BLOCK), MAX_BLOCKS)
    arguments = [ctypes.c_void_p(t.data_ptr()) for t in (x, bias, slopes)]
    arguments += [ctypes.c_longlong(vectors), ctypes.c_int(channels // lanes)]
    try:
        module.launch(name, blocks, THREADS_PER_BLOCK, arguments)
    except KernelError as error:
        _give_up(x.device, error)
        return False
    return True


def _constant_slope(value: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    key = (value, channels, like.dtype, like.device)
    if key not in _constant_slopes:
        _constant_slopes[key] = torch.full((channels,), value, dtype=like.dtype, device=like.device)
    return _constant_slopes[key]


def _index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


def _module(device: torch.device) -> Module | None:
    index = _index(device)
    with _lock:
        if index not in _modules:
            try:
                _modules[index] = Module(SOURCE, torch.device("cuda", index))
            except (KernelError, OSError, AttributeError) as error:
                _give_up(device, error)
        return _modules[index]


def _give_up(device: torch.device, error: Exception) -> None:
    _modules[_index(device)] = None
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    message = f"uprez: one-pass bias and activation unavailable on {device} ({first_line}); using PyTorch's ops"
    warnings.warn(message, RuntimeWarning, stacklevel=3)
