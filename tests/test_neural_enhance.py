"""neural-enhance: pickles written as its ``save_generator`` does, loaded through uprez, against an
independent numpy/scipy forward pass of the original Theano/Lasagne generator.

The reference below is written from the original code, not from the port: Theano's
``conv2d`` with Lasagne's default ``flip_filters=True`` (a true convolution, here
``scipy.signal.convolve2d``) on the explicitly zero-padded input, then subsampled by the
stride; Lasagne's PReLU; ``SubpixelReshuffleLayer`` written out literally; the ``x - 0.5`` /
``+ 0.5`` shift, and tanh for v0.1.
"""

from __future__ import annotations

import bz2
import itertools
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import signal
from torch.nn import functional as F

from uprez.core.engine.upscaler import Upscaler
from uprez.core.errors import WeightFileError
from uprez.core.imageio import Picture
from uprez.core.model import load_model
from uprez.core.pipeline import upscale_picture
from uprez.core.weights import lasagne_pickle

# The port runs in float32, the reference in float64, on the same float16 weights.
TOLERANCE = 1e-4
# A v0.1 file does not store its number of 2x stages (it came from --scales); 2 made "ne4x".
V01_SCALES = 2

Op = tuple[Any, ...]
Params = dict[str, list[np.ndarray]]

CASES = {
    # name: (config as the file stores it, v0.1 scales or None, expected scale)
    "v03-ne2x": (dict(generator_blocks=3, generator_residual=0, generator_filters=[8],
                      generator_upscale=1, generator_downscale=0), None, 2),
    "v03-ne4x": (dict(generator_blocks=2, generator_residual=0, generator_filters=[8, 6, 5, 4],
                      generator_upscale=2, generator_downscale=0), None, 4),
    "v03-ne1x-repair": (dict(generator_blocks=2, generator_residual=0, generator_filters=[6, 8, 10, 8, 6, 4],
                             generator_upscale=2, generator_downscale=2), None, 1),
    "v01-ne4x": (dict(generator_blocks=2, generator_residual=1, generator_filters=[8, 6, 4]), V01_SCALES, 4),
}  # fmt: skip


# --- the original generator, as a list of operations ---------------------------------------


def extend(filters: list[int]):
    """neural-enhance's ``extend``: the list, then its last element forever."""
    yield from filters
    while True:
        yield filters[-1]


def generator_ops(config: dict, scales: int | None) -> list[Op]:
    """``setup_generator`` of v0.3 (scales None) or v0.1: (kind, layer name, in, out, kernel, stride, pad)."""
    units = extend(config["generator_filters"])
    if scales is None:  # v0.3, enhance.py @2fd67de
        c = next(units)
        ops: list[Op] = [("layer", "iter.0", 3, c, 7, 1, 3)]
        for i in range(config["generator_downscale"]):
            u = next(units)
            ops.append(("layer", f"downscale{i}", c, u, 4, 2, 1))
            c = u
        u = next(units)
        for i in range(config["generator_blocks"]):
            ops.append(("layer", f"iter.{i + 1}-A", c, u, 3, 1, 1))
            c = u
        for i in range(config["generator_upscale"]):
            u = next(units)
            ops += [("layer", f"upscale{i}.2", c, 4 * u, 3, 1, 1), ("shuffle", 2)]
            c = u
        return [*ops, ("conv", "out", c, 3, 7, 1, 3)]
    u = next(units)  # v0.1, enhance.py tag v0.1
    ops = [("layer", "iter.0-A", 3, u, 5, 1, 2), ("layer", "iter.0-B", u, u, 5, 1, 2)]
    for i in range(config["generator_blocks"]):
        ops += [("layer", f"iter.{i + 1}-A", u, u, 3, 1, 1), ("layer", f"iter.{i + 1}-B", u, u, 3, 1, 1)]
    c = u
    for i in range(scales):
        u = next(units)
        ops += [("layer", f"scale{i}.3", c, 4 * u, 3, 1, 1), ("shuffle", 2), ("layer", f"scale{i}.1", u, u, 3, 1, 1)]
        c = u
    return [*ops, ("conv", "out", c, 3, 5, 1, 2), ("tanh",)]


