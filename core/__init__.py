"""The uprez core: weights, architectures, the tiling engine and image files.

It knows nothing of GIMP or ComfyUI. Tensor contract everywhere inside: ``(N, C, H, W)``
float in [0, 1], RGB order (or one channel).
"""

from .engine.upscaler import DEFAULT_PREPAD, Plan, Progress, Upscaler
from .errors import (
    Cancelled,
    ChecksumError,
    DownloadError,
    ImageReadError,
    ImageWriteError,
    ModelNotFoundError,
    OutOfMemoryError,
    UnknownArchitectureError,
    UprezError,
    WeightFileError,
)
from .imageio import Picture, read_image, write_image
from .model import LoadedModel, load_model
from .models import open_model, resolve
from .pipeline import upscale_picture

__all__ = [
    "DEFAULT_PREPAD",
    "Cancelled",
    "ChecksumError",
    "DownloadError",
    "ImageReadError",
    "ImageWriteError",
    "LoadedModel",
    "ModelNotFoundError",
    "OutOfMemoryError",
    "Picture",
    "Plan",
    "Progress",
    "UnknownArchitectureError",
    "Upscaler",
    "UprezError",
    "WeightFileError",
    "load_model",
    "open_model",
    "read_image",
    "resolve",
    "upscale_picture",
    "write_image",
]
