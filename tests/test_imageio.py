"""Image files: formats, bit depths, alpha, ICC and EXIF, atomic writes, clear errors."""

from __future__ import annotations

import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps
from support import DATA

from uprez.core.errors import ImageReadError, ImageWriteError
from uprez.core.imageio import Picture, read_image, write_image
from uprez.core.imageio import write as write_module

RNG = np.random.default_rng(0)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def random_pixels(channels: int, dtype, size=(9, 13)) -> np.ndarray:
    peak = np.iinfo(dtype).max
    return RNG.integers(0, peak + 1, size=(*size, channels), dtype=np.int64).astype(dtype)


def raw_png(path: Path, pixels: np.ndarray, colour_type: int) -> Path:
    """A PNG written byte by byte (any colour type, 8 or 16 bits), independent of uprez's writers."""
    height, width, _ = pixels.shape
    depth = pixels.dtype.itemsize * 8
    rows = pixels.astype(pixels.dtype.newbyteorder(">")).reshape(height, -1).view(np.uint8)
    data = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


@pytest.mark.parametrize(("channels", "colour_type"), [(1, 0), (2, 4), (3, 2), (4, 6)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_is_read_at_its_own_depth(tmp_path: Path, channels: int, colour_type: int, dtype) -> None:
    pixels = random_pixels(channels, dtype)
    picture = read_image(raw_png(tmp_path / "in.png", pixels, colour_type))
    assert picture.pixels.dtype == dtype
    np.testing.assert_array_equal(picture.pixels, pixels)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_lossless_round_trip(tmp_path: Path, channels: int, dtype, suffix: str) -> None:
    pixels = random_pixels(channels, dtype)
    path = write_image(tmp_path / f"out{suffix}", Picture(pixels, icc=SRGB))
    back = read_image(path)
    expected = pixels if not (channels == 2 and dtype == np.uint16 and suffix == ".png") else None
    if expected is None:  # 16-bit gray+alpha PNG is stored as RGBA with equal colour channels
        assert back.pixels.shape[2] == 4
        np.testing.assert_array_equal(back.pixels[:, :, [0, 3]], pixels)
        np.testing.assert_array_equal(back.pixels[:, :, 1], pixels[:, :, 0])
    else:
        np.testing.assert_array_equal(back.pixels, expected)
    assert back.icc == SRGB


def test_float_tiff_round_trip(tmp_path: Path) -> None:
    pixels = RNG.random((7, 5, 3), dtype=np.float32)
    back = read_image(write_image(tmp_path / "f.tif", Picture(pixels)))
    assert back.pixels.dtype == np.float32
    np.testing.assert_array_equal(back.pixels, pixels)


def test_sixteen_bit_tiff_written_elsewhere_is_read(tmp_path: Path) -> None:
    pixels = random_pixels(3, np.uint16)
    tifffile.imwrite(tmp_path / "x.tif", pixels, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "x.tif").pixels, pixels)


def test_lossy_and_plain_formats(tmp_path: Path) -> None:
    photo = read_image(DATA / "coffee_cup.png")
    for suffix, tolerance in ((".jpg", 12), (".webp", 12), (".bmp", 0)):
        back = read_image(write_image(tmp_path / f"x{suffix}", photo))
        assert back.pixels.shape == photo.pixels.shape
        assert np.abs(back.pixels.astype(int) - photo.pixels.astype(int)).mean() <= tolerance


def test_sixteen_bit_goes_to_eight_for_jpeg(tmp_path: Path) -> None:
    pixels = np.full((4, 4, 3), 257 * 200, dtype=np.uint16)
    back = read_image(write_image(tmp_path / "x.jpg", Picture(pixels)))
    assert back.pixels.dtype == np.uint8 and abs(int(back.pixels.mean()) - 200) <= 1


def test_palette_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    image = Image.new("P", (6, 4))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.save(tmp_path / "p.png", transparency=0)
    picture = read_image(tmp_path / "p.png")
    assert picture.channels == 4
    assert tuple(picture.pixels[1, 1]) == (255, 0, 0, 255) and picture.pixels[0, 0, 3] == 0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_and_reset(tmp_path: Path, orientation: int) -> None:
    image = Image.fromarray(random_pixels(3, np.uint8, size=(5, 8)))
    exif = Image.Exif()
    exif[274] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    picture = read_image(tmp_path / "o.png")
    with Image.open(tmp_path / "o.png") as reopened:
        upright = np.asarray(ImageOps.exif_transpose(reopened))
    np.testing.assert_array_equal(picture.pixels, upright)
    carried = Image.Exif()
    carried.load(picture.exif)
    assert carried.get(274, 1) == 1


def test_icc_and_exif_reach_jpeg_and_sixteen_bit_png(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "uprez test camera"
    picture = Picture(random_pixels(3, np.uint8), icc=SRGB, exif=exif.tobytes())
    for path in (tmp_path / "a.jpg", tmp_path / "b.png"):
        with Image.open(write_image(path, picture)) as written:
            assert written.info.get("icc_profile") == SRGB
            assert written.getexif().get(0x010F) == "uprez test camera"
    deep = Picture(random_pixels(3, np.uint16), icc=SRGB, exif=exif.tobytes())
    with Image.open(write_image(tmp_path / "c.png", deep)) as written:
        assert written.info.get("icc_profile") == SRGB
        assert written.getexif().get(0x010F) == "uprez test camera"


def test_writes_never_clobber_and_leave_no_temporary_files(tmp_path: Path) -> None:
    picture = Picture(random_pixels(3, np.uint8))
    target = write_image(tmp_path / "x.png", picture)
    with pytest.raises(ImageWriteError, match="already exists"):
        write_image(target, Picture(random_pixels(3, np.uint8)))
    np.testing.assert_array_equal(read_image(target).pixels, picture.pixels)
    write_image(target, Picture(np.zeros((2, 2, 3), np.uint8)), overwrite=True)
    assert read_image(target).pixels.shape == (2, 2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_outputs_get_the_permissions_of_a_new_file_or_of_the_one_they_replace(tmp_path: Path) -> None:
    target = write_image(tmp_path / "x.png", Picture(random_pixels(3, np.uint8)))
    assert stat.S_IMODE(target.stat().st_mode) == write_module.NEW_FILE_MODE
    mask = os.umask(0o022)
    os.umask(mask)
    assert write_module.NEW_FILE_MODE == 0o666 & ~mask  # not mkstemp's 0600
    target.chmod(0o640)
    write_image(target, Picture(random_pixels(3, np.uint8)), overwrite=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args, **kwargs):
        def write(target: Path) -> None:
            target.write_bytes(b"half a file")
            raise OSError("disk full")

        return write

    monkeypatch.setattr(write_module, "_opencv_png_writer", explode)  # what writes 8-bit PNG
    with pytest.raises(ImageWriteError, match="disk full"):
        write_image(tmp_path / "x.png", Picture(random_pixels(3, np.uint8)))
    assert list(tmp_path.iterdir()) == []


def test_transparency_is_never_dropped_silently(tmp_path: Path) -> None:
    with pytest.raises(ImageWriteError, match="cannot store transparency"):
        write_image(tmp_path / "x.jpg", Picture(random_pixels(4, np.uint8)))
    with pytest.raises(ImageWriteError, match="unknown output type"):
        write_image(tmp_path / "x.gif", Picture(random_pixels(3, np.uint8)))


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "no such file"), (b"just text", "not an image"), ("truncated", "cannot be decoded")],
)
def test_unreadable_inputs_give_one_line(tmp_path: Path, content, problem: str) -> None:
    path = tmp_path / "bad.png"
    if content == "truncated":
        data = (DATA / "coffee_cup.png").read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    message = str(caught.value)
    assert problem in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_raw_npy_samples_round_trip_exactly(tmp_path: Path, dtype, channels: int) -> None:
    pixels = RNG.random((6, 5, channels)).astype(np.float32) if dtype == np.float32 else random_pixels(channels, dtype)
    back = read_image(write_image(tmp_path / "raw.npy", Picture(pixels)))
    assert back.pixels.dtype == pixels.dtype
    np.testing.assert_array_equal(back.pixels, pixels)


def test_npy_that_is_a_pickle_or_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageReadError, match="cannot be read as raw samples"):
        read_image(tmp_path / "objects.npy")
    np.save(tmp_path / "flat.npy", np.zeros(7, np.uint8))
    with pytest.raises(ImageReadError, match="must be"):
        read_image(tmp_path / "flat.npy")
