"""Weight files: every format to the same canonical state dict, and one-line errors for bad files."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from support import seeded_input, seeded_weights

from uprez.core.archs import get
from uprez.core.errors import UnknownArchitectureError, WeightFileError
from uprez.core.model import load_model
from uprez.core.weights import _common, read_weights


@pytest.fixture
def compact() -> torch.nn.Module:
    return seeded_weights(get("srvgg").module(num_features=8, num_conv=2, upscale=2), 11)


def outputs_match(path: Path, net: torch.nn.Module) -> bool:
    loaded = load_model(path).net
    x = seeded_input(3, 8, 5)
    with torch.inference_mode():
        return torch.equal(loaded(x), net(x))


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"params_ema": sd, "params": {k: v * 0 for k, v in sd.items()}},
        lambda sd: {"params": sd},
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
    ],
    ids=["bare", "params_ema-preferred", "params", "state_dict", "model", "module-prefix"],
)
def test_pytorch_wrappers_unwrap(tmp_path: Path, compact: torch.nn.Module, wrap) -> None:
    path = tmp_path / "net.pth"
    torch.save(wrap(compact.state_dict()), path)
    assert outputs_match(path, compact)


def test_legacy_pytorch_serialisation_loads(tmp_path: Path, compact: torch.nn.Module) -> None:
    # BasicSR re-saves its releases in the pre-1.6 format, and ESRGAN's 2018 files predate zip.
    path = tmp_path / "legacy.pth"
    torch.save({"params": compact.state_dict()}, path, _use_new_zipfile_serialization=False)
    assert outputs_match(path, compact)


def test_safetensors_loads(tmp_path: Path, compact: torch.nn.Module) -> None:
    path = tmp_path / "net.safetensors"
    save_file(compact.state_dict(), path)
    assert outputs_match(path, compact)


def test_real_ncnn_files_become_canonical_state_dicts(ncnn_models: Path) -> None:
    expected = {
        "realesrgan-x4plus": ("rrdbnet", 4, dict(num_blocks=23, num_features=64, growth_channels=32)),
        "realesrgan-x4plus-anime": ("rrdbnet", 4, dict(num_blocks=6, num_features=64, growth_channels=32)),
        "realesr-animevideov3-x4": ("srvgg", 4, dict(num_conv=16, num_features=64, activation="prelu")),
        "realesr-animevideov3-x3": ("srvgg", 3, dict(num_conv=16, output_scale=0.75)),
        "realesr-animevideov3-x2": ("srvgg", 2, dict(num_conv=16, output_scale=0.5)),
    }
    for stem, (arch_id, scale, hyper) in expected.items():
        model = load_model(ncnn_models / f"{stem}.param")
        assert (model.arch.id, model.scale) == (arch_id, scale), stem
        assert hyper.items() <= model.net.hyperparameters.items(), stem
        assert not any(key.startswith("Conv_") for key in read_weights(ncnn_models / f"{stem}.bin").state_dict)


def test_ncnn_weights_are_the_fp16_release_values(ncnn_models: Path) -> None:
    state_dict = read_weights(ncnn_models / "realesr-animevideov3-x4.param").state_dict
    first = state_dict["body.0.weight"]
    assert first.dtype == torch.float32 and first.shape == (64, 3, 3, 3)
    assert torch.equal(first, first.half().float())  # stored as fp16 in the .bin
    assert state_dict["body.1.weight"].shape == (64,)  # PReLU slopes, raw fp32


def one_line_error(error: BaseException, path: Path) -> str:
    message = str(error)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_empty_files_are_refused(tmp_path: Path) -> None:
    for name in ("empty.pth", "empty.safetensors", "empty.param"):
        path = tmp_path / name
        path.touch()
        with pytest.raises(WeightFileError) as caught:
            read_weights(path)
        assert "empty" in one_line_error(caught.value, path)


def test_truncated_pytorch_file_is_refused(tmp_path: Path, compact: torch.nn.Module) -> None:
    for legacy in (False, True):
        whole = tmp_path / "whole.pth"
        torch.save(compact.state_dict(), whole, _use_new_zipfile_serialization=not legacy)
        cut = tmp_path / f"cut-{legacy}.pth"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        with pytest.raises(WeightFileError) as caught:
            read_weights(cut)
        assert "truncated" in one_line_error(caught.value, cut)


class _TouchOnLoad:
    """A pickle payload that would create a file if unpickling ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickle_that_runs_code_is_refused_and_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "payload": _TouchOnLoad(marker)}, path)
    with pytest.raises(WeightFileError) as caught:
        read_weights(path)
    message = one_line_error(caught.value, path)
    assert "asks to run code" in message
    assert not marker.exists()


