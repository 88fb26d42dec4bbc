"""Every example of every registered architecture: round trip, exclusive detection, golden output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import GOLDEN, seed_of, seeded_input, seeded_weights

from uprez.core import archs

EXAMPLES = [(arch, example) for arch in archs.all_architectures() for example in arch.examples]
IDS = [f"{arch.id}--{example.name}" for arch, example in EXAMPLES]
# Same code, same weights, other BLAS builds or thread counts: sums in another order.
GOLDEN_TOLERANCE = 1e-4
GOLDEN_INPUT_SIZE = 8


def build_example(arch: archs.Architecture, example: archs.Example) -> tuple[archs.SRNet, dict]:
    net = seeded_weights(arch.module(**example.config), seed_of(f"{arch.id}--{example.name}"))
    return net, arch.rename(net.state_dict(), example.naming)


def test_registry_discovers_each_architecture_file() -> None:
    assert {"rrdbnet", "srvgg"} <= {arch.id for arch in archs.all_architectures()}


@pytest.mark.parametrize(("arch", "example"), EXAMPLES, ids=IDS)
def test_example_is_detected_as_itself_and_nothing_else(arch: archs.Architecture, example: archs.Example) -> None:
    _, state_dict = build_example(arch, example)
    accepting = [other.id for other in archs.all_architectures() if other.detect(state_dict)]
    assert accepting == [arch.id]
    assert archs.detect(state_dict) is arch


@pytest.mark.parametrize(("arch", "example"), EXAMPLES, ids=IDS)
def test_example_round_trips_through_its_state_dict(arch: archs.Architecture, example: archs.Example) -> None:
    net, state_dict = build_example(arch, example)
    loaded = arch.load(state_dict)
    assert loaded.hyperparameters == net.hyperparameters
    assert (loaded.scale, loaded.in_channels, loaded.out_channels) == (net.scale, net.in_channels, net.out_channels)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = seeded_input(net.in_channels, GOLDEN_INPUT_SIZE, 1)
    with torch.inference_mode():
        # Equal weights, but not always equal bits: a full run once saw neural-enhance's tiny
        # convs round differently (CPU kernels may pick their summation order by alignment).
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("arch", "example"), EXAMPLES, ids=IDS)
def test_example_matches_its_golden_output(
    arch: archs.Architecture, example: archs.Example, request: pytest.FixtureRequest
) -> None:
    net, state_dict = build_example(arch, example)
    loaded = arch.load(state_dict)
    x = seeded_input(net.in_channels, GOLDEN_INPUT_SIZE, seed_of(example.name))
    with torch.inference_mode():
        output = loaded(x).numpy()
    assert output.shape == (1, net.out_channels, GOLDEN_INPUT_SIZE * net.scale, GOLDEN_INPUT_SIZE * net.scale)
    path = GOLDEN / f"{arch.id}--{example.name}.npz"
    if request.config.getoption("--write-goldens"):
        GOLDEN.mkdir(exist_ok=True)
        np.savez_compressed(path, output=output)
    expected = np.load(path)["output"]
    np.testing.assert_allclose(output, expected, atol=GOLDEN_TOLERANCE, rtol=GOLDEN_TOLERANCE)


def test_rrdbnet_namings_load_to_identical_networks() -> None:
    arch = archs.get("rrdbnet")
    net = seeded_weights(arch.module(num_features=8, num_blocks=2, growth_channels=4), 7)
    loaded = [arch.load(arch.rename(net.state_dict(), naming)) for naming in ("basicsr", "esrgan", "esrgan-old")]
    x = seeded_input(3, 8, 3)
    with torch.inference_mode():
        outputs = [model(x) for model in loaded]
    assert all(torch.equal(outputs[0], other) for other in outputs[1:])


def test_old_esrgan_names_follow_the_sequential_layout() -> None:
    arch = archs.get("rrdbnet")
    net = arch.module(num_features=8, num_blocks=2, growth_channels=4, num_upsamples=3)
    keys = set(arch.rename(net.state_dict(), "esrgan-old"))
    # conv_first, trunk, then (upsample, conv, act) x3, HR conv, act, last conv.
    assert {"model.0.weight", "model.1.sub.2.weight", "model.3.weight", "model.6.weight", "model.9.weight",
            "model.11.weight", "model.13.weight", "model.1.sub.1.RDB3.conv5.0.bias"} <= keys  # fmt: skip


def test_unknown_state_dict_is_detected_as_nothing() -> None:
    assert archs.detect({"encoder.weight": torch.zeros(3, 3, 3, 3)}) is None
