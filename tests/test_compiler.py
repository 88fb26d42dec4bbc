"""Fusing a network's hot blocks (core/engine/compiler.py): the functions of tensors that
torch.compile takes compute what the modules do, compiled or not, and a failing compiler
never stops an upscale. The speed itself is measured on CUDA (benchmarks/gpu_levers.py)."""

from __future__ import annotations

import shutil

import pytest
import torch
from support import seeded_input, seeded_weights
from test_engine import compact, loaded, rrdb

from uprez.core.archs import get
from uprez.core.archs._as_written import as_written
from uprez.core.engine import compiler
from uprez.core.engine.upscaler import Upscaler


def eager_and_fused(net, compile_with, *inputs):
    # The modules as written: the compiled functions are the networks' direct convolutions.
    with torch.inference_mode():
        with as_written():
            eager = [net(x) for x in inputs]
        net.fuse(compile_with)
        fused = [net(x) for x in inputs]
    return eager, fused


@pytest.mark.parametrize("activation", ["prelu", "relu", "leakyrelu"])
@pytest.mark.parametrize(("in_channels", "upscale"), [(3, 4), (1, 2), (3, 1)])
def test_compact_core_is_the_network_as_a_function(activation: str, in_channels: int, upscale: int) -> None:
    net = get("srvgg").module(
        in_channels=in_channels,
        out_channels=in_channels,
        num_features=8,
        num_conv=3,
        upscale=upscale,
        activation=activation,
    )
    net = seeded_weights(net, 11).eval()
    x = seeded_input(in_channels, 13, 1)
    eager, fused = eager_and_fused(net, lambda function: function, x)
    assert net.fused is not None
    assert torch.equal(fused[0], eager[0])


def test_dense_blocks_swap_in_what_the_compiler_returns() -> None:
    net = rrdb().net
    seen: list = []

    def recording(function):
        seen.append(function)
        return lambda *args: function(*args).mul(0)  # visibly different

    x = seeded_input(3, 12, 1)
    eager, fused = eager_and_fused(net, recording, x)
    assert len(seen) == 1  # one compiled function for every block
    assert not torch.equal(fused[0], eager[0])


@pytest.mark.skipif(
    not any(shutil.which(c) for c in ("g++", "c++", "clang++")), reason="Inductor's CPU backend needs a C++ compiler"
)
@pytest.mark.parametrize("make", [compact, rrdb], ids=["srvgg", "rrdbnet"])
def test_really_compiled_networks_match_eager_at_any_size(make) -> None:
    """torch.compile on the CPU here (Inductor's C++ backend): the same functions CUDA compiles
    with Triton. Two sizes: compiled once with symbolic sizes, not per image."""
    net = make().net
    first, second = seeded_input(3, 12, 2), seeded_input(3, 17, 3)[..., :15]
    eager, fused = eager_and_fused(net, compiler.compiled, first, second)
    functions = [f for f in compiler._compiled.values() if f.plain.__module__ == type(net).__module__]
    assert functions and not any(f.failed for f in functions)
    for want, got in zip(eager, fused, strict=True):
        assert got.shape == want.shape
        assert (got - want).abs().max() < 1e-5


def test_a_failing_compiler_falls_back_to_the_plain_function(capsys) -> None:
    def broken(*args):
        raise RuntimeError("no C compiler found\nmore detail")

    guarded = compiler._WithFallback(lambda x: x + 1, broken)
    assert guarded(torch.ones(1)).item() == 2
    assert guarded(torch.ones(1)).item() == 2
    assert guarded.failed
    assert capsys.readouterr().err.count("compiling failed, running uncompiled (no C compiler found)") == 1


def test_out_of_memory_inside_the_compiled_function_reaches_the_engine() -> None:
    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory")

    guarded = compiler._WithFallback(lambda x: x, out_of_memory)
    with pytest.raises(torch.OutOfMemoryError):
        guarded(torch.ones(1))
    assert not guarded.failed


def test_compiling_is_only_asked_for_where_it_pays() -> None:
    upscaler = Upscaler(loaded(compact().net, "srvgg"), device="cpu", compile=True)
    assert not upscaler.compiled and upscaler.net.fused is None
    assert "compiled" not in upscaler.describe()
