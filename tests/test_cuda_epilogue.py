"""The one-pass bias-and-activation kernel: its source through a real NVRTC, and the networks'
one-pass paths with PyTorch's ops standing in where the kernel does not run (here, the CPU).

The kernel itself runs in tests/test_gpu.py on a CUDA machine. NVRTC compiles without a GPU;
CI installs it (``nvidia-cuda-nvrtc-cu12``) and sets ``UPREZ_REQUIRE_NVRTC=1``.
"""

from __future__ import annotations

import os

import pytest
import torch
from support import seeded_input

from uprez.core.archs import _cuda_epilogue, _nvrtc, rrdbnet, srvgg

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
    for name, _ in _cuda_epilogue.KERNELS.values():
        assert name.encode() in cubin


def test_a_compile_error_says_where(nvrtc) -> None:
    with pytest.raises(_nvrtc.KernelError, match=r"sm_90.*undefined"):
        _nvrtc.compile_to_cubin('extern "C" __global__ void k() { undefined_name; }', "sm_90", library=nvrtc)


def test_the_kernel_declines_what_it_cannot_take() -> None:
    x = torch.zeros(1, 8, 4, 4).contiguous(memory_format=torch.channels_last)
    assert not _cuda_epilogue.applies(x)  # a CPU map
    assert not _cuda_epilogue.bias_leaky_(x, torch.ones(8), 0.2)
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
        written = net.forward_core(x)
        one_pass = srvgg.compact_core_one_pass_epilogues(x, *net._tensors(), activation, net.scale)
    assert written.shape == one_pass.shape == (1, 3, 24, 24)
    torch.testing.assert_close(one_pass, written, rtol=0, atol=1e-5)


def test_the_one_pass_dense_block_computes_the_block() -> None:
    torch.manual_seed(1)
    block = rrdbnet.ResidualDenseBlock(num_features=8, growth_channels=4).eval()
    convs = (block.conv1, block.conv2, block.conv3, block.conv4, block.conv5)
    weights, biases = [c.weight for c in convs], [c.bias for c in convs]
    x = torch.randn(1, 8, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(
            rrdbnet.dense_block_one_pass_epilogues(x.clone(), weights, biases),
            rrdbnet.dense_block(x.clone(), weights, biases),
            rtol=0,
            atol=1e-5,
        )
