"""Choosing the numeric precision for a device and an architecture."""

from __future__ import annotations

import torch

from ..archs import Architecture
from ..errors import DeviceError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# torch.cpu's probes for the instructions oneDNN runs bf16 convs on: AMX tiles (Sapphire Rapids
# and later: 4-7x the fp32 rate here) or AVX512-BF16 (Cooper Lake, Zen 4).
_CPU_BF16_PROBES = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
# Where each half precision is refused on the CPU, for its error message.
_CPU_LACKS = {"fp16": "the CPU", "bf16": "this CPU (no AMX or AVX512-BF16)"}


def pick_dtype(requested: str, device: torch.device, arch: Architecture) -> torch.dtype:
    """fp32 on CPU and MPS; on CUDA fp16 (or bf16) only where the architecture is known safe.

    An explicit request is honoured where the hardware runs it natively: bf16 on a CPU with
    AMX or AVX512-BF16 too. fp16 on the CPU, and bf16 on one without those, are refused: PyTorch
    emulates them there, several times slower than fp32.
    """
    if requested == "auto":
        if device.type != "cuda":
            return torch.float32
        if arch.fp16_safe:
            return torch.float16
        if arch.bf16_safe and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if requested not in PRECISIONS:
        raise DeviceError(f"unknown precision '{requested}'", hint="use auto, fp32, fp16 or bf16")
    dtype = PRECISIONS[requested]
    if device.type == "cpu" and not cpu_runs_natively(requested):
        raise DeviceError(f"precision {requested} is not supported on {_CPU_LACKS[requested]}", hint=_cpu_hint())
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU has no bf16 support", hint="use fp16 or auto")
    return dtype


def cpu_runs_natively(requested: str) -> bool:
    """Whether the CPU runs ``requested`` (auto, fp32, fp16, bf16) in hardware, not emulated."""
    return requested in ("auto", "fp32") or (requested == "bf16" and cpu_has_native_bf16())


def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bf16 convolutions in hardware rather than emulating them."""
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in _CPU_BF16_PROBES)


def _cpu_hint() -> str:
    return "use fp32 or auto, or bf16 (this CPU has it)" if cpu_has_native_bf16() else "use fp32 or auto"


def name_of(dtype: torch.dtype) -> str:
    return next(name for name, known in PRECISIONS.items() if known == dtype)
