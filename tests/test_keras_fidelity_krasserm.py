"""krasserm's EDSR and WDSR-A/B, built in tf-keras as model/edsr.py and model/wdsr.py build them.

The models below are written here after krasserm/super-resolution @179320c (same layers, same
order, same explicit names), with random weights saved by ``save_weights`` as he published
his. uprez must load each file and give TensorFlow's output.
"""

from __future__ import annotations

import keras_reference
import numpy as np
import pytest
import torch
from support import seeded_weights

from uprez.core.archs import edsr as edsr_arch
from uprez.core.engine.upscaler import Upscaler
from uprez.core.imageio import Picture
from uprez.core.model import load_model
from uprez.core.pipeline import upscale_picture

# 1e-4 of full scale is 0.0255 levels; fp32 sums in another order differ by ~1e-6.
TOLERANCE = 1e-4
DIV2K_RGB_MEAN = np.array([0.4488, 0.4371, 0.4040]) * 255  # krasserm model/common.py
IMAGE_SIZE = 13
# Weight noise that keeps the images in range: output std 50-80 levels, 90-98 % not clipped.
EDSR_WEIGHT_SCALE = 0.08
WDSR_WEIGHT_SCALE = 0.1


@pytest.fixture(scope="module")
def k():
    return keras_reference.require()


# --- krasserm's models, in tf-keras ----------------------------------------------------------


def _normalize(x):
    return (x - DIV2K_RGB_MEAN) / 127.5


def _denormalize(x):
    return x * 127.5 + DIV2K_RGB_MEAN


def _pixel_shuffle(k, scale: int):
    return k.keras.layers.Lambda(lambda t: k.tf.nn.depth_to_space(t, scale))


def keras_edsr(k, scale: int, num_filters: int = 64, num_res_blocks: int = 8):
    layers = k.keras.layers
    x_in = layers.Input(shape=(None, None, 3))
    x = layers.Lambda(_normalize)(x_in)
    x = b = layers.Conv2D(num_filters, 3, padding="same")(x)
    for _ in range(num_res_blocks):
        r = layers.Conv2D(num_filters, 3, padding="same", activation="relu")(b)
        r = layers.Conv2D(num_filters, 3, padding="same")(r)
        b = layers.Add()([b, r])
    b = layers.Conv2D(num_filters, 3, padding="same")(b)
    x = layers.Add()([x, b])
    factors = {2: [2], 3: [3], 4: [2, 2]}[scale]
    for n, factor in enumerate(factors, 1):
        x = layers.Conv2D(num_filters * factor**2, 3, padding="same", name=f"conv2d_{n}_scale_{factor}")(x)
        x = _pixel_shuffle(k, factor)(x)
    x = layers.Conv2D(3, 3, padding="same")(x)
    return k.keras.Model(x_in, layers.Lambda(_denormalize)(x), name="edsr")


def _conv_wn(k, filters: int, size: int, activation=None, **kwargs):
    conv = k.keras.layers.Conv2D(filters, size, padding="same", activation=activation, **kwargs)
    return k.tfa.layers.WeightNormalization(conv, data_init=False)


def _block_a(k, x_in, filters: int, expansion: int):
    x = _conv_wn(k, filters * expansion, 3, activation="relu")(x_in)
    x = _conv_wn(k, filters, 3)(x)
    return k.keras.layers.Add()([x_in, x])


def _block_b(k, x_in, filters: int, expansion: int):
    x = _conv_wn(k, filters * expansion, 1, activation="relu")(x_in)
    x = _conv_wn(k, int(filters * 0.8), 1)(x)
    x = _conv_wn(k, filters, 3)(x)
    return k.keras.layers.Add()([x_in, x])


def keras_wdsr(k, scale: int, kind: str, num_filters: int = 32, num_res_blocks: int = 8):
    layers = k.keras.layers
    block, expansion = (_block_a, 4) if kind == "a" else (_block_b, 6)
    x_in = layers.Input(shape=(None, None, 3))
    x = layers.Lambda(_normalize)(x_in)
    m = _conv_wn(k, num_filters, 3)(x)
    for _ in range(num_res_blocks):
        m = block(k, m, num_filters, expansion)
    m = _conv_wn(k, 3 * scale**2, 3, name=f"conv2d_main_scale_{scale}")(m)
    m = _pixel_shuffle(k, scale)(m)
    s = _conv_wn(k, 3 * scale**2, 5, name=f"conv2d_skip_scale_{scale}")(x)
    s = _pixel_shuffle(k, scale)(s)
    x = layers.Add()([m, s])
    return k.keras.Model(x_in, layers.Lambda(_denormalize)(x), name="wdsr")


