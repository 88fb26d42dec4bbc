"""A conv's bias and leaky activation in one pass over its output, on CUDA; also the sum of
several convs' outputs (the grouped dense blocks, _dense_partial_sums.py).

Eager PyTorch adds a cuDNN conv's bias in one pass and applies the activation in another, and
both broadcast a per-channel vector over a channels-last map, which takes PyTorch's slowest
elementwise path. In animevideov3's fp16 forward on an H200 (2000x1500 photo) those 36 passes
took 18.5 ms against 7.7 ms for the 17 convolutions; with the kernel here the forward took 12.8
ms instead of 27 (benchmarks/gpu_levers.py, profile). Each kernel reads and writes each map
once, 16 bytes per thread, and rounds once.

PReLU, LeakyReLU and ReLU are all ``y if y >= 0 else slope * y`` with per-channel slopes;
a bias alone is slope 1. Compiled by NVRTC on first use per device (_nvrtc.py); where that is
impossible the callers run PyTorch's ops, with one warning.
"""

from __future__ import annotations

import ctypes
import threading
import warnings
from collections.abc import Sequence

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

// out = leaky(sum of the parts' channel windows + bias, slope), then base + scale * out where
// base is given: a conv's output summed from partial convs (_dense_partial_sums.py). Offsets
// and strides count 16-byte vectors.
#define MAX_PARTS 8
struct Parts { const uint4* data[MAX_PARTS]; int stride[MAX_PARTS]; int offset[MAX_PARTS]; int count; };

__device__ __forceinline__ float from_f32(unsigned u) { return __uint_as_float(u); }
__device__ __forceinline__ unsigned to_f32(float f) { return __float_as_uint(f); }

#define SUM_BIAS_LEAKY(NAME, LANE, LANES, FROM, TO)                                            \
extern "C" __global__ void NAME(uint4* out, Parts parts, const uint4* bias, const uint4* slope,\
                                const uint4* base, float scale, long long vectors,           \
                                int channel_vectors) {                                       \
    for (long long v = blockIdx.x * (long long)blockDim.x + threadIdx.x; v < vectors;          \
         v += (long long)gridDim.x * blockDim.x) {                                           \
        long long pixel = v / channel_vectors;                                               \
        int c = (int)(v - pixel * channel_vectors);                                          \
        float sum[LANES];                                                                    \
        uint4 packed = bias[c];                                                              \
        const LANE* lanes = reinterpret_cast<const LANE*>(&packed);                          \
        for (int i = 0; i < LANES; ++i) sum[i] = FROM(lanes[i]);                             \
        for (int j = 0; j < parts.count; ++j) {                                              \
            packed = parts.data[j][pixel * parts.stride[j] + parts.offset[j] + c];           \
            for (int i = 0; i < LANES; ++i) sum[i] += FROM(lanes[i]);                        \
        }                                                                                    \
        packed = slope[c];                                                                   \
        for (int i = 0; i < LANES; ++i) sum[i] = leaky(sum[i], FROM(lanes[i]));              \
        if (base) {                                                                          \
            packed = base[v];                                                                \
            for (int i = 0; i < LANES; ++i) sum[i] = FROM(lanes[i]) + scale * sum[i];        \
        }                                                                                    \
        LANE* result = reinterpret_cast<LANE*>(&packed);                                     \
        for (int i = 0; i < LANES; ++i) result[i] = TO(sum[i]);                              \
        out[v] = packed;                                                                     \
    }                                                                                        \
}
SUM_BIAS_LEAKY(sum_bias_leaky_f16, bits16, 8, from_f16, to_f16)
SUM_BIAS_LEAKY(sum_bias_leaky_bf16, bits16, 8, from_bf16, to_bf16)
SUM_BIAS_LEAKY(sum_bias_leaky_f32, unsigned, 4, from_f32, to_f32)
"""
# Kernel and values per 16-byte vector, by dtype.
KERNELS = {
    torch.float16: ("bias_leaky_f16", 8),
    torch.bfloat16: ("bias_leaky_bf16", 8),
    torch.float32: ("bias_leaky_f32", 4),
}
SUM_KERNELS = {
    torch.float16: "sum_bias_leaky_f16",
    torch.bfloat16: "sum_bias_leaky_bf16",
    torch.float32: "sum_bias_leaky_f32",
}
MAX_PARTS = 8  # as the source's
THREADS_PER_BLOCK = 256
MAX_BLOCKS = 1 << 16  # threads loop over the rest
VECTOR_BYTES = 16

ENABLED = True  # False: PyTorch's separate passes and concatenations everywhere (comparisons)

_modules: dict[int, Module | None] = {}  # per device index; None: unavailable there
_constant_slopes: dict[tuple, torch.Tensor] = {}
_lock = threading.Lock()


_compiling = getattr(torch.compiler, "is_compiling", lambda: False)  # PyTorch 2.3 and later
_ROCM = torch.version.hip is not None  # "cuda" tensors there, but no NVRTC or CUDA driver


def applies(x: torch.Tensor) -> bool:
    """Whether the one-pass epilogue may run on ``x``: a CUDA map outside autograd and outside
    a compiler's trace (which fuses these passes itself)."""
    return (
        ENABLED
        and x.is_cuda
        and not _ROCM
        and x.dtype in KERNELS
        and not (x.requires_grad and torch.is_grad_enabled())
        and not _compiling()
        and _modules.get(x.get_device(), True) is not None
    )


