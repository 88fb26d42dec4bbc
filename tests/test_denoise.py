"""realesr-general-x4v3's denoise strength: Real-ESRGAN's blend of two networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import seeded_weights

from uprez.core.archs import get
from uprez.core.cli import main
from uprez.core.errors import UprezError
from uprez.core.models import models_dir, open_model, zoo
from uprez.core.models.denoise import DENOISE_MODEL, DENOISE_PARTNER


def _install(model_id: str, seed: int) -> dict[str, torch.Tensor]:
    """Puts a small SRVGGNetCompact under the library file name of ``model_id``."""
    net = seeded_weights(get("srvgg").module(num_features=8, num_conv=2, upscale=4), seed)
    known = zoo.find(model_id)
    assert known is not None
    models_dir().mkdir(parents=True, exist_ok=True)
    torch.save({"params": net.state_dict()}, models_dir() / known.file_name)
    return net.state_dict()


@pytest.fixture
def pair(isolated_cache: Path) -> tuple[dict, dict]:
    return _install(DENOISE_MODEL, 1), _install(DENOISE_PARTNER, 2)


@pytest.mark.parametrize("strength", [0.0, 0.3, 0.5, 1.0])
def test_strength_blends_every_tensor_as_real_esrgan_does(pair, strength: float) -> None:
    x4v3, weak = pair
    model = open_model(DENOISE_MODEL, denoise=strength)
    loaded = model.net.state_dict()
    for key in x4v3:
        expected = strength * x4v3[key] + (1 - strength) * weak[key]
        assert torch.equal(loaded[key], expected), key
    assert model.metadata["uprez.denoise"] == f"{strength:g}"


def test_default_strength_is_real_esrgans_half(pair) -> None:
    x4v3, weak = pair
    loaded = open_model(DENOISE_MODEL).net.state_dict()
    assert all(torch.equal(loaded[k], 0.5 * x4v3[k] + 0.5 * weak[k]) for k in x4v3)


def test_full_strength_needs_no_second_file(isolated_cache: Path) -> None:
    x4v3 = _install(DENOISE_MODEL, 1)
    loaded = open_model(DENOISE_MODEL, denoise=1.0).net.state_dict()
    assert all(torch.equal(loaded[k], x4v3[k]) for k in x4v3)
    with pytest.raises(UprezError, match=DENOISE_PARTNER):
        open_model(DENOISE_MODEL, denoise=0.5)  # offline, and the partner is not installed


def test_denoise_is_refused_elsewhere_and_out_of_range(pair) -> None:
    with pytest.raises(UprezError, match="applies to realesr-general-x4v3 only"):
        open_model(DENOISE_PARTNER, denoise=0.5)
    with pytest.raises(UprezError, match="between 0 and 1"):
        open_model(DENOISE_MODEL, denoise=1.5)


def test_cli_denoise_changes_the_picture(pair, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(source)
    outputs = []
    for strength in ("0", "1"):
        target = tmp_path / f"out{strength}.png"
        assert main(["upscale", str(source), "-m", DENOISE_MODEL, "--denoise", strength, "-o", str(target), "-q"]) == 0
        outputs.append(np.asarray(Image.open(target)))
    assert outputs[0].shape == (48, 40, 3) and not np.array_equal(outputs[0], outputs[1])
    assert main(["upscale", str(source), "-m", DENOISE_PARTNER, "--denoise", "0.2", "-q"]) != 0
