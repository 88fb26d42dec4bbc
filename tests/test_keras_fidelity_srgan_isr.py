"""SRResNet (krasserm SRGAN), RDN and RRDN (idealo ISR) against the originals run in TensorFlow.

Each Keras model is built the way its project builds it (same layers, names and creation
order, hence the same h5 layout), given seeded random weights, saved with ``save_weights`` and
loaded by uprez from that file alone. Tolerance: 1e-4 on the 0..1 scale (fp32 sums in
another order); 8-bit levels may differ only where a value sits on a rounding boundary.
"""

from __future__ import annotations

import keras_reference
import numpy as np
import pytest
import torch

from uprez.core.archs.rdn import RDN
from uprez.core.archs.rrdn import RRDN
from uprez.core.archs.srresnet import SRResNet
from uprez.core.model import load_model
from uprez.core.quantize import quantize_

TOLERANCE = 1e-4
# A level may flip only where TF's value lies this close to a rounding boundary (0..255 scale).
BOUNDARY = 1e-3
IMAGE_SIZE = 12
# Weight noise (standard deviation), chosen so that outputs spread over most of 0..1 without
# saturating krasserm's tanh or leaving ISR's 0..1 range: SRResNet std 53 of 255 levels,
# RDN 0.06-0.47, RRDN 0.31-0.33, with 67-100 % of the samples unclipped.
WEIGHT_SCALE = {"srresnet": 0.08, "rdn": 0.07, "rrdn": 0.12}


@pytest.fixture(scope="module")
def k():
    return keras_reference.require()


