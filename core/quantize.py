"""Float samples in [0, 1] to integer levels, rounded the way the model's original tool did.

The seed systems differ in their last step (reference section 0.6): ncnn, Real-ESRGAN's
readers and neural-enhance round half up, krasserm's ``tf.round`` rounds half to even, and
idealo ISR's ``np.uint8`` truncates. Reproducing it keeps uprez's files equal to theirs.
"""

from __future__ import annotations

import torch

ROUNDINGS = ("half_up", "half_even", "truncate")


def quantize_(samples: torch.Tensor, peak: float, rounding: str = "half_up") -> torch.Tensor:
    """Clamps ``samples`` to [0, 1], scales to [0, peak] and rounds in place (still float)."""
    samples = samples.clamp_(0.0, 1.0).mul_(peak)
    if rounding == "half_up":
        return samples.add_(0.5).floor_()
    if rounding == "half_even":
        return samples.round_()
    if rounding == "truncate":
        return samples.floor_()
    raise ValueError(f"unknown rounding {rounding!r}; expected one of {ROUNDINGS}")
