"""The GIMP plug-in in a real GIMP 3 (Debian trixie chroot), driving the real engine in this venv.

Needs root and the chroot that ``../shared/tools/gimp3/setup-chroot.sh`` builds; CI builds it
and sets UPREZ_REQUIRE_GIMP=1 so that a missing GIMP fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import DATA

from uprez.core.engine.upscaler import Upscaler
from uprez.core.imageio import Picture, read_image, write_image
from uprez.core.models import open_model
from uprez.core.pipeline import upscale_picture

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("UPREZ_SHARED_TOOLS", ROOT.parent / "shared" / "tools"))
CHROOT = Path(os.environ.get("UPREZ_GIMP3_CHROOT", "/tmp/uprez-gimp3-trixie"))
FAST = "realesr-animevideov3-x4"
SCALE = 2.0

pytestmark = [pytest.mark.slow, pytest.mark.gimp]


class Gimp3:
    """Runs tests/gimp/gimp3_cases.py in the chroot's GIMP with the plug-in installed by install.py."""

    def __init__(self, work: Path, plug_in: Path) -> None:
        self.work, self.plug_in = work, plug_in

    def run(self, cases: list[dict], *extra: str) -> dict:
        (self.work / "cases.json").write_text(json.dumps(cases))
        binds = []
        for folder in {Path(sys.prefix), Path(sys.base_prefix), ROOT}:
            binds += ["-B", f"{folder}:{folder}"]
        command = ["bash", str(TOOLS / "gimp3" / "run-batch.sh"), "-p", str(self.plug_in), "-w", str(self.work),
                   *binds, "-e", "UPREZ_CACHE_DIR=/io/cache", "-e", "UPREZ_OFFLINE=1", *extra,
                   f"@{ROOT / 'tests' / 'gimp' / 'gimp3_cases.py'}"]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return json.loads((self.work / "report.json").read_text())


@pytest.fixture(scope="module")
def gimp3(tmp_path_factory: pytest.TempPathFactory, ncnn_models: Path) -> Gimp3:
    ready = (TOOLS / "gimp3" / "run-batch.sh").exists() and (CHROOT / "usr" / "bin" / "gimp-console-3.0").exists()
    if not ready or os.geteuid() != 0:
        message = f"needs root and the GIMP 3 chroot at {CHROOT} ({TOOLS}/gimp3/setup-chroot.sh builds it)"
        if os.environ.get("UPREZ_REQUIRE_GIMP"):
            pytest.fail(message)
        pytest.skip(message)
    (CHROOT / "root").chmod(0o755)  # GIMP runs as uid 1000 and must reach bind mounts below /root
    plug_ins = tmp_path_factory.mktemp("plug-ins")
    subprocess.run([sys.executable, str(ROOT / "install.py"), "gimp", "--plug-ins", str(plug_ins),
                    "--python", sys.executable, "--data-dir", str(plug_ins.parent / "uprez-data")],
                   check=True, capture_output=True)  # fmt: skip
    work = tmp_path_factory.mktemp("gimp-io")
    work.chmod(0o777)
    make_inputs(work)
    return Gimp3(work, plug_ins / "uprez")


def make_inputs(work: Path) -> None:
    rgb = np.asarray(Image.open(DATA / "coffee_cup.png").convert("RGB"))[:32, :40]
    ramp = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (32, 1))[:, :, None]
    write_image(work / "rgb.png", Picture(rgb.copy()))
    write_image(work / "rgba.png", Picture(np.concatenate([rgb, ramp], axis=2)))
    write_image(work / "gray.png", Picture(rgb[:, :, 1:2].copy()))
    deep = rgb.astype(np.uint16) * 257 + np.arange(40, dtype=np.uint16)[None, :, None]
    write_image(work / "rgb16.png", Picture(deep))
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(work / "indexed.png")
    batch = work / "batch-in"
    batch.mkdir()
    shutil.copy(work / "rgb.png", batch / "one.png")
    shutil.copy(work / "rgba.png", batch / "two.png")
    (batch / "broken.png").write_bytes(b"this is not a PNG")
    for path in [*work.iterdir(), *batch.iterdir()]:
        path.chmod(0o777)


def cli_output(path: Path, scale: float = SCALE) -> np.ndarray:
    """What `uprez upscale PATH -m FAST -s SCALE` computes, as raw samples."""
    upscaler = Upscaler(open_model(FAST), device="cpu")
    return upscale_picture(read_image(path), upscaler, scale=scale).pixels


def filter_case(name: str, source: str, result: str = "new-image", **options) -> dict:
    return {"name": name, "input": f"/io/{source}",
            "options": {"model": FAST, "scale": SCALE, "result": result, **options}}  # fmt: skip


@pytest.fixture(scope="module")
def reports(gimp3: Gimp3) -> dict:
    cases = [
        filter_case("rgb", "rgb.png"),
        filter_case("rgba", "rgba.png"),
        filter_case("gray", "gray.png"),
        filter_case("rgb16", "rgb16.png"),
        {**filter_case("float", "rgba.png"), "precision": "FLOAT_NON_LINEAR"},
        filter_case("indexed", "indexed.png"),
        filter_case("resized", "rgb.png", "resize-image"),
        {**filter_case("layer", "rgb.png", "new-layer"), "selection": [8, 4, 16, 12]},
        filter_case("indexed-layer", "indexed.png", "new-layer"),
        filter_case("bad-scale", "rgb.png", scale=100.0),
        filter_case("bad-tile", "rgb.png", tile=-5),
        filter_case("missing-model-file", "rgb.png", **{"model-file": "/io/nothing.pth"}),
        {"name": "batch", "batch": True, "options": {"input-folder": "/io/batch-in", "output-folder": "/io/batch-out",
                                                       "model": FAST, "scale": SCALE}},  # fmt: skip
    ]
    return gimp3.run(cases)