def _image(seed: int) -> np.ndarray:
    """An 8-bit RGB image as float32 0..255, NHWC (what both projects feed their models)."""
    return np.random.default_rng(seed).integers(0, 256, (1, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)


def _uprez(path, image_01: np.ndarray, arch_id: str, keras_model) -> tuple[torch.Tensor, np.ndarray]:
    model = load_model(path)
    assert model.arch.id == arch_id
    assert _count(model.net, with_buffers=True) == keras_model.count_params()
    with torch.inference_mode():
        out = model.net(torch.from_numpy(image_01.transpose(0, 3, 1, 2).copy()))
    return out, out.numpy().transpose(0, 2, 3, 1)


# --- the originals, as their projects build them -----------------------------------------------


def _sr_resnet(k, num_filters: int, num_res_blocks: int):
    """krasserm model/srgan.py ``sr_resnet`` (auto-named layers, a single chain)."""
    L = k.keras.layers

    def upsample(x_in, filters):
        x = L.Conv2D(filters, kernel_size=3, padding="same")(x_in)
        x = L.Lambda(lambda t: k.tf.nn.depth_to_space(t, 2))(x)
        return L.PReLU(shared_axes=[1, 2])(x)

    def res_block(x_in, filters, momentum=0.8):
        x = L.Conv2D(filters, kernel_size=3, padding="same")(x_in)
        x = L.BatchNormalization(momentum=momentum)(x)
        x = L.PReLU(shared_axes=[1, 2])(x)
        x = L.Conv2D(filters, kernel_size=3, padding="same")(x)
        x = L.BatchNormalization(momentum=momentum)(x)
        return L.Add()([x_in, x])

    x_in = L.Input(shape=(None, None, 3))
    x = L.Lambda(lambda t: t / 255.0)(x_in)
    x = L.Conv2D(num_filters, kernel_size=9, padding="same")(x)
    x = x_1 = L.PReLU(shared_axes=[1, 2])(x)
    for _ in range(num_res_blocks):
        x = res_block(x, num_filters)
    x = L.Conv2D(num_filters, kernel_size=3, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.Add()([x_1, x])
    x = upsample(x, num_filters * 4)
    x = upsample(x, num_filters * 4)
    x = L.Conv2D(3, kernel_size=9, padding="same", activation="tanh")(x)
    x = L.Lambda(lambda t: (t + 1) * 127.5)(x)
    return k.keras.Model(x_in, x)


def _dense_block(k, x, G: int, C: int, name: str):
    """ISR's running concatenation of conv+ReLU outputs, named F_{name}_{c}."""
    L = k.keras.layers
    for c in range(1, C + 1):
        F_dc = L.Conv2D(G, kernel_size=3, padding="same", name=f"F_{name}_{c}")(x)
        F_dc = L.Activation("relu", name=f"F_{name}_{c}_Relu")(F_dc)
        x = L.concatenate([x, F_dc], axis=3, name=f"RDB_Concat_{name}_{c}")
    return x


def _rdn(k, C: int, D: int, G: int, G0: int, x: int, upscaling: str = "ups"):
    """ISR ISR/models/rdn.py ``RDN._build_rdn`` (c_dim 3, kernel_size 3)."""
    L = k.keras.layers
    LR_input = L.Input(shape=(None, None, 3), name="LR")
    F_m1 = L.Conv2D(G0, kernel_size=3, padding="same", name="F_m1")(LR_input)
    F_0 = L.Conv2D(G0, kernel_size=3, padding="same", name="F_0")(F_m1)
    rdb_concat, rdb_in = [], F_0
    for d in range(1, D + 1):
        y = _dense_block(k, rdb_in, G, C, str(d))
        y = L.Conv2D(G0, kernel_size=1, name=f"LFF_{d}")(y)
        rdb_in = L.Add(name=f"LRL_{d}")([y, rdb_in])
        rdb_concat.append(rdb_in)
    FD = L.concatenate(rdb_concat, axis=3, name="LRLs_Concat")
    GFF1 = L.Conv2D(G0, kernel_size=1, padding="same", name="GFF_1")(FD)
    GFF2 = L.Conv2D(G0, kernel_size=3, padding="same", name="GFF_2")(GFF1)
    FDF = L.Add(name="FDF")([GFF2, F_m1])
    y = L.Conv2D(64, kernel_size=5, strides=1, padding="same", name="UPN1")(FDF)
    y = L.Activation("relu", name="UPN1_Relu")(y)
    y = L.Conv2D(32, kernel_size=3, padding="same", name="UPN2")(y)
    y = L.Activation("relu", name="UPN2_Relu")(y)
    y = L.Conv2D(3 * x**2, kernel_size=3, padding="same", name="UPN3")(y)
    if upscaling == "ups":
        y = L.UpSampling2D(size=x, name="UPsample")(y)
    else:
        y = L.Lambda(lambda t: k.tf.nn.depth_to_space(t, block_size=x), name="PixelShuffle")(y)
    SR = L.Conv2D(3, kernel_size=3, padding="same", name="SR")(y)
    return k.keras.Model(inputs=LR_input, outputs=SR)


def _rrdn(k, C: int, D: int, G: int, G0: int, T: int, x: int, beta: float = 0.2):
    """ISR ISR/models/rrdn.py ``RRDN._build_rdn`` (MultiplyBeta and PixelShuffle as Lambdas)."""
    L = k.keras.layers

    def multiply_beta(t):
        return L.Lambda(lambda v: v * beta)(t)

    def rrdb(input_layer, t):
        y = input_layer
        for d in range(1, D + 1):
            LFF = _dense_block(k, y, G, C, f"{t}_{d}")
            LFF = L.Conv2D(G0, kernel_size=3, padding="same", name=f"LFF_{t}_{d}")(LFF)
            y = L.Add(name=f"LRL_{t}_{d}")([y, multiply_beta(LFF)])
        return L.Add(name=f"RRDB_{t}_out")([input_layer, multiply_beta(y)])

    LR_input = L.Input(shape=(None, None, 3), name="LR_input")
    pre_blocks = L.Conv2D(G0, kernel_size=3, padding="same", name="Pre_blocks_conv")(LR_input)
    y = pre_blocks
    for t in range(1, T + 1):
        y = rrdb(y, t)
    post_blocks = L.Conv2D(G0, kernel_size=3, padding="same", name="post_blocks_conv")(y)
    GRL = L.Add(name="GRL")([post_blocks, pre_blocks])
    PS = L.Conv2D(3 * x**2, kernel_size=3, padding="same", name="PreShuffle")(GRL)
    PS = L.Lambda(lambda v: k.tf.nn.depth_to_space(v, block_size=x))(PS)
    SR = L.Conv2D(3, kernel_size=3, padding="same", name="SR")(PS)
    return k.keras.Model(inputs=LR_input, outputs=SR)


def _centre_output(model, layer: str) -> None:
    """Moves the last conv's bias to 0.5 so that outputs spread over the whole 0..1 range."""
    model.get_layer(layer).bias.assign(np.full(3, 0.5, np.float32))


# --- float fidelity ------------------------------------------------------------------------------


def test_srresnet_matches_krasserm(k, tmp_path) -> None:
    L = k.keras.layers
    for _ in range(4):  # bump Keras' per-session counters: the file starts at conv2d_4 or later
        L.Conv2D(1, 1), L.BatchNormalization(), L.PReLU()
    model = _sr_resnet(k, num_filters=16, num_res_blocks=2)
    keras_reference.randomize(model, 11, WEIGHT_SCALE["srresnet"])
    path = keras_reference.save_weights(model, tmp_path / "gan_generator.h5")
    lr = _image(11)
    expected = keras_reference.predict(model, lr)  # 0..255
    out, ours = _uprez(path, lr / 255.0, "srresnet", model)
    assert out.shape == (1, 3, 4 * IMAGE_SIZE, 4 * IMAGE_SIZE)
    assert expected.std() > 10  # the comparison covers a real spread of values
    np.testing.assert_allclose(ours, expected / 255.0, atol=TOLERANCE, rtol=0)
    # krasserm's resolve: clip_by_value(0, 255), tf.round (half to even), uint8.
    _assert_same_levels(quantize_(out.clone(), 255, "half_even"), np.round(np.clip(expected, 0, 255)), expected, 0.5)


@pytest.mark.parametrize(("scale", "upscaling"), [(2, "ups"), (3, "ups"), (4, "ups"), (2, "shuffle"), (3, "shuffle")])
def test_rdn_matches_isr(k, tmp_path, scale: int, upscaling: str) -> None:
    model = _rdn(k, C=2, D=2, G=8, G0=8, x=scale, upscaling=upscaling)
    keras_reference.randomize(model, scale, WEIGHT_SCALE["rdn"])
    _centre_output(model, "SR")
    path = keras_reference.save_weights(model, tmp_path / f"rdn-C2-D2-G8-G08-x{scale}.hdf5")
    lr = _image(scale) / 255.0  # ISR's process_array
    expected = keras_reference.predict(model, lr)
    out, ours = _uprez(path, lr, "rdn", model)
    assert out.shape == (1, 3, scale * IMAGE_SIZE, scale * IMAGE_SIZE)
    assert expected.std() > 0.03
    np.testing.assert_allclose(ours, expected, atol=TOLERANCE, rtol=0)
    _assert_isr_levels(out, expected)


@pytest.mark.parametrize("scale", [4, 2])
def test_rrdn_matches_isr(k, tmp_path, scale: int) -> None:
    model = _rrdn(k, C=2, D=2, G=8, G0=8, T=2, x=scale)
    keras_reference.randomize(model, 40 + scale, WEIGHT_SCALE["rrdn"])
    _centre_output(model, "SR")
    path = keras_reference.save_weights(model, tmp_path / f"rrdn-C2-D2-G8-G08-T2-x{scale}.hdf5")
    lr = _image(40 + scale) / 255.0
    expected = keras_reference.predict(model, lr)
    out, ours = _uprez(path, lr, "rrdn", model)
    assert out.shape == (1, 3, scale * IMAGE_SIZE, scale * IMAGE_SIZE)
    assert expected.std() > 0.05
    np.testing.assert_allclose(ours, expected, atol=TOLERANCE, rtol=0)
    _assert_isr_levels(out, expected)


def _assert_isr_levels(out: torch.Tensor, expected: np.ndarray) -> None:
    # ISR's process_output: np.uint8(clip(x, 0, 1) * 255), a truncation.
    theirs = np.clip(expected, 0, 1) * 255
    _assert_same_levels(quantize_(out.clone(), 255, "truncate"), np.floor(theirs), theirs, 0.0)


def _assert_same_levels(ours: torch.Tensor, levels: np.ndarray, raw: np.ndarray, boundary: float) -> None:
    """Equal levels, except where ``raw`` (0..255) is within BOUNDARY of ``n + boundary``."""
    ours_nhwc = ours.numpy().transpose(0, 2, 3, 1)
    differ = ours_nhwc != levels
    distance = np.abs(raw - boundary - np.round(raw - boundary))
    assert np.all(distance[differ] < BOUNDARY), f"{differ.sum()} levels differ away from a rounding boundary"
    assert np.all(np.abs(ours_nhwc - levels) <= 1)


# --- published sizes -----------------------------------------------------------------------------


def _count(net: torch.nn.Module, with_buffers: bool = False) -> int:
    tensors = list(net.parameters()) + (list(net.buffers()) if with_buffers else [])
    return sum(t.numel() for t in tensors)


@pytest.mark.parametrize(
    ("module", "config", "published"),
    [
        # The reference note says 16,347,551; ISR's own graph built in tf-keras counts 16,347,635.
        (RDN, dict(num_features=64, growth_channels=64, num_convs=6, num_blocks=20, upscale=2), 16_347_635),
        (RDN, dict(num_features=64, growth_channels=64, num_convs=3, num_blocks=10, upscale=2), 2_619_635),
        (
            RRDN,
            dict(num_features=32, growth_channels=32, num_convs=4, num_dense=3, num_blocks=10, upscale=4),
            4_176_100,
        ),
    ],
    ids=["rdn-psnr-large", "rdn-psnr-small", "rrdn-gans"],
)
def test_isr_published_configurations_have_the_published_size(module: type, config: dict, published: int) -> None:
    # ISR's arch_params: G0 = num_features, G = growth, C = convs, D = blocks (RRDN: D = dense, T = blocks).
    assert _count(module(**config)) == published


def test_srresnet_published_configuration_has_the_published_size() -> None:
    # krasserm's README says 1.55 M; Keras counts batch-norm moving statistics as weights.
    assert _count(SRResNet(num_features=64, num_blocks=16), with_buffers=True) == 1_554_883
