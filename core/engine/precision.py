"""Choosing the numeric precision for a device and an architecture."""

from __future__ import annotations

import torch

from ..archs import Architecture
from ..errors import DeviceError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def pick_dtype(requested: str, device: torch.device, arch: Architecture) -> torch.dtype:
    """fp32 on CPU and MPS; on CUDA fp16 (or bf16) only where the architecture is known safe.

    An explicit request is honoured where the hardware can run it at all; half precision on
    the CPU is refused because PyTorch lacks most half kernels there and emulates the rest.
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
    if dtype != torch.float32 and device.type == "cpu":
        raise DeviceError(f"precision {requested} is not supported on the CPU", hint="use fp32 or auto")
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU has no bf16 support", hint="use fp16 or auto")
    return dtype


def name_of(dtype: torch.dtype) -> str:
    return next(name for name, known in PRECISIONS.items() if known == dtype)
