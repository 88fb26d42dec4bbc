"""SRVGGNetCompact's Winograd C kernel (CPU, fp32): one layer, whole networks, real weights."""

from __future__ import annotations

import os

import pytest
import torch
from support import photo_tensor, seeded_input, seeded_weights
from torch.nn import functional as F

from uprez.core.archs import _native, _srvgg_winograd, get
from uprez.core.archs._as_written import as_written
from uprez.core.archs._winograd import Tiling
from uprez.core.engine.upscaler import Upscaler
from uprez.core.model import LoadedModel

REQUIRE_NATIVE = "UPREZ_REQUIRE_NATIVE"  # CI: a missing compiler fails these tests instead of skipping them


@pytest.fixture
def kernel():
    run = _srvgg_winograd.kernel()
    if run is None:
        message = f"no Winograd kernel: {_native.why_unavailable(_srvgg_winograd.SOURCE)}"
        if os.environ.get(REQUIRE_NATIVE):
            pytest.fail(message)
        pytest.skip(message)
    return run


def one_layer(kernel, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, slopes: torch.Tensor | None):
    """[C, H, W] through the kernel: the whole output grid, zero border included."""
    channels, height, width = x.shape
    grid = Tiling(height, width).padded
    layer = _srvgg_winograd.prepared([weight], [bias], [] if slopes is None else [slopes])[0]
    source = torch.zeros(*grid, layer.inputs)
    source[1 : height + 1, 1 : width + 1, :channels] = x.permute(1, 2, 0)
    target = torch.zeros(*grid, layer.outputs)
    slope_pointer = None if layer.slopes is None else layer.slopes.data_ptr()
    status = kernel(source.data_ptr(), target.data_ptr(), grid[1], height, width, layer.inputs, layer.outputs,
                    layer.filter.data_ptr(), layer.bias.data_ptr(), slope_pointer, 2)  # fmt: skip
    assert status == 0
    return target


@pytest.mark.parametrize("size", [(1, 1), (6, 6), (7, 13), (31, 20), (50, 37)])
@pytest.mark.parametrize(("inputs", "outputs", "activation"), [(16, 16, "prelu"), (3, 48, "prelu"), (64, 27, None)])
def test_a_layer_equals_the_direct_convolution(kernel, size, inputs: int, outputs: int, activation: str | None) -> None:
    generator = torch.Generator().manual_seed(inputs * outputs + sum(size))
    height, width = size
    x = torch.rand(inputs, height, width, generator=generator)
    weight = torch.randn(outputs, inputs, 3, 3, generator=generator) / (3 * inputs**0.5)
    bias = torch.randn(outputs, generator=generator) / 4
    slopes = torch.rand(outputs, generator=generator) / 2 if activation else None
    expected = F.conv2d(x.double().unsqueeze(0), weight.double(), bias.double(), padding=1)[0]
    if slopes is not None:
        expected = F.prelu(expected.unsqueeze(0), slopes.double())[0]
    grid = one_layer(kernel, x, weight, bias, slopes)
    ours = grid[1 : height + 1, 1 : width + 1, :outputs].permute(2, 0, 1)
    torch.testing.assert_close(ours.double(), expected, rtol=0, atol=2e-5)
    # Everything around the map stays zero: the next layer reads it as its padding.
    inside = torch.zeros_like(grid, dtype=torch.bool)
    inside[1 : height + 1, 1 : width + 1] = True
    assert grid[~inside].abs().max() == 0
    assert grid[1 : height + 1, 1 : width + 1, outputs:].abs().sum() == 0  # padded channels too


def test_a_layer_refuses_channels_it_cannot_vectorize(kernel) -> None:
    source, target, weights = torch.zeros(8, 8, 24), torch.zeros(8, 8, 16), torch.zeros(64, 24, 16)
    bias = torch.zeros(16)
    status = kernel(source.data_ptr(), target.data_ptr(), 8, 6, 6, 24, 16, weights.data_ptr(), bias.data_ptr(), None, 1)
    assert status == 1


EXAMPLES = {
    "prelu-x4": dict(num_features=16, num_conv=3, upscale=4),
    "prelu-x2-12-outputs": dict(num_features=32, num_conv=4, upscale=2),
    "relu-x3": dict(num_features=16, num_conv=2, upscale=3, activation="relu"),
    "leaky-x4": dict(num_features=16, num_conv=2, upscale=4, activation="leakyrelu"),
    "gray-x4": dict(in_channels=1, out_channels=1, num_features=24, num_conv=2, upscale=4),
}


