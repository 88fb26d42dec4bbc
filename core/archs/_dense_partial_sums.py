"""ESRGAN's dense block on CUDA without concatenations: convs grouped by input, summed after.

Conv i of the block reads the concatenation [x, f1, ..., fi], so its result is a sum of one
conv per input: x's share, f1's share, and so on. Grouped by input instead, each input goes
through one conv that computes its share of every later conv at once (x: 32 + 32 + 32 + 32 +
64 = 192 output channels), and each new feature is the sum of its shares, its bias and its
activation in one pass (``_cuda_epilogue.sum_bias_leaky``); the last adds the block's
residual too. The multiplications are the same. What goes: the concatenations (36% of
x4plus's fp16 forward on an H200, benchmarks/gpu_levers.py profile) and conv1-4's 32-channel
outputs, which cuDNN ran at half conv5's rate. What it costs: the shares are rounded to the
map's dtype before they are summed, and they take 640 channels per pixel at the block's end
against 192 for the concatenation (``RRDBNet.bytes_per_pixel``).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ._cuda_epilogue import applies as one_pass_applies
from ._cuda_epilogue import sum_bias_leaky

ENABLED = True  # False: the one-pass epilogues over concatenations (for comparisons)
# bf16's 8-bit mantissa would round each share of a sum: there the concatenations stay.
DTYPES = (torch.float16, torch.float32)


def applies(x: torch.Tensor) -> bool:
    """Whether the dense blocks run in grouped convs over map ``x``: fp16 or fp32 on CUDA,
    where the one-pass kernels run."""
    return ENABLED and x.dtype in DTYPES and one_pass_applies(x)


def producer_weights(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """For each input of the block (x, then each new feature), the kernels of every conv that
    reads it, stacked by output channel in the convs' order: one conv per input."""
    widths = [weights[0].shape[1]] + [w.shape[0] for w in weights[:-1]]
    starts = [sum(widths[:j]) for j in range(len(widths))]
    return [
        torch.cat([w[:, start : start + width] for w in weights[j:]]).contiguous(memory_format=torch.channels_last)
        for j, (start, width) in enumerate(zip(starts, widths, strict=True))
    ]


def dense_block(
    x: torch.Tensor,
    producers: list[torch.Tensor],
    biases: list[torch.Tensor],
    *,
    negative_slope: float,
    residual_scale: float,
) -> torch.Tensor:
    """The residual dense block over ``x`` (N, C, H, W), channels-last, from
    ``producer_weights`` of its convs: ``x + residual_scale * conv5(...)`` as written."""
    widths = [bias.shape[0] for bias in biases]
    shares: list[torch.Tensor] = []
    features = x
    for i, bias in enumerate(biases):
        shares.append(F.conv2d(features, producers[i], None, padding=1))
        # In the conv of input j, conv i's rows come after those of convs j .. i-1.
        parts = [(share, sum(widths[j:i])) for j, share in enumerate(shares)]
        if i < len(biases) - 1:
            features = sum_bias_leaky(parts, bias, negative_slope)
        else:
            return sum_bias_leaky(parts, bias, 1.0, base=x, scale=residual_scale)
    raise ValueError("a dense block needs at least one conv")
