"""The official Real-ESRGAN weights against the ncnn runtime, and tiles against whole images."""

from __future__ import annotations

from pathlib import Path

import ncnn_reference
import numpy as np
import pytest
import torch
from support import photo_tensor

from uprez.core.archs import _rrdb_winograd, _staged
from uprez.core.engine import precision
from uprez.core.engine.upscaler import Upscaler

pytestmark = pytest.mark.slow

MODELS = [
    "realesrgan-x4plus",
    "realesrgan-x4plus-anime",
    "realesr-animevideov3-x4",
    "realesr-animevideov3-x3",
    "realesr-animevideov3-x2",
]
# The bar, in 8-bit levels: the same network on the same padded input.
MAX_LEVELS, MEAN_LEVELS = 2, 0.1
# Seam bar for x4plus with 64-px tiles and the default context, in 8-bit levels.
SEAM_MEAN, SEAM_BLOCK, BLOCK = 0.2, 1.5, 16
# bf16 against fp32 on the CPU, in 8-bit levels.
BF16_MEAN_LEVELS, BF16_MAX_LEVELS = 0.75, 12


def crop_for(stem: str, name: str) -> torch.Tensor:
    image = photo_tensor(name)
    size = 48 if "x4plus" in stem else 96  # RRDBNet costs 29x the compact model per pixel
    return image[:, :size, :size].contiguous()


@pytest.mark.parametrize("stem", MODELS)
@pytest.mark.parametrize("photo", ["astronaut_face.png", "coffee_cup.png"])
def test_whole_image_output_matches_the_ncnn_runtime(stem: str, photo: str, real_model, ncnn_models: Path) -> None:
    model = real_model(stem)
    image = crop_for(stem, photo)
    ours = Upscaler(model, prepad=10).upscale(image, out_dtype=torch.uint8).numpy().astype(np.int16)
    net = ncnn_reference.make_net(ncnn_models / f"{stem}.param")
    theirs = ncnn_reference.to_8bit(ncnn_reference.upscale(net, image.numpy(), model.scale, prepad=10))
    assert ours.shape == theirs.shape
    difference = np.abs(ours - theirs)
    assert difference.max() <= MAX_LEVELS, f"max {difference.max()} levels"
    assert difference.mean() <= MEAN_LEVELS, f"mean {difference.mean():.4f} levels"


def block_means(difference: torch.Tensor, size: int) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(difference.mean(0, keepdim=True).unsqueeze(0), size)


def test_x4plus_tiles_are_seamless_with_the_default_context(real_model) -> None:
    model = real_model("realesrgan-x4plus")
    image = photo_tensor("coffee_cup.png")[:, :112, :112].contiguous()
    whole_upscaler = Upscaler(model)
    assert whole_upscaler.plan(112, 112).whole_image
    whole = whole_upscaler.upscale(image)
    tiled_upscaler = Upscaler(model, tile=64)
    assert tiled_upscaler.plan(112, 112).tiles == 4
    tiled = tiled_upscaler.upscale(image)
    difference = (tiled - whole).abs() * 255
    assert difference.mean() <= SEAM_MEAN, f"mean {difference.mean():.3f} levels"
    assert block_means(difference, BLOCK).max() <= SEAM_BLOCK


def test_compact_tiles_equal_the_whole_image(real_model) -> None:
    model = real_model("realesr-animevideov3-x3")  # resize included: exact per tile too
    image = photo_tensor("astronaut_face.png")
    whole = Upscaler(model).upscale(image)
    tiled = Upscaler(model, tile=40).upscale(image)
    assert (tiled - whole).abs().max() < 1e-4


def test_ncnn_reference_itself_is_tile_consistent_for_the_compact_model(ncnn_models: Path) -> None:
    # Guards the reference harness: with prepad 20 > the compact model's 18-px receptive radius,
    # ncnn's own tiled and whole outputs agree, so a mismatch above is uprez's, not the harness's.
    net = ncnn_reference.make_net(ncnn_models / "realesr-animevideov3-x4.param")
    image = photo_tensor("coffee_cup.png")[:, :64, :64].numpy()
    whole = ncnn_reference.upscale(net, image, 4, prepad=20)
    tiled = ncnn_reference.upscale(net, image, 4, prepad=20, tile=32)
    assert np.abs(whole - tiled).max() < 1e-3


@pytest.mark.parametrize("stem", ["realesrgan-x4plus", "realesr-animevideov3-x4"])
def test_bf16_on_the_cpu_stays_close_to_fp32(stem: str, real_model, monkeypatch: pytest.MonkeyPatch) -> None:
    # Where the CPU lacks AMX/AVX512-BF16 PyTorch emulates bf16: slower, the same numbers.
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    model = real_model(stem)
    image = crop_for(stem, "astronaut_face.png")
    fp32 = Upscaler(model, device="cpu", precision="fp32").upscale(image, out_dtype=torch.uint8)
    bf16_upscaler = Upscaler(model, device="cpu", precision="bf16")
    bf16 = bf16_upscaler.upscale(image, out_dtype=torch.uint8)
    assert bf16_upscaler.describe() == "cpu, bf16"
    difference = (bf16.int() - fp32.int()).abs().float()
    # Measured here: mean 0.40 / 0.18, max 8 / 3 levels (x4plus / animevideov3) on this crop.
    assert 0 < difference.mean() <= BF16_MEAN_LEVELS, f"mean {difference.mean():.3f} levels"
    assert difference.max() <= BF16_MAX_LEVELS, f"max {difference.max():.0f} levels"


# 132 px: the last block tile's window (49 px) has as many 6-px Winograd tiles as the one before
# it (54 px) but fewer pixels, which once read stale padding (up to 9 levels off).
@pytest.mark.parametrize("side", [128, 132])
def test_the_default_path_equals_the_plain_network(side: int, real_model, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bar for the fast fp32 path: within one level of the network as written, on the
    # whole image (border 0 on both sides). The block tiles are made to cut this small crop.
    model = real_model("realesrgan-x4plus")
    image = photo_tensor("coffee_cup.png")
    if side != image.shape[-1]:
        image = torch.nn.functional.interpolate(image.unsqueeze(0), size=(side, side), mode="bicubic")[0].clamp(0, 1)
    monkeypatch.setattr(_staged, "CPU_TILE", 48)
    monkeypatch.setattr(_staged, "CPU_TILES_ABOVE", 64)
    upscaler = Upscaler(model, device="cpu", prepad=0)
    assert upscaler.plan(side, side).whole_image
    ours = upscaler.upscale(image, out_dtype=torch.uint8).int()
    monkeypatch.setattr(_staged, "CPU_TILES_ABOVE", 10**6)
    monkeypatch.setattr(_rrdb_winograd, "ENABLED", False)
    with torch.inference_mode():
        plain = model.net(image.unsqueeze(0))[0].clamp(0, 1).mul(255).add(0.5).floor().int()
    # Winograd's rounding differs from direct convolution's: 46 of 786,432 values one level apart.
    assert (ours - plain).abs().max() <= 1
