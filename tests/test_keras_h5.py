"""The Keras HDF5 reader against files written by tf-keras itself."""

from __future__ import annotations

import h5py
import keras_reference
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from uprez.core.archs._keras import depth_to_space_order, pixel_shuffle_to_depth_to_space
from uprez.core.errors import WeightFileError
from uprez.core.weights import read_weights

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def k():
    return keras_reference.require()


def _image(seed: int, size: int = 9, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((1, size, size, channels), dtype=np.float32)


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy())


def _nhwc(y: torch.Tensor) -> np.ndarray:
    return y.numpy().transpose(0, 2, 3, 1)


def test_layers_keep_the_files_order_and_kernels_become_oihw(k, tmp_path) -> None:
    layers = k.keras.layers
    x = layers.Input((None, None, 3))
    # Twelve layers: alphabetical HDF5 order would put conv_10 before conv_2.
    y = x
    for index in range(12):
        y = layers.Conv2D(4 if index < 11 else 3, 3, padding="same", name=f"conv_{index}")(y)
    model = k.keras.Model(x, y)
    keras_reference.randomize(model, 1)
    path = keras_reference.save_weights(model, tmp_path / "chain.h5")

    weights = read_weights(path)
    assert list(weights.state_dict)[:4] == ["conv_0.weight", "conv_0.bias", "conv_1.weight", "conv_1.bias"]
    assert list(weights.state_dict)[-2:] == ["conv_11.weight", "conv_11.bias"]
    image = _image(2)
    out = _nchw(image)
    for index in range(12):
        sd = weights.state_dict
        out = F.conv2d(out, sd[f"conv_{index}.weight"], sd[f"conv_{index}.bias"], padding=1)
    np.testing.assert_allclose(_nhwc(out), keras_reference.predict(model, image), atol=TOLERANCE)


@pytest.mark.parametrize("block", [2, 3, 4])
def test_depth_to_space_order_makes_pixel_shuffle_equal_tf(k, tmp_path, block: int) -> None:
    layers = k.keras.layers
    x = layers.Input((None, None, 5))
    y = layers.Conv2D(3 * block * block, 3, padding="same", name="up")(x)
    y = layers.Lambda(lambda t: k.tf.nn.depth_to_space(t, block))(y)
    model = k.keras.Model(x, y)
    keras_reference.randomize(model, block)
    weights = read_weights(keras_reference.save_weights(model, tmp_path / "d2s.h5")).state_dict

    weight, bias = depth_to_space_order(weights["up.weight"], weights["up.bias"], block)
    image = _image(block, channels=5)
    ours = F.pixel_shuffle(F.conv2d(_nchw(image), weight, bias, padding=1), block)
    np.testing.assert_allclose(_nhwc(ours), keras_reference.predict(model, image), atol=TOLERANCE)
    back = pixel_shuffle_to_depth_to_space(weight, bias, block)
    assert torch.equal(back[0], weights["up.weight"]) and torch.equal(back[1], weights["up.bias"])


@pytest.mark.parametrize("run_before_saving", [True, False])
def test_weight_norm_batch_norm_and_prelu_convert(k, tmp_path, run_before_saving: bool) -> None:
    layers = k.keras.layers
    x = layers.Input((None, None, 3))
    y = k.tfa.layers.WeightNormalization(layers.Conv2D(6, 3, padding="same"), data_init=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.PReLU(shared_axes=[1, 2])(y)
    model = k.keras.Model(x, y)
    keras_reference.randomize(model, 7)
    image = _image(7)
    if run_before_saving:  # the first call sets TF Addons' g := ||v|| and marks it initialized
        keras_reference.predict(model, image)
        keras_reference.randomize(model, 8)
    expected_norm = None
    if not run_before_saving:
        kernel = next(v for v in model.weights if v.name.endswith("kernel:0")).numpy()
        expected_norm = kernel.transpose(3, 2, 0, 1)
    path = keras_reference.save_weights(model, tmp_path / "wn.h5")
    sd = read_weights(path).state_dict
    wn = next(key[: -len(".weight")] for key in sd if key.startswith("weight_normalization") and key.endswith("weight"))
    bn = next(key[: -len(".running_var")] for key in sd if key.endswith(".running_var"))
    prelu = next(key[: -len(".weight")] for key in sd if key.startswith("p_re_lu"))
    if expected_norm is not None:  # never run: the stored kernel is the effective one
        np.testing.assert_array_equal(sd[f"{wn}.weight"].numpy(), expected_norm)
    y = F.conv2d(_nchw(image), sd[f"{wn}.weight"], sd[f"{wn}.bias"], padding=1)
    y = F.batch_norm(y, sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"], sd[f"{bn}.weight"], sd[f"{bn}.bias"],
                     eps=1e-3)
    y = F.prelu(y, sd[f"{prelu}.weight"])
    np.testing.assert_allclose(_nhwc(y), keras_reference.predict(model, image), atol=TOLERANCE)


def test_whole_model_files_are_read_from_model_weights(k, tmp_path) -> None:
    layers = k.keras.layers
    x = layers.Input((8, 8, 3))
    model = k.keras.Model(x, layers.Conv2D(3, 1, name="only")(x))
    model.save(str(tmp_path / "model.h5"))
    assert set(read_weights(tmp_path / "model.h5").state_dict) == {"only.weight", "only.bias"}


def test_split_layer_names_are_joined(tmp_path) -> None:
    path = tmp_path / "split.h5"
    with h5py.File(path, "w") as file:
        file.attrs["layer_names0"] = [b"a"]
        file.attrs["layer_names1"] = [b"b"]
        for name in ("a", "b"):
            group = file.create_group(name)
            group.attrs["weight_names"] = [f"{name}/bias:0".encode()]
            group.create_dataset(f"{name}/bias:0", data=np.ones(2, np.float32))
    assert list(read_weights(path).state_dict) == ["a.bias", "b.bias"]


def test_bad_files_fail_in_one_line(tmp_path) -> None:
    not_keras = tmp_path / "plain.h5"
    with h5py.File(not_keras, "w") as file:
        file.create_dataset("x", data=np.zeros(3))
    truncated = tmp_path / "cut.hdf5"
    truncated.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    theano = tmp_path / "theano.h5"
    with h5py.File(theano, "w") as file:
        file.attrs["backend"] = "theano"
        file.attrs["layer_names"] = []
    for path, words in ((not_keras, "not Keras"), (truncated, "cannot be read"), (theano, "theano")):
        with pytest.raises(WeightFileError) as caught:
            read_weights(path)
        message = str(caught.value)
        assert "\n" not in message and path.name in message and words in message
