"""Image files in and out: any common format, 8/16-bit and float, alpha, ICC, EXIF."""

from .picture import Picture, from_tensor, to_tensor
from .read import read_image
from .resample import resize
from .write import FORMATS, check_target, format_for, write_image

__all__ = [
    "FORMATS",
    "Picture",
    "check_target",
    "format_for",
    "from_tensor",
    "read_image",
    "resize",
    "to_tensor",
    "write_image",
]
