"""The tiling engine: device, precision, tiles, memory."""

from .upscaler import DEFAULT_PREPAD, Plan, Progress, Upscaler

__all__ = ["DEFAULT_PREPAD", "Plan", "Progress", "Upscaler"]
