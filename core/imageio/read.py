"""Reading images: Pillow for metadata and ordinary pixels, OpenCV for deep-colour pixels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageReadError, first_line
from .orientation import ORIENTATION_TAG, apply_orientation
from .picture import Picture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_GRAY_ALPHA = 4
PNG_DEEP_TYPES = (2, 4, 6)  # RGB, gray+alpha, RGBA; 16-bit gray Pillow reads itself
TIFF_BITS_PER_SAMPLE = 258
TIFF_ICC_PROFILE = 34675
TIFF_SUFFIXES = (".tif", ".tiff")
# Guards against decompression bombs while allowing real large scans (Pillow's own default
# is 89 Mpx, which refuses legitimate 12000x9000 scans).
MAX_PIXELS = 400_000_000


def read_image(path: str | os.PathLike[str]) -> Picture:
    """Decodes ``path`` at its own bit depth, upright, with its ICC profile and EXIF.

    Raises:
        ImageReadError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return _read_npy(path)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            orientation = int(exif.get(ORIENTATION_TAG, 1) or 1)
            icc = image.info.get("icc_profile")
            fmt = image.format or "PNG"
            if _is_deep_colour(path, image):
                pixels = _read_deep(path)
            else:
                pixels, icc = _pillow_pixels(image, icc)
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image") from None
    except UnidentifiedImageError:
        if path.suffix.lower() in TIFF_SUFFIXES:
            return _read_tiff_pillow_cannot(path)  # e.g. float RGB or 16-bit gray+alpha
        raise ImageReadError(path, "not an image uprez can read (PNG, JPEG, WebP, TIFF, BMP)") from None
    except Image.DecompressionBombError as error:
        raise ImageReadError(path, f"too many pixels ({error})") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageReadError(path, f"cannot be decoded: {first_line(error)}") from error
    if orientation != 1 and ORIENTATION_TAG in exif:
        exif[ORIENTATION_TAG] = 1
    return Picture(apply_orientation(pixels, orientation), icc, exif.tobytes() if exif else None, fmt)


def _is_deep_colour(path: Path, image: Image.Image) -> bool:
    """True for 16-bit colour or gray+alpha, which Pillow would cut to 8 bits."""
    if image.format == "PNG":
        bit_depth, colour_type = _png_header(path)
        return bit_depth == 16 and colour_type in PNG_DEEP_TYPES
    if image.format == "TIFF":
        bits = image.tag_v2.get(TIFF_BITS_PER_SAMPLE, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return len(bits) > 1 and max(bits) > 8
    return False


def _png_header(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) from the IHDR chunk, which always comes first."""
    with open(path, "rb") as handle:
        header = handle.read(26)
    if len(header) < 26 or header[:8] != PNG_SIGNATURE:
        return 0, 0
    return header[24], header[25]


def _read_deep(path: Path) -> np.ndarray:
    if path.suffix.lower() in TIFF_SUFFIXES:
        try:
            return _tiff_pixels(path)
        except (ValueError, KeyError, NotImplementedError):
            pass  # a compression tifffile cannot decode without imagecodecs (LZW, JPEG): OpenCV can
    import cv2  # deferred: only deep-colour files need OpenCV

    decoded = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ValueError("OpenCV could not decode the 16-bit data")
    if decoded.ndim == 2:
        return decoded[:, :, None]
    if decoded.shape[2] == 4 and _png_header(path)[1] == PNG_GRAY_ALPHA:
        return np.ascontiguousarray(decoded[:, :, [0, 3]])  # OpenCV expands gray+alpha to BGRA
    order = [2, 1, 0, 3][: decoded.shape[2]]
    return np.ascontiguousarray(decoded[:, :, order])


def _pillow_pixels(image: Image.Image, icc: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """Pixels of an ordinary image as (H, W, C); palette, CMYK and bilevel become RGB(A)/L."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.uint16)[:, :, None], icc
    if mode == "F":
        return np.asarray(image, dtype=np.float32)[:, :, None], icc
    if mode == "I":
        values = np.asarray(image)
        if values.min() < 0 or values.max() > 65535:
            raise ValueError("32-bit integer samples outside 0..65535 are not supported")
        return values.astype(np.uint16)[:, :, None], icc
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
        icc = None  # the profile described the old colour space
    elif mode in ("RGBa", "La"):
        image = image.convert(mode.upper())
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise ValueError(f"pixel mode {mode} is not supported")
    pixels = np.array(image)  # a writable copy: torch refuses read-only arrays
    return (pixels[:, :, None] if pixels.ndim == 2 else pixels), icc


def _tiff_pixels(path: Path) -> np.ndarray:
    import tifffile  # deferred: only deep TIFFs need it

    pixels = tifffile.imread(path, key=0)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"{pixels.dtype} samples are not supported")
    return np.ascontiguousarray(pixels)


def _read_tiff_pillow_cannot(path: Path) -> Picture:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            tags = tiff.pages[0].tags
            icc = bytes(tags[TIFF_ICC_PROFILE].value) if TIFF_ICC_PROFILE in tags else None
            orientation = int(tags[ORIENTATION_TAG].value) if ORIENTATION_TAG in tags else 1
        pixels = _tiff_pixels(path)
    except (ValueError, KeyError, NotImplementedError, tifffile.TiffFileError) as error:
        raise ImageReadError(path, f"cannot be decoded: {first_line(error)}") from error
    return Picture(apply_orientation(pixels, orientation), icc, None, "TIFF")


def _read_npy(path: Path) -> Picture:
    """Raw (H, W, C) samples written by a program (uint8, uint16 or float32); never a pickle."""
    try:
        pixels = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except (OSError, ValueError, EOFError) as error:
        raise ImageReadError(path, f"cannot be read as raw samples: {first_line(error)}") from error
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise ImageReadError(path, f"raw samples must be (height, width, 1-4 channels), not {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16, np.float32):
        raise ImageReadError(path, f"raw samples must be uint8, uint16 or float32, not {pixels.dtype}")
    return Picture(np.ascontiguousarray(pixels), format="NPY")