# --- helpers --------------------------------------------------------------------------------


def _image(seed: int) -> np.ndarray:
    """A random 8-bit picture as float32 0..255, NHWC."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (1, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)


def _uprez(path, image: np.ndarray) -> np.ndarray:
    """uprez's fp32 output for a 0..255 NHWC image, as 0..1 NHWC."""
    net = load_model(path).net
    with torch.inference_mode():
        y = net(torch.from_numpy(image.transpose(0, 3, 1, 2) / 255.0).float())
    return y.numpy().transpose(0, 2, 3, 1)


def _saved(k, model, seed: int, scale: float, tmp_path, run_first: bool = False):
    keras_reference.randomize(model, seed, scale)
    if run_first:  # TF Addons sets g := ||v|| on the first call; new g values then matter
        keras_reference.predict(model, _image(seed))
        keras_reference.randomize(model, seed + 1, scale)
    return keras_reference.save_weights(model, tmp_path / "weights.h5")


def _max_difference(k, model, path, seed: int) -> float:
    image = _image(seed)
    ours = _uprez(path, image)
    theirs = keras_reference.predict(model, image) / 255.0
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max())


# --- fidelity -------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_matches_tensorflow(k, tmp_path, scale: int) -> None:
    model = keras_edsr(k, scale, num_filters=16, num_res_blocks=3)
    path = _saved(k, model, 10 + scale, EDSR_WEIGHT_SCALE, tmp_path)
    loaded = load_model(path)
    assert loaded.arch.id == "edsr" and loaded.scale == scale
    assert loaded.net.hyperparameters["normalization"] == "krasserm"
    assert _max_difference(k, model, path, scale) <= TOLERANCE


