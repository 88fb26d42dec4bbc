"""torch.compile for a network's hot blocks on CUDA.

cuDNN runs the convolutions; around them PyTorch's eager mode makes separate passes over every
feature map for the bias, the activation and RRDBNet's concatenations. In fp16 on an H200 those
passes took more time than the convolutions (benchmarks/gpu_levers.py, 2000x1500 photo):
compiled, x4plus's dense block went from 10.5 to 7.1 ms and animevideov3's whole network from
27.5 to 12.4 ms. uprez's own CUDA kernels now do better without a compiler (_cuda_epilogue,
_dense_partial_sums: on an H100 x4plus 6.51 MP/s against 4.52 compiled) and run first where
they apply (fp16 and fp32); compiling is left for the rest (RRDBNet in bf16). It costs seconds
per network and process (4.5 to 16 s measured), so it is asked for (``Upscaler(compile=True)``,
``uprez upscale --compile``, the nodes' ``compile``), not default.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable

import torch

from ..errors import first_line
from .device import is_out_of_memory

# One compiled version per function, shared by every block that runs it: the weights are
# arguments, so 69 dense blocks compile once (per dtype; sizes are symbolic).
_compiled: dict[Callable, Callable] = {}


def available(device: torch.device) -> bool:
    """Whether compiling pays here: CUDA, with Triton (Inductor's GPU code generator) installed."""
    return device.type == "cuda" and importlib.util.find_spec("triton") is not None


def compiled(function: Callable) -> Callable:
    """``function`` compiled for any image size, falling back to itself if compiling fails."""
    if function not in _compiled:
        _compiled[function] = _WithFallback(function, torch.compile(function, dynamic=True))
    return _compiled[function]


class _WithFallback:
    """Calls the compiled function; the first time compiling fails, says so on stderr and runs
    the plain function from then on (a missing compiler must not stop an upscale)."""

    def __init__(self, plain: Callable, fast: Callable) -> None:
        self.plain, self.fast, self.failed = plain, fast, False

    def __call__(self, *args: object) -> torch.Tensor:
        if not self.failed:
            try:
                return self.fast(*args)
            except Exception as error:
                if is_out_of_memory(error):
                    raise  # the engine splits the tile and tries again
                self.failed = True
                print(f"uprez: compiling failed, running uncompiled ({first_line(error)})", file=sys.stderr)
        return self.plain(*args)