@pytest.mark.parametrize("name", ["rgb", "rgba", "gray", "rgb16"])
def test_filter_output_equals_the_command_line(name: str, reports: dict, gimp3: Gimp3) -> None:
    report = reports[name]
    assert report["status"] == "success", report
    assert report["new_image"] and (report["width"], report["height"]) == (80, 64)
    ours = np.load(gimp3.work / f"{name}.npy").astype(np.int64)
    reference = cli_output(gimp3.work / f"{name}.png").astype(np.int64)
    assert ours.shape == reference.shape
    one_level = 257 if name == "rgb16" else 1
    assert np.abs(ours - reference).max() <= one_level
    if name == "rgb16":
        assert report["precision"].startswith("u16") and np.count_nonzero(ours % 257) > ours.size // 2


def test_float_images_stay_float(reports: dict, gimp3: Gimp3) -> None:
    report = reports["float"]
    assert report["status"] == "success" and report["precision"] == "float-non-linear", report
    ours = np.load(gimp3.work / "float.npy")
    reference = cli_output(gimp3.work / "float-input.npy")
    assert ours.dtype == reference.dtype == np.float32 and ours.shape == reference.shape == (64, 80, 4)
    assert np.abs(ours - reference).max() <= 1 / 255


def test_indexed_image_becomes_an_rgb_new_image_or_is_refused_in_place(reports: dict, gimp3: Gimp3) -> None:
    assert reports["indexed"]["status"] == "success"
    assert np.load(gimp3.work / "indexed.npy").shape == (64, 80, 3)
    refused = reports["indexed-layer"]
    assert refused["status"] == "calling-error" and "indexed" in refused["error"]


def test_resize_in_place_scales_the_image_and_holds_the_model_output(reports: dict, gimp3: Gimp3) -> None:
    report = reports["resized"]
    assert report["status"] == "success" and not report["new_image"]
    assert (report["width"], report["height"]) == (80, 64) and report["layers"] == 1
    ours = np.load(gimp3.work / "resized.npy").astype(int)
    assert np.abs(ours - cli_output(gimp3.work / "rgb.png").astype(int)).max() <= 1


def test_new_layer_is_scaled_to_fit_the_selection(reports: dict) -> None:
    report = reports["layer"]
    assert report["status"] == "success" and not report["new_image"]
    assert report["layers"] == report["layers_before"] + 1
    assert report["drawable_size"] == [16, 12] and report["offsets"] == [8, 4]
    assert report["undo_enabled"]


@pytest.mark.parametrize(("name", "words"), [("bad-scale", "scale must be between"), ("bad-tile", "tile must be"),
                                             ("missing-model-file", "does not exist")])  # fmt: skip
def test_bad_arguments_are_calling_errors_with_a_reason(name: str, words: str, reports: dict) -> None:
    assert reports[name]["status"] == "calling-error"
    assert words in reports[name]["error"]


def test_batch_goes_on_past_a_broken_file(reports: dict, gimp3: Gimp3) -> None:
    report = reports["batch"]
    assert report["status"] == "success", report
    assert (report["written"], report["failed"]) == (2, 1)
    assert report["report"].startswith("broken.png:")
    with Image.open(gimp3.work / "batch-out" / "one.png") as written:
        assert written.size == (80, 64)


def test_no_temporary_files_are_left(reports: dict) -> None:
    assert not list((CHROOT / "tmp").glob("uprez-gimp-*"))


def test_the_dialog_under_a_real_display(gimp3: Gimp3) -> None:
    """Filters > Enhance > Upscale (uprez)... run INTERACTIVE under Xvfb: dialog, OK, result.

    With UPREZ_DOCS_DIR set, the screenshot and a before/after pair are copied there (docs/).
    """
    shutil.copy(DATA / "chelsea_cat.jpg", gimp3.work / "cat.jpg")
    (gimp3.work / "cat.jpg").chmod(0o777)
    cases = [
        {"name": "before", "input": "/io/cat.jpg", "factor": 4, "export": "/io/before.png"},
        {"name": "dialog", "input": "/io/cat.jpg", "run_mode": "INTERACTIVE", "options": {},
         "export": "/io/after.png"},
    ]  # fmt: skip
    reports = gimp3.run(cases, "-X", "-e", "UPREZ_GIMP_DIALOG_SNAPSHOT=/io/dialog.png")
    assert reports["dialog"]["status"] == "success", reports
    assert (reports["dialog"]["width"], reports["dialog"]["height"]) == (384, 256)  # the defaults: x4plus, 4x
    with Image.open(gimp3.work / "dialog.png") as shot:
        darkest, brightest = shot.convert("L").getextrema()
        assert shot.width > 300 and shot.height > 200 and brightest - darkest > 100  # a drawn dialog, not blank
    docs = os.environ.get("UPREZ_DOCS_DIR")
    if docs:
        for name in ("dialog.png", "before.png", "after.png"):
            shutil.copy(gimp3.work / name, Path(docs) / f"gimp-{name}")