@pytest.mark.parametrize("kind", ["a", "b"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_wdsr_matches_tensorflow(k, tmp_path, kind: str, scale: int) -> None:
    model = keras_wdsr(k, scale, kind, num_filters=12, num_res_blocks=3)
    path = _saved(k, model, 20 + scale, WDSR_WEIGHT_SCALE, tmp_path, run_first=True)
    loaded = load_model(path)
    assert loaded.arch.id == "wdsr" and loaded.scale == scale
    assert loaded.net.hyperparameters["block"] == kind
    assert _max_difference(k, model, path, scale) <= TOLERANCE


def test_wdsr_saved_before_its_first_call_uses_the_stored_kernel(k, tmp_path) -> None:
    model = keras_wdsr(k, 2, "b", num_filters=12, num_res_blocks=2)
    path = _saved(k, model, 30, WDSR_WEIGHT_SCALE, tmp_path, run_first=False)
    assert _max_difference(k, model, path, 30) <= TOLERANCE


@pytest.mark.parametrize("name", ["edsr-x4", "wdsr-b-x3"])
def test_eight_bit_output_equals_krasserms_resolve(k, tmp_path, name: str) -> None:
    if name == "edsr-x4":
        model = keras_edsr(k, 4, num_filters=16, num_res_blocks=3)
        path = _saved(k, model, 40, EDSR_WEIGHT_SCALE, tmp_path)
    else:
        model = keras_wdsr(k, 3, "b", num_filters=12, num_res_blocks=3)
        path = _saved(k, model, 40, WDSR_WEIGHT_SCALE, tmp_path, run_first=True)
    image = _image(41)
    # krasserm model/common.py resolve: clip to 0..255, round half to even, uint8.
    theirs_float = keras_reference.predict(model, image)[0]
    theirs = np.round(np.clip(theirs_float, 0, 255)).astype(np.uint8)
    # Defaults only: krasserm ran the whole image with the convs' zero padding at the border,
    # and the model's original_prepad of 0 says so (a mirror would change every border pixel).
    upscaler = Upscaler(load_model(path), device="cpu", precision="fp32", tile=8)
    ours = upscale_picture(Picture(image[0].astype(np.uint8)), upscaler).pixels
    assert ours.shape == theirs.shape
    differing = ours != theirs
    # Only where TF's value sits within the float difference of a rounding boundary.
    near_boundary = np.abs(np.abs(theirs_float - np.floor(theirs_float)) - 0.5) < 0.05
    assert not np.any(differing & ~near_boundary)
    assert differing.sum() <= 2
    assert 0.8 < np.mean((theirs_float > 0) & (theirs_float < 255))  # mostly unclipped: a real test


# --- published shapes and official files -------------------------------------------------------


def test_published_configurations_have_keras_parameter_counts(k, tmp_path) -> None:
    for model, expected in ((keras_edsr(k, 4, 64, 16), 1_517_571), (keras_wdsr(k, 4, "b", 32, 32), 615_088)):
        path = keras_reference.save_weights(model, tmp_path / f"{model.name}.h5")
        loaded = load_model(path)
        # TF Addons adds g (one per output channel) and an `initialized` flag per conv: count_params
        # counts both, the README's 0.62 M only g. Both fold into the kernels.
        g = sum(int(np.prod(w.shape)) for w in model.weights if w.name.endswith("/g:0"))
        flags = sum(1 for w in model.weights if w.name.endswith("initialized:0"))
        assert model.count_params() - flags == expected
        assert loaded.parameter_count() == expected - g
        assert loaded.net.tile_context() <= 48


@pytest.mark.parametrize(("num_features", "res_scale"), [(64, 1.0), (256, 0.1)])
def test_official_edsr_pytorch_state_dict_loads(tmp_path, num_features: int, res_scale: float) -> None:
    net = edsr_arch.EDSR(num_features=num_features, num_blocks=2, upscale=3, res_scale=res_scale)
    state_dict = net.state_dict()
    assert list(state_dict)[:4] == ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias"]
    assert {"head.0.weight", "body.1.body.2.bias", "body.2.weight", "tail.0.0.weight", "tail.1.bias"} <= set(state_dict)
    torch.save(state_dict, tmp_path / f"edsr_x3_f{num_features}.pt")
    loaded = load_model(tmp_path / f"edsr_x3_f{num_features}.pt")
    assert loaded.arch.id == "edsr" and loaded.scale == 3
    assert loaded.net.hyperparameters["res_scale"] == res_scale
    assert loaded.net.hyperparameters["normalization"] == "official"
    # Official MeanShift(255): identity weights, minus / plus 255 * DIV2K mean.
    assert torch.allclose(state_dict["sub_mean.bias"], -torch.tensor(DIV2K_RGB_MEAN, dtype=torch.float32))
    x = torch.rand(1, 3, 6, 6)
    with torch.inference_mode():
        assert torch.equal(loaded.net(x), net.eval()(x))


def test_krasserm_and_official_forms_run_the_same_graph() -> None:
    # Both subtract the DIV2K mean before the head's zero padding, so krasserm's 1/127.5 and
    # 127.5 may sit in the mean shifts (as loaded) or in head.0 and tail.1 (as official).
    krasserm = seeded_weights(edsr_arch.EDSR(num_features=8, num_blocks=2, upscale=2, normalization="krasserm"), 5)
    official = edsr_arch.ARCH.load(edsr_arch.rename(edsr_arch.rename(krasserm.state_dict(), "keras"), "canonical"))
    folded = edsr_arch.EDSR(num_features=8, num_blocks=2, upscale=2)
    state = dict(krasserm.state_dict())
    state.update({key: value for key, value in folded.state_dict().items() if "_mean." in key})
    state["head.0.weight"] = state["head.0.weight"] / edsr_arch.KRASSERM_SCALE
    state["tail.1.weight"] = state["tail.1.weight"] * edsr_arch.KRASSERM_SCALE
    state["tail.1.bias"] = state["tail.1.bias"] * edsr_arch.KRASSERM_SCALE
    folded = edsr_arch.ARCH.load(state)
    assert folded.hyperparameters["normalization"] == "official"
    back = edsr_arch.ARCH.load(edsr_arch.rename(folded.state_dict(), "keras"))
    x = torch.rand(1, 3, 10, 10)
    with torch.inference_mode():
        expected = krasserm(x)
        for other in (official, folded, back):
            assert torch.allclose(other(x), expected, atol=1e-5)
