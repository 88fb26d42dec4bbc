"""The one-pass bias-and-activation kernel: its source through a real NVRTC, and the networks'
one-pass paths with PyTorch's ops standing in where the kernel does not run (here, the CPU).

The kernel itself runs in tests/test_gpu.py on a CUDA machine. NVRTC compiles without a GPU;
CI installs it (``nvidia-cuda-nvrtc-cu12``) and sets ``UPREZ_REQUIRE_NVRTC=1``.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch
from support import seeded_input

from uprez.core.archs import (
    _cuda_epilogue,
    _dense_partial_sums,
    _nvrtc,
    _rrdb_winograd,
    _srvgg_winograd,
    _staged,
    rrdbnet,
    srvgg,
)
from uprez.core.archs._as_written import as_written

# Turing (the oldest card with PyTorch's current CUDA builds), Ampere, Ada, Hopper, Blackwell.
ARCHITECTURES = ("sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120")


@pytest.fixture(scope="module")
def nvrtc():
    try:
        return _nvrtc.nvrtc_library()
    except _nvrtc.KernelError as error:
        if os.environ.get("UPREZ_REQUIRE_NVRTC") == "1":
            raise
        pytest.skip(f"no NVRTC here ({error}); pip install nvidia-cuda-nvrtc-cu12")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_kernels_compile_for_every_current_gpu_generation(nvrtc, architecture: str) -> None:
    cubin = _nvrtc.compile_to_cubin(_cuda_epilogue.SOURCE, architecture, library=nvrtc)
    assert cubin[:4] == b"\x7fELF"  # a CUDA binary is an ELF image
    names = [name for name, _ in _cuda_epilogue.KERNELS.values()] + list(_cuda_epilogue.SUM_KERNELS.values())
    for name in names:
        assert name.encode() in cubin


def test_a_compile_error_says_where(nvrtc) -> None:
    with pytest.raises(_nvrtc.KernelError, match=r"sm_90.*undefined"):
        _nvrtc.compile_to_cubin('extern "C" __global__ void k() { undefined_name; }', "sm_90", library=nvrtc)


def test_the_kernel_declines_what_it_cannot_take() -> None:
    x = torch.zeros(1, 8, 4, 4).contiguous(memory_format=torch.channels_last)
    assert not _cuda_epilogue.applies(x)  # a CPU map
    assert not _cuda_epilogue._bias_leaky_on_device(x, torch.ones(8), 0.2)
    assert (x == 0).all()  # untouched


def _srvgg(activation: str) -> srvgg.SRVGGNetCompact:
    torch.manual_seed(0)
    net = srvgg.SRVGGNetCompact(num_features=8, num_conv=3, upscale=2, activation=activation).eval()
    for parameter in net.parameters():
        parameter.data.normal_(0, 0.3)
    return net


@pytest.mark.parametrize("activation", srvgg.ACTIVATIONS)
def test_the_one_pass_srvgg_path_computes_the_network(activation: str) -> None:
    net = _srvgg(activation)
    x = seeded_input(3, 12, 1)
    with torch.no_grad():
        with as_written():
            written = net.forward_core(x)
        one_pass = srvgg.compact_core(x, *net._tensors(), activation, net.scale, one_pass=True)
    assert written.shape == one_pass.shape == (1, 3, 24, 24)
    torch.testing.assert_close(one_pass, written, rtol=0, atol=1e-5)


def _dense_block_weights() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    torch.manual_seed(1)
    block = rrdbnet.ResidualDenseBlock(num_features=8, growth_channels=4).eval()
    weights, biases = block.tensors()
    return [w.detach() for w in weights], [b.detach() for b in biases]


def test_the_one_pass_dense_block_computes_the_block() -> None:
    weights, biases = _dense_block_weights()
    x = torch.randn(1, 8, 10, 10)
    torch.testing.assert_close(
        rrdbnet.dense_block(x.clone(), weights, biases, one_pass=True),
        rrdbnet.dense_block(x.clone(), weights, biases),
        rtol=0,
        atol=1e-5,
    )


def test_grouped_convs_summed_compute_the_dense_block() -> None:
    weights, biases = _dense_block_weights()
    producers = _dense_partial_sums.producer_weights(weights)
    # x feeds all five convs (4 + 4 + 4 + 4 + 8 rows), f1 the last four, ..., f4 only conv5.
    assert [p.shape[:2] for p in producers] == [(24, 8), (20, 4), (16, 4), (12, 4), (8, 4)]
    x = torch.randn(2, 8, 9, 11).contiguous(memory_format=torch.channels_last)
    grouped = _dense_partial_sums.dense_block(x, producers, biases, negative_slope=0.2, residual_scale=0.2)
    torch.testing.assert_close(grouped, rrdbnet.dense_block(x.clone(), weights, biases), rtol=0, atol=1e-5)
    assert grouped.is_contiguous(memory_format=torch.channels_last)


def test_sum_bias_leaky_means_what_it_says() -> None:
    generator = torch.Generator().manual_seed(2)
    a, b = torch.randn(1, 12, 5, 6, generator=generator), torch.randn(1, 4, 5, 6, generator=generator)
    bias, slopes = torch.randn(4, generator=generator), torch.rand(4, generator=generator)
    base = torch.randn(1, 4, 5, 6, generator=generator)
    total = a[:, 8:12] + b + bias.view(1, -1, 1, 1)
    leaky = torch.where(total >= 0, total, 0.2 * total)
    prelu = torch.where(total >= 0, total, slopes.view(1, -1, 1, 1) * total)
    sum_bias_leaky = _cuda_epilogue.sum_bias_leaky
    torch.testing.assert_close(sum_bias_leaky([(a, 8), (b, 0)], bias, 0.2), leaky)
    torch.testing.assert_close(sum_bias_leaky([(a, 8), (b, 0)], bias, slopes), prelu)
    torch.testing.assert_close(sum_bias_leaky([(a, 8), (b, 0)], bias, 1.0, base=base, scale=0.5), base + 0.5 * total)


def test_the_memory_estimate_follows_the_formulation() -> None:
    net = rrdbnet.RRDBNet(num_blocks=1)
    head, _ = net.bytes_per_pixel(4)
    assert head == (4 * 64 + 4 * 32 + 192) * 4  # concatenations (the CPU's path): 2304 B


def test_as_written_switches_every_reformulation_off_inside_its_block_only() -> None:
    def switches() -> tuple:
        return _staged.CPU_TILES_ABOVE, _rrdb_winograd.ENABLED, _srvgg_winograd.ENABLED, _cuda_epilogue.ENABLED

    before = switches()
    assert before[1:] == (True, True, True)
    with as_written():
        assert switches() == (sys.maxsize, False, False, False)
        assert not _dense_partial_sums.applies(torch.zeros(1, 8, 4, 4))
    assert switches() == before


def test_grouped_weights_are_made_once_even_for_inference_tensors() -> None:
    with torch.inference_mode():  # as ComfyUI runs a prompt: tensors without a version count
        block = rrdbnet.ResidualDenseBlock(num_features=8, growth_channels=4)
        weights, _ = block.tensors()
        first = block._producers(weights)
        assert block._producers(weights) is first
        weights[0] = weights[0] * 2  # other weights: made again
        second = block._producers(weights)
    assert second is not first
    torch.testing.assert_close(second[0], torch.cat([w[:, :8] for w in weights]))