def bias_leaky(x: torch.Tensor, bias: torch.Tensor, slope: torch.Tensor | float) -> torch.Tensor:
    """``leaky(x + bias, slope)`` for a map ``x`` of shape (N, C, H, W), which it may overwrite:
    ``bias`` (C,); ``slope`` (C,) or one number (0 for ReLU, 1 for the bias alone). On CUDA one
    pass over ``x``, in place; PyTorch's ops where the kernel cannot take ``x``."""
    if _bias_leaky_on_device(x, bias, slope):
        return x
    return _leaky(x + bias.view(1, -1, 1, 1).to(x.dtype), slope)


def _bias_leaky_on_device(x: torch.Tensor, bias: torch.Tensor, slope: torch.Tensor | float) -> bool:
    """``bias_leaky`` in place by the kernel; False, having done nothing, where it cannot take
    ``x`` (another layout or device, C not a multiple of 16 bytes' worth, misaligned)."""
    if not applies(x) or x.dim() != 4:
        return False
    name, lanes = KERNELS[x.dtype]
    per_channel = _per_channel(bias, slope, x)
    if per_channel is None or not _vectors_fit(x, lanes):
        return False
    vectors = x.numel() // lanes
    arguments = [ctypes.c_void_p(t.data_ptr()) for t in (x, *per_channel)]
    arguments += [ctypes.c_longlong(vectors), ctypes.c_int(x.shape[1] // lanes)]
    return _launch(name, x, arguments, vectors)


def _leaky(x: torch.Tensor, slope: torch.Tensor | float) -> torch.Tensor:
    if isinstance(slope, torch.Tensor):
        return torch.where(x >= 0, x, x * slope.view(1, -1, 1, 1))
    return x if slope == 1.0 else torch.where(x >= 0, x, x * slope)


def sum_bias_leaky(
    parts: Sequence[tuple[torch.Tensor, int]],
    bias: torch.Tensor,
    slope: torch.Tensor | float,
    *,
    base: torch.Tensor | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """``leaky(sum of part[:, offset : offset + C] + bias, slope)``, then ``base + scale * that``
    where ``base`` is given, as a new channels-last map of C = ``len(bias)`` channels: one pass
    on CUDA, PyTorch's ops elsewhere. ``parts`` are (map, first channel) pairs of one size."""
    out = _sum_on_device(parts, bias, slope, base, scale)
    if out is not None:
        return out
    channels = bias.shape[0]
    total = bias.view(1, -1, 1, 1).to(parts[0][0].dtype)
    for part, offset in parts:
        total = total + part[:, offset : offset + channels]
    total = _leaky(total, slope)
    if base is not None:
        total = torch.add(base, total, alpha=scale)
    return total.contiguous(memory_format=torch.channels_last)


class _Parts(ctypes.Structure):
    """The kernel's ``Parts`` argument, field for field."""

    _fields_ = [
        ("data", ctypes.c_void_p * MAX_PARTS),
        ("stride", ctypes.c_int * MAX_PARTS),
        ("offset", ctypes.c_int * MAX_PARTS),
        ("count", ctypes.c_int),
    ]


def _sum_on_device(
    parts: Sequence[tuple[torch.Tensor, int]],
    bias: torch.Tensor,
    slope: torch.Tensor | float,
    base: torch.Tensor | None,
    scale: float,
) -> torch.Tensor | None:
    first = parts[0][0]
    if not applies(first) or first.dim() != 4 or not 1 <= len(parts) <= MAX_PARTS:
        return None
    lanes = KERNELS[first.dtype][1]
    channels, (n, _, height, width) = bias.shape[0], first.shape
    for part, offset in parts:
        if part.dtype != first.dtype or part.get_device() != first.get_device() or not _vectors_fit(part, lanes):
            return None
        if part.shape != (n, part.shape[1], height, width) or offset % lanes or offset + channels > part.shape[1]:
            return None
    shape = (n, channels, height, width)
    if base is not None and (base.shape != shape or base.dtype != first.dtype or not _vectors_fit(base, lanes)):
        return None
    out = torch.empty(shape, dtype=first.dtype, device=first.device, memory_format=torch.channels_last)
    per_channel = _per_channel(bias, slope, out)
    if per_channel is None or channels % lanes:
        return None
    table = _Parts(count=len(parts))
    for j, (part, offset) in enumerate(parts):
        table.data[j], table.stride[j], table.offset[j] = part.data_ptr(), part.shape[1] // lanes, offset // lanes
    arguments = [ctypes.c_void_p(out.data_ptr()), table]
    arguments += [ctypes.c_void_p(t.data_ptr()) for t in per_channel]
    arguments += [ctypes.c_void_p(base.data_ptr() if base is not None else None), ctypes.c_float(scale)]
    vectors = out.numel() // lanes
    arguments += [ctypes.c_longlong(vectors), ctypes.c_int(channels // lanes)]
    return out if _launch(SUM_KERNELS[first.dtype], first, arguments, vectors) else None


def _vectors_fit(x: torch.Tensor, lanes: int) -> bool:
    """A channels-last map the kernels can read in 16-byte vectors."""
    return (
        x.shape[1] % lanes == 0
        and x.is_contiguous(memory_format=torch.channels_last)
        and x.data_ptr() % VECTOR_BYTES == 0
    )


def _per_channel(
    bias: torch.Tensor, slope: torch.Tensor | float, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``bias`` and the slopes as (C,) vectors in ``like``'s dtype that the kernels can read;
    None where they cannot."""
    channels = like.shape[1]
    slopes = slope if isinstance(slope, torch.Tensor) else _constant_slope(float(slope), channels, like)
    vectors = [t if t.dtype == like.dtype else t.to(like.dtype) for t in (bias, slopes)]
    for t in vectors:
        if t.shape != (channels,) or t.get_device() != like.get_device() or not t.is_contiguous():
            return None
        if t.data_ptr() % VECTOR_BYTES:
            return None
    return vectors[0], vectors[1]


def _launch(name: str, like: torch.Tensor, arguments: list, vectors: int) -> bool:
    """Runs kernel ``name`` with one thread per 16-byte vector (of ``vectors``) on ``like``'s
    device; False where the kernels cannot run there."""
    module = _modules.get(like.get_device()) or _module(like.device)
    if module is None:
        return False
    blocks = min(-(-vectors // THREADS_PER_BLOCK), MAX_BLOCKS)
    try:
        module.launch(name, blocks, THREADS_PER_BLOCK, arguments)
    except KernelError as error:
        _give_up(like.device, error)
        return False
    return True


def _constant_slope(value: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    key = (value, channels, like.dtype, like.get_device())
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