def random_params(ops: list[Op], seed: int) -> Params:
    """Lasagne's ``get_params()`` lists, cast to float16 as ``save_generator`` does."""
    rng = np.random.default_rng(seed)
    params: Params = {}
    for kind, name, n_in, n_out, k, *_ in (op for op in ops if op[0] in ("layer", "conv")):
        w = rng.standard_normal((n_out, n_in, k, k)) * (1.4 / np.sqrt(n_in * k * k))
        b = rng.standard_normal(n_out) * 0.05
        params[name + ("x" if kind == "layer" else "")] = [w.astype(np.float16), b.astype(np.float16)]
        if kind == "layer":
            params[name + ">"] = [(0.25 + 0.05 * rng.standard_normal(n_out)).astype(np.float16)]
    return params


def save_generator(path: Path, config: dict, params: Params) -> Path:
    """What ``pickle.dump((config, params), bz2.open(path, 'wb'))`` wrote on Python 3.5 + numpy 1.x."""
    payload = pickle.dumps((config, params), protocol=3)
    # numpy 2 names its module numpy._core; the 2016 files name numpy.core (GLOBAL is plain text).
    path.write_bytes(bz2.compress(payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")))
    return path


# --- the original forward pass in numpy/scipy ----------------------------------------------


def theano_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """``T.nnet.conv2d(filter_flip=True)`` on a zero-padded (C, H, W) input, plus the bias."""
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out = []
    for o in range(w.shape[0]):
        full = sum(signal.convolve2d(padded[i], w[o, i], mode="valid") for i in range(w.shape[1]))
        out.append(full[::stride, ::stride] + b[o])
    return np.stack(out)


def prelu(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[:, None, None]
    return np.maximum(x, 0) + a * np.minimum(x, 0)


def subpixel_reshuffle(x: np.ndarray, r: int) -> np.ndarray:
    """``SubpixelReshuffleLayer``: ``out[:, :, y::r, x::r] = input[:, r*y+x::r*r]``."""
    out = np.zeros((x.shape[0] // (r * r), x.shape[1] * r, x.shape[2] * r))
    for y, xx in itertools.product(range(r), repeat=2):
        out[:, y::r, xx::r] += x[r * y + xx :: r * r]
    return out


def reference_forward(ops: list[Op], params: Params, image: np.ndarray) -> np.ndarray:
    """The generator on a (3, H, W) image in [0, 1], as neural-enhance runs it, back in [0, 1]."""
    f = {name: [a.astype(np.float64) for a in arrays] for name, arrays in params.items()}
    x = image.astype(np.float64) - 0.5
    for op in ops:
        if op[0] == "layer":
            _, name, _, _, _, stride, pad = op
            x = prelu(theano_conv(x, *f[name + "x"], stride, pad), *f[name + ">"])
        elif op[0] == "conv":
            _, name, _, _, _, stride, pad = op
            x = theano_conv(x, *f[name], stride, pad)
        elif op[0] == "shuffle":
            x = subpixel_reshuffle(x, op[1])
        else:
            x = np.tanh(x)
    return x + 0.5


def write_case(tmp_path: Path, name: str) -> tuple[Path, list[Op], Params]:
    config, scales, _ = CASES[name]
    ops = generator_ops(config, scales)
    params = random_params(ops, seed=sum(map(ord, name)))
    return save_generator(tmp_path / f"{name}-0.3.pkl.bz2", config, params), ops, params


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_port_matches_the_original_forward_pass(tmp_path: Path, name: str) -> None:
    path, ops, params = write_case(tmp_path, name)
    model = load_model(path)
    assert model.arch.id == "neural_enhance"
    assert model.scale == CASES[name][2]
    assert json.loads(model.metadata[lasagne_pickle.CONFIG_KEY]) == CASES[name][0]
    image = np.random.default_rng(5).random((3, 12, 16))  # a multiple of 2**D, as the original crops to
    with torch.inference_mode():
        ours = model.net(torch.from_numpy(image).float()[None])[0].double().numpy()
    theirs = reference_forward(ops, params, image)
    assert ours.shape == theirs.shape == (3, 12 * model.scale, 16 * model.scale)
    np.testing.assert_allclose(ours, theirs, atol=TOLERANCE, rtol=0)


def test_reader_flips_conv_filters_and_keeps_lasagne_names(tmp_path: Path) -> None:
    path, _, params = write_case(tmp_path, "v03-ne2x")
    weights = lasagne_pickle.read(path)
    assert weights.format == "lasagne"
    w = weights.state_dict["iter.0x.weight"]
    assert w.dtype == torch.float32 and tuple(w.shape) == (8, 3, 7, 7)
    assert torch.equal(w, torch.from_numpy(params["iter.0x"][0][:, :, ::-1, ::-1].astype(np.float32)))
    assert torch.equal(weights.state_dict["iter.0>.weight"], torch.from_numpy(params["iter.0>"][0].astype(np.float32)))
    assert set(weights.state_dict) == {f"{layer}.{leaf}" for layer in params for leaf in ("weight", "bias")} - {
        f"{layer}.bias" for layer in params if layer.endswith(">")
    }


def test_uncompressed_and_numpy2_pickles_load(tmp_path: Path) -> None:
    config, _, _ = CASES["v03-ne2x"]
    params = random_params(generator_ops(config, None), seed=3)
    raw = tmp_path / "ne2x.pkl"
    raw.write_bytes(pickle.dumps((config, params), protocol=3))  # numpy 2 module names, no bz2
    assert load_model(raw).scale == 2


def test_engine_pads_odd_images_for_the_downscaling_model(tmp_path: Path) -> None:
    path, _, _ = write_case(tmp_path, "v03-ne1x-repair")
    model = load_model(path)
    assert model.net.unshuffle == 4  # two stride-2 convs: the image must be a multiple of 4
    image = torch.from_numpy(np.random.default_rng(9).random((3, 29, 37), dtype=np.float32))
    # The engine mirror-pads the bottom and right edges to the multiple of 4 (and by `prepad`
    # all round), then crops; with enough context, tiles equal the whole-image pass exactly.
    for prepad, tile in ((0, None), (0, 16), (10, 12)):
        out = Upscaler(model, device="cpu", precision="fp32", prepad=prepad, tile=tile).upscale(image)
        assert out.shape == (3, 29, 37)
        pad = -(-prepad // 4) * 4
        padded = F.pad(image[None], (pad, pad + 3, pad, pad + 3), mode="reflect")
        with torch.inference_mode():
            whole = model.net(padded)[0, :, pad : pad + 29, pad : pad + 37].clamp(0, 1)
        torch.testing.assert_close(out, whole, atol=1e-5, rtol=0)


def original_process(ops: list[Op], params: Params, original: np.ndarray, zoom: int) -> np.ndarray:
    """neural-enhance's ``NeuralEnhancer.process`` (v0.3 defaults: 80-px tiles, 24 px of
    reflected overlap) on an image already a multiple of 2**max(U, D), with the scipy generator."""
    tile, overlap = 80, 24
    image = np.pad(original, ((overlap, overlap), (overlap, overlap), (0, 0)), mode="reflect")
    output = np.zeros((original.shape[0] * zoom, original.shape[1] * zoom, 3), dtype=np.float32)
    for y, x in itertools.product(range(0, original.shape[0], tile), range(0, original.shape[1], tile)):
        window = image[y : y + 2 * overlap + tile, x : x + 2 * overlap + tile] / 255.0 - 0.5
        repro = reference_forward(ops, params, window.transpose(2, 0, 1) + 0.5) - 0.5  # takes [0, 1]
        crop = overlap * zoom
        output[y * zoom : (y + tile) * zoom, x * zoom : (x + tile) * zoom] = (repro + 0.5).transpose(1, 2, 0)[
            crop:-crop, crop:-crop
        ]
    scaled = output.clip(0.0, 1.0) * 255.0
    return (scaled.clip(0, 255) + 0.5).astype(np.uint8)  # scipy.misc.toimage's bytescale


# The original's tiles are seamless only where the network's receptive radius is below its
# 24-px overlap: true of the ne2x layout (checked over 2x2 tiles), not of the downscaling
# repair layout (radius about 50 px), whose original output has tile seams uprez does not
# reproduce; it is compared on an image of one tile.
@pytest.mark.parametrize(("name", "size"), [("v03-ne2x", (92, 100)), ("v03-ne1x-repair", (76, 80))])
def test_uprez_writes_what_neural_enhance_wrote(tmp_path: Path, name: str, size: tuple[int, int]) -> None:
    path, ops, params = write_case(tmp_path, name)
    model = load_model(path)
    original = np.random.default_rng(11).integers(0, 256, (*size, 3), dtype=np.uint8)
    theirs = original_process(ops, params, original, model.scale)
    # Defaults only: the model's own 24-px mirror padding and rounding, uprez's own tiles.
    ours = upscale_picture(Picture(original), Upscaler(model, device="cpu", precision="fp32", tile=48)).pixels
    assert ours.shape == theirs.shape
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    assert np.count_nonzero(ours != theirs) <= theirs.size // 1000  # float ties at .5 only


def test_engine_output_size_for_the_upscaling_models(tmp_path: Path) -> None:
    for name in ("v03-ne4x", "v01-ne4x"):
        model = load_model(write_case(tmp_path, name)[0])
        out = Upscaler(model, device="cpu", precision="fp32", tile=16).upscale(torch.rand(3, 29, 37))
        assert out.shape == (3, 29 * 4, 37 * 4) and bool(torch.isfinite(out).all())


class _Runs:
    """Pickles as a call to ``function(argument)``, as a booby-trapped weight file would."""

    def __init__(self, function: Any, argument: str) -> None:
        self.function, self.argument = function, argument

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return self.function, (self.argument,)


@pytest.mark.parametrize("attack", ["os.system", "builtins.eval"])
def test_pickle_asking_for_code_is_refused_before_it_runs(tmp_path: Path, attack: str) -> None:
    marker = tmp_path / "pwned"
    if attack == "os.system":
        payload = _Runs(os.system, f"touch {marker}")
    else:
        payload = _Runs(eval, f"__import__('pathlib').Path({str(marker)!r}).touch()")
    path = save_generator(tmp_path / "evil.pkl.bz2", {"generator_blocks": 1}, {"iter.0x": [payload]})
    with pytest.raises(WeightFileError) as caught:
        load_model(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert "refused" in message and attack.split(".")[1] in message
    assert not marker.exists()


def test_broken_files_give_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good, _, _ = write_case(tmp_path, "v03-ne2x")
    data = good.read_bytes()
    cases = {
        "truncated.pkl.bz2": (data[: len(data) // 2], "truncated"),
        "garbage.pkl.bz2": (b"BZh9" + b"\x17" * 64, "corrupt"),
        "list.pkl.bz2": (bz2.compress(pickle.dumps([1, 2, 3], protocol=3)), "holds a list"),
        "no-layers.pkl.bz2": (bz2.compress(pickle.dumps(({}, {}), protocol=3)), "no layers"),
        "odd-layer.pkl.bz2": (bz2.compress(pickle.dumps(({}, {"bn": [np.zeros(3)] * 4}), protocol=3)), "shapes"),
        "short.pkl": (pickle.dumps(({}, {"a": []}), protocol=3)[:-5], "truncated or corrupt"),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(WeightFileError) as caught:
            load_model(path)
        message = str(caught.value)
        assert "\n" not in message and str(path) in message and expected in message, name
    monkeypatch.setattr(lasagne_pickle, "MAX_PICKLE_BYTES", 1000)
    with pytest.raises(WeightFileError, match="decompresses to over"):
        load_model(good)  # a bz2 bomb: refused once the output passes the cap
