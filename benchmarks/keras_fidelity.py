"""Max |uprez - TensorFlow| for every Keras port, at every scale, on the 0..1 scale.

    python benchmarks/keras_fidelity.py

Builds each model the way its project does (the builders of the fidelity tests), with random
weights, saves it with ``save_weights`` and compares uprez's fp32 output with TensorFlow's.
Needs tensorflow-cpu, tf-keras and tensorflow-addons (as ``.ci/run`` installs them).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import keras_reference  # noqa: E402
import test_keras_fidelity_krasserm as krasserm  # noqa: E402
import test_keras_fidelity_srgan_isr as isr  # noqa: E402


def krasserm_rows(k, folder: Path) -> list[tuple[str, float]]:
    rows = []
    for scale in (2, 3, 4):
        model = krasserm.keras_edsr(k, scale, num_filters=16, num_res_blocks=3)
        path = krasserm._saved(k, model, 10 + scale, krasserm.EDSR_WEIGHT_SCALE, folder)
        rows.append((f"EDSR x{scale}", krasserm._max_difference(k, model, path, scale)))
    for kind in "ab":
        for scale in (2, 3, 4):
            model = krasserm.keras_wdsr(k, scale, kind, num_filters=12, num_res_blocks=3)
            path = krasserm._saved(k, model, 20 + scale, krasserm.WDSR_WEIGHT_SCALE, folder, run_first=True)
            rows.append((f"WDSR-{kind.upper()} x{scale}", krasserm._max_difference(k, model, path, scale)))
    return rows


def isr_rows(k, folder: Path) -> list[tuple[str, float]]:
    def compare(name: str, arch: str, model, seed: int, divide: float) -> tuple[str, float]:
        path = keras_reference.save_weights(model, folder / f"{name.replace(' ', '-')}.h5")
        image = isr._image(seed) / 255.0
        expected = keras_reference.predict(model, image * 255.0 if divide == 255.0 else image) / divide
        _, ours = isr._uprez(path, image.astype(np.float32), arch, model)
        return name, float(np.abs(ours - expected).max())

    model = isr._sr_resnet(k, num_filters=16, num_res_blocks=2)
    keras_reference.randomize(model, 11, isr.WEIGHT_SCALE["srresnet"])
    rows = [compare("SRGAN x4", "srresnet", model, 11, 255.0)]
    for scale, upscaling in ((2, "ups"), (3, "ups"), (4, "ups"), (2, "shuffle"), (3, "shuffle")):
        model = isr._rdn(k, C=2, D=2, G=8, G0=8, x=scale, upscaling=upscaling)
        keras_reference.randomize(model, scale, isr.WEIGHT_SCALE["rdn"])
        isr._centre_output(model, "SR")
        rows.append(compare(f"RDN x{scale} {upscaling}", "rdn", model, scale, 1.0))
    for scale in (2, 4):
        model = isr._rrdn(k, C=2, D=2, G=8, G0=8, T=2, x=scale)
        keras_reference.randomize(model, 40 + scale, isr.WEIGHT_SCALE["rrdn"])
        isr._centre_output(model, "SR")
        rows.append(compare(f"RRDN x{scale}", "rrdn", model, 40 + scale, 1.0))
    return rows


def main() -> None:
    k = keras_reference.require()
    with tempfile.TemporaryDirectory() as folder:
        rows = krasserm_rows(k, Path(folder)) + isr_rows(k, Path(folder))
    for name, difference in rows:
        print(f"{name:<18} max |uprez - TF| = {difference:.1e}")
    print(f"worst {max(d for _, d in rows):.1e} (bar 1e-4)")


if __name__ == "__main__":
    main()
