"""From picture to picture: channels, alpha, depth and any output scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import photo, seeded_weights

from uprez.core import pipeline
from uprez.core.archs import get
from uprez.core.engine.upscaler import Upscaler
from uprez.core.errors import UprezError
from uprez.core.imageio import Picture, resize, to_tensor
from uprez.core.model import LoadedModel
from uprez.core.pipeline import LUMA, Stage, upscale_picture


def upscaler(in_channels: int = 3, upscale: int = 4) -> Upscaler:
    net = get("srvgg").module(in_channels=in_channels, out_channels=in_channels, num_features=8, num_conv=2,
                              upscale=upscale)  # fmt: skip
    return Upscaler(LoadedModel(seeded_weights(net, 2), get("srvgg"), "t", None, {}))  # type: ignore[arg-type]


def photo_picture(dtype=np.uint8, size: int = 20) -> Picture:
    pixels = photo("coffee_cup.png")[:size, : size + 3]
    if dtype == np.uint16:
        # Real photo values plus a sub-8-bit ramp, so a silent 8-bit round trip would show.
        ramp = np.linspace(0, 200, pixels.size).reshape(pixels.shape)
        return Picture(np.clip(pixels * 65535 - ramp, 0, 65535).astype(np.uint16))
    if dtype == np.float32:
        return Picture(pixels.astype(np.float32))
    return Picture((pixels * 255 + 0.5).astype(np.uint8))


@pytest.mark.parametrize(("scale", "size"), [(None, (80, 92)), (2, (40, 46)), (3, (60, 69)), (1.5, (30, 34)),
                                             (8, (160, 184)), (0.5, (10, 12))])  # fmt: skip
def test_any_scale_gives_the_rounded_size(scale, size) -> None:
    result = upscale_picture(photo_picture(), upscaler(), scale=scale)
    assert result.pixels.shape[:2] == size


def test_scales_above_the_model_run_it_again() -> None:
    stages: list[Stage] = []
    upscale_picture(photo_picture(), upscaler(), scale=8, progress=stages.append)
    assert {s.name for s in stages} == {"colour, pass 1 of 2", "colour, pass 2 of 2"}


def test_downscale_is_antialiased_lanczos() -> None:
    up = upscaler()
    source = photo_picture()
    full = upscale_picture(source, up)
    half = upscale_picture(source, up, scale=2)
    expected = resize(to_tensor(full.pixels), 40, 46)
    assert np.abs(half.pixels.astype(int) - (expected.permute(1, 2, 0).numpy() * 255 + 0.5).astype(int)).max() <= 1


def test_sixteen_bit_stays_sixteen_bit() -> None:
    result = upscale_picture(photo_picture(np.uint16), upscaler())
    assert result.pixels.dtype == np.uint16
    assert np.count_nonzero(result.pixels % 257) > result.pixels.size // 2


def test_float_stays_float() -> None:
    result = upscale_picture(photo_picture(np.float32), upscaler())
    assert result.pixels.dtype == np.float32 and result.pixels.shape == (80, 92, 3)


def test_gray_goes_through_an_rgb_model_and_comes_back_as_luma() -> None:
    up = upscaler()
    colour = photo_picture()
    gray = Picture(colour.pixels[:, :, :1].copy())
    result = upscale_picture(gray, up)
    assert result.pixels.shape == (80, 92, 1)
    replicated = upscale_picture(Picture(np.repeat(gray.pixels, 3, axis=2)), up).pixels.astype(np.float64)
    luma = (replicated * np.array(LUMA)).sum(axis=2, keepdims=True)
    assert np.abs(result.pixels - luma).max() <= 1.0


def test_one_channel_models_take_each_colour_plane() -> None:
    up = upscaler(in_channels=1)
    colour = photo_picture()
    result = upscale_picture(colour, up)
    single = upscale_picture(Picture(colour.pixels[:, :, 1:2].copy()), up)
    np.testing.assert_array_equal(result.pixels[:, :, 1:2], single.pixels)


def test_alpha_is_kept_resized_or_through_the_model() -> None:
    up = upscaler()
    colour = photo_picture().pixels
    alpha = np.zeros(colour.shape[:2] + (1,), np.uint8)
    alpha[5:15, 4:12] = 255
    picture = Picture(np.concatenate([colour, alpha], axis=2))
    resized = upscale_picture(picture, up)
    plain = upscale_picture(Picture(colour), up)
    np.testing.assert_array_equal(resized.pixels[:, :, :3], plain.pixels)
    expected_alpha = resize(to_tensor(alpha), 80, 92)[0].numpy() * 255
    assert np.abs(resized.pixels[:, :, 3] - expected_alpha).max() <= 1.0
    by_model = upscale_picture(picture, up, alpha="model")
    gray_alpha = upscale_picture(Picture(alpha), up).pixels[:, :, 0]
    np.testing.assert_array_equal(by_model.pixels[:, :, 3], gray_alpha)


def test_opaque_alpha_stays_exactly_opaque() -> None:
    colour = photo_picture(np.uint16).pixels
    picture = Picture(np.concatenate([colour, np.full(colour.shape[:2] + (1,), 65535, np.uint16)], axis=2))
    result = upscale_picture(picture, upscaler())
    assert (result.pixels[:, :, 3] == 65535).all()


def test_bad_scale_and_alpha_mode_are_refused() -> None:
    with pytest.raises(UprezError, match="scale must be"):
        upscale_picture(photo_picture(), upscaler(), scale=0)
    with pytest.raises(UprezError, match="alpha mode"):
        upscale_picture(photo_picture(), upscaler(), alpha="drop")


def test_progress_reports_tiles_per_stage() -> None:
    stages: list[Stage] = []
    up = upscaler()
    up.fixed_tile = 8
    upscale_picture(photo_picture(), up, progress=stages.append)
    assert stages[-1].tiles.done == stages[-1].tiles.total == 9


@pytest.mark.parametrize("rrdb", [False, True], ids=["srvgg", "rrdbnet"])
def test_eight_bit_rounded_by_the_engine_equals_the_float_path(rrdb: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pass of an 8-bit picture asks the engine for 8-bit samples (on CUDA rounded on the
    device, with no float copy of the output); the general path rounds a float output on the
    host. The same samples and the same progress either way."""
    if rrdb:
        net = seeded_weights(get("rrdbnet").module(num_features=8, num_blocks=1, growth_channels=4), 2)
        engine = Upscaler(LoadedModel(net.eval(), get("rrdbnet"), "test", None, {}), tile=8)
    else:
        engine = Upscaler(upscaler().model, tile=8)
    picture = photo_picture(size=24)
    asked: list[torch.dtype] = []
    real_upscale = engine.upscale
    monkeypatch.setattr(engine, "upscale", lambda *a, **k: asked.append(k.get("out_dtype")) or real_upscale(*a, **k))
    fast_stages: list[Stage] = []
    fast = upscale_picture(picture, engine, progress=fast_stages.append)
    monkeypatch.setattr(pipeline, "_engine_rounds_it", lambda *args: False)
    float_stages: list[Stage] = []
    general = upscale_picture(picture, engine, progress=float_stages.append)
    assert asked == [torch.uint8, None]
    assert fast.pixels.dtype == np.uint8 and fast.pixels.shape == general.pixels.shape
    np.testing.assert_array_equal(fast.pixels, general.pixels)
    assert fast_stages == float_stages and len(fast_stages) > 1