def test_unknown_architecture_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "classifier.pth"
    torch.save({"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)}, path)
    with pytest.raises(UnknownArchitectureError) as caught:
        load_model(path)
    assert "no known architecture" in one_line_error(caught.value, path)


def test_known_architecture_with_wrong_shapes_is_refused(tmp_path: Path, compact: torch.nn.Module) -> None:
    state_dict = dict(compact.state_dict())
    state_dict["body.2.weight"] = torch.zeros(8, 5, 3, 3)
    path = tmp_path / "broken.pth"
    torch.save(state_dict, path)
    with pytest.raises(WeightFileError) as caught:
        load_model(path)
    assert "does not load" in one_line_error(caught.value, path)


def test_truncated_safetensors_is_refused(tmp_path: Path, compact: torch.nn.Module) -> None:
    whole = tmp_path / "whole.safetensors"
    save_file(compact.state_dict(), whole)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole.read_bytes()[:-100])
    with pytest.raises(WeightFileError) as caught:
        read_weights(cut)
    one_line_error(caught.value, cut)


def test_oversized_file_is_refused(tmp_path: Path, compact: torch.nn.Module, monkeypatch) -> None:
    path = tmp_path / "net.pth"
    torch.save(compact.state_dict(), path)
    monkeypatch.setattr(_common, "MAX_WEIGHT_FILE_BYTES", 100)
    with pytest.raises(WeightFileError) as caught:
        read_weights(path)
    assert "larger than any known model" in one_line_error(caught.value, path)


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.onnx"
    path.write_bytes(b"\x08\x01")
    with pytest.raises(WeightFileError) as caught:
        read_weights(path)
    assert "unknown weight-file type" in one_line_error(caught.value, path)


def copy_pair(source: Path, stem: str, target: Path, bin_bytes: bytes | None = None) -> Path:
    (target / f"{stem}.param").write_bytes((source / f"{stem}.param").read_bytes())
    (target / f"{stem}.bin").write_bytes(bin_bytes if bin_bytes is not None else (source / f"{stem}.bin").read_bytes())
    return target / f"{stem}.param"


def test_truncated_ncnn_bin_is_refused(tmp_path: Path, ncnn_models: Path) -> None:
    data = (ncnn_models / "realesr-animevideov3-x4.bin").read_bytes()
    param = copy_pair(ncnn_models, "realesr-animevideov3-x4", tmp_path, data[: len(data) - 1000])
    with pytest.raises(WeightFileError) as caught:
        read_weights(param)
    assert "truncated" in one_line_error(caught.value, param.with_suffix(".bin"))


def test_mismatched_ncnn_pair_is_refused(tmp_path: Path, ncnn_models: Path) -> None:
    anime_bin = (ncnn_models / "realesrgan-x4plus-anime.bin").read_bytes()
    param = copy_pair(ncnn_models, "realesr-animevideov3-x4", tmp_path, anime_bin)
    with pytest.raises(WeightFileError) as caught:
        read_weights(param)
    assert "mismatched pair" in one_line_error(caught.value, param.with_suffix(".bin"))


def test_ncnn_param_that_is_not_one_is_refused(tmp_path: Path) -> None:
    param = tmp_path / "x.param"
    param.write_text("hello\nworld\n")
    (tmp_path / "x.bin").write_bytes(b"\0" * 16)
    with pytest.raises(WeightFileError) as caught:
        read_weights(param)
    assert "not an ncnn .param" in one_line_error(caught.value, param)


def test_cli_reports_a_bad_file_in_one_line_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    result = subprocess.run(
        [sys.executable, "-m", "uprez", "models", "info", str(path)],
        capture_output=True, text=True, env={**os.environ}, timeout=120,
    )  # fmt: skip
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0]
    assert "Traceback" not in result.stderr
