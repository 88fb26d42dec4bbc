"""Every seed system's own file format through the command line, like any Real-ESRGAN model:
tiles, precision, alpha, 16 bits, progress and ``models info``. (CUDA precisions are covered
for every architecture in test_gpu.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from original_formats import write_keras_h5, write_lasagne_pickle
from support import seed_of, seeded_weights

from uprez.core import archs
from uprez.core.cli import ExitStatus, main
from uprez.core.imageio import Picture, read_image, write_image

WRITERS = {
    "isr": lambda sd, example, path: write_keras_h5(sd, path.with_suffix(".hdf5")),
    "keras": lambda sd, example, path: write_keras_h5(sd, path.with_suffix(".h5")),
    "lasagne": lambda sd, example, path: write_lasagne_pickle(sd, dict(example.config), path.with_suffix(".pkl.bz2")),
}
CASES = [
    (arch, example)
    for arch in archs.all_architectures()
    for example in arch.examples
    if example.naming in WRITERS
]


def _events(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_every_seed_system_has_a_file_format_case() -> None:
    assert {arch.id for arch, _ in CASES} >= {"edsr", "wdsr", "srresnet", "rdn", "rrdn", "neural_enhance"}


@pytest.mark.parametrize(("arch", "example"), CASES, ids=[f"{a.id}--{e.name}" for a, e in CASES])
def test_original_file_upscales_like_any_model(arch, example, tmp_path: Path, capsys) -> None:
    net = seeded_weights(arch.module(**example.config), seed_of(f"{arch.id}--{example.name}"))
    weights = WRITERS[example.naming](arch.rename(net.state_dict(), example.naming), example, tmp_path / "model")

    assert main(["models", "info", str(weights), "--json"]) == ExitStatus.OK
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"] == arch.name and info["scale"] == net.scale
    assert info["parameters"] == sum(p.numel() for p in net.parameters())

    rng = np.random.default_rng(5)
    deep = (rng.random((13, 11, 4)) * 65535).astype(np.uint16)  # odd size, 16 bits, alpha
    source = write_image(tmp_path / "deep.png", Picture(deep))
    outputs = {}
    runs = {"tiled": ["--tile", "8"], "whole": ["--tile", "64", "--precision", "fp32"], "alpha": ["--alpha", "model"]}
    for name, options in runs.items():
        target = tmp_path / f"{name}.png"
        assert main(["upscale", str(source), "-m", str(weights), "-o", str(target), "--json", *options]) == 0
        events = _events(capsys)
        assert [e["event"] for e in events].count("done") == 1
        if name == "tiled":
            assert len([e for e in events if e["event"] == "progress"]) >= 4
        outputs[name] = read_image(target).pixels
    assert outputs["tiled"].shape == (13 * net.scale, 11 * net.scale, 4)
    assert outputs["tiled"].dtype == np.uint16
    tiled, whole = (outputs[k].astype(np.int64) for k in ("tiled", "whole"))
    assert np.abs(tiled - whole).max() <= 257  # one 8-bit level: tiles carry enough context
    assert np.array_equal(outputs["tiled"][..., 3], outputs["whole"][..., 3])
    assert outputs["alpha"].shape == outputs["whole"].shape  # alpha through the network, as Real-ESRGAN can
    assert np.array_equal(outputs["alpha"][..., :3], outputs["whole"][..., :3])


def test_original_files_load_without_their_frameworks(tmp_path: Path) -> None:
    """Reading .h5 and .pkl.bz2 imports no TensorFlow, Keras, Theano or Lasagne (h5py only)."""
    files = []
    for arch_id, naming in (("wdsr", "keras"), ("rdn", "isr"), ("neural_enhance", "lasagne")):
        arch = archs.get(arch_id)
        example = next(e for e in arch.examples if e.naming == naming)
        net = seeded_weights(arch.module(**example.config), 1)
        files.append(WRITERS[naming](arch.rename(net.state_dict(), naming), example, tmp_path / arch_id))
    script = (
        "import sys\n"
        "from uprez.core.model import load_model\n"
        f"for path in {[str(f) for f in files]!r}: load_model(path)\n"
        "frameworks = {'tensorflow', 'keras', 'tf_keras', 'theano', 'lasagne', 'tensorflow_addons'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & frameworks))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