def network(name: str) -> torch.nn.Module:
    net = get("srvgg").module(**EXAMPLES[name])
    return seeded_weights(net, len(name)).eval()


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 13, 7), (1, 20, 31)])
def test_the_network_equals_its_modules_as_written(kernel, name: str, shape: tuple[int, int, int]) -> None:
    net = network(name)
    x = seeded_input(net.in_channels, max(shape[1:]), sum(shape))[:, :, : shape[1], : shape[2]]
    x = torch.cat([x, x.flip(-1)][: shape[0]])  # the batch's images differ
    with torch.inference_mode():
        assert _srvgg_winograd.applies(x, net.body[0].weight)
        ours = net(x)
        with as_written():
            expected = net(x)
    assert ours.shape == expected.shape
    # Winograd rounds otherwise than direct convolution: measured up to 1.6e-5 on outputs near 1.
    torch.testing.assert_close(ours, expected, rtol=0, atol=5e-5)


def test_buffers_reused_across_map_sizes_give_the_same_numbers(kernel) -> None:
    # 13x13 and 17x17 are both 3x3 Winograd tiles: the smaller map must not read the larger
    # one's pixels as its zero border.
    net = network("prelu-x4")
    sizes = [17, 13, 17, 5, 13]
    inputs = [seeded_input(3, size, size) for size in sizes]
    with torch.inference_mode():
        reused = [net(x) for x in inputs]
        fresh = [network("prelu-x4")(x) for x in inputs]
    for ours, expected in zip(reused, fresh, strict=True):
        assert torch.equal(ours, expected)


def test_weights_loaded_after_a_call_are_used(kernel) -> None:
    net, other = network("prelu-x4"), seeded_weights(get("srvgg").module(**EXAMPLES["prelu-x4"]), 99)
    x = seeded_input(3, 12, 5)
    with torch.inference_mode():
        net(x)
        net.load_state_dict(other.state_dict())
        ours = net(x)
        with as_written():
            expected = other(x)
    torch.testing.assert_close(ours, expected, rtol=0, atol=5e-5)


def test_hooks_on_the_convs_still_run_once_per_layer(kernel) -> None:
    # The engine's cancel check is a pre-hook on each conv.
    net = network("prelu-x4")
    calls: list[int] = []
    for index, conv in enumerate(net.body[0::2]):
        conv.register_forward_pre_hook(lambda module, args, index=index: calls.append((index, args[0].shape)))
    with torch.inference_mode():
        net(seeded_input(3, 9, 1))
    assert calls == [(index, (1, 3, 9, 9)) for index in range(len(net.body[0::2]))]


def test_without_a_compiler_the_modules_run(monkeypatch: pytest.MonkeyPatch) -> None:
    net = network("prelu-x4")
    x = seeded_input(3, 10, 2)
    with torch.inference_mode(), as_written():
        expected = net(x)
    _native.forget()
    monkeypatch.setenv("CC", "/nonexistent/cc")
    try:
        with torch.inference_mode(), pytest.warns(RuntimeWarning, match="C kernel unavailable"):
            assert not _srvgg_winograd.applies(x, net.body[0].weight)
            ours = Upscaler(loaded_of(net), device="cpu", prepad=0).upscale(x[0])
        assert "/nonexistent/cc" in _native.why_unavailable(_srvgg_winograd.SOURCE)
    finally:
        _native.forget()
    torch.testing.assert_close(ours, expected[0].clamp(0, 1), rtol=0, atol=1e-5)


def loaded_of(net: torch.nn.Module) -> LoadedModel:
    return LoadedModel(net, get("srvgg"), "test", None, {})  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["realesr-animevideov3-x4", "realesr-animevideov3-x3", "realesr-animevideov3-x2"])
def test_real_weights_stay_within_one_level_of_the_plain_network(kernel, stem: str, real_model) -> None:
    # The bar for the fast fp32 path: within one 8-bit level of the network as written,
    # on a whole real photo (border 0 on both sides).
    model = real_model(stem)
    image = photo_tensor("coffee_cup.png")
    upscaler = Upscaler(model, device="cpu", prepad=0)
    assert upscaler.plan(image.shape[-1], image.shape[-2]).whole_image
    ours = upscaler.upscale(image, out_dtype=torch.uint8).int()
    with torch.inference_mode(), as_written():
        plain = model.net(image.unsqueeze(0))[0].clamp(0, 1).mul(255).add(0.5).floor().int()
    difference = (ours - plain).abs()
    # Measured: a few hundred of 0.2-0.8 M values one level apart, none further.
    assert difference.max() <= 1
    assert (difference > 0).float().mean() < 1e-3
