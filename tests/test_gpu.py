"""The CUDA path on a real GPU: half precision, its fp32 fallback, out-of-memory retries.

Skipped where there is no CUDA (CI); run on the lent GPU machine.
"""

from __future__ import annotations

import pytest
import torch
from support import photo_tensor, psnr, seeded_input
from test_engine import ARCH_EXAMPLE_IDS, ARCH_EXAMPLES, _OverflowsInHalf, example_model, loaded

from uprez.core.archs import _cuda_epilogue, _dense_partial_sums, _nvrtc, rrdbnet
from uprez.core.engine import compiler, cuda_graphs
from uprez.core.engine import device as devices
from uprez.core.engine.upscaler import Upscaler

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("stem", ["realesrgan-x4plus", "realesr-animevideov3-x4"])
def test_auto_precision_is_half_and_close_to_fp32(stem: str, real_model) -> None:
    model = real_model(stem)
    image = photo_tensor("coffee_cup.png")
    half = Upscaler(model)
    assert half.device.type == "cuda" and half.dtype == torch.float16
    full = Upscaler(model, precision="fp32").upscale(image)
    for precision in ("auto", "bf16"):
        out = Upscaler(model, precision=precision).upscale(image)
        assert psnr(out, full) > 40.0, precision
    cpu = Upscaler(model, device="cpu").upscale(image)
    assert (cpu - full).abs().max() < 2 / 255


def test_half_overflow_is_redone_in_fp32_on_cuda() -> None:
    upscaler = Upscaler(loaded(_OverflowsInHalf(), "srvgg"), tile=8, precision="fp16")
    image = seeded_input(3, 16, 1)[0]
    result = upscaler.upscale(image)
    assert upscaler.fp32_fallbacks == 4
    assert torch.isfinite(result).all()


def test_real_cuda_out_of_memory_splits_tiles(real_model) -> None:
    model = real_model("realesrgan-x4plus")
    image = photo_tensor("coffee_cup.png").repeat(1, 4, 4)  # 512x512
    # A budget far larger than the card, so the first tile is the whole image and must fail.
    upscaler = Upscaler(model, memory_budget=1 << 44, precision="fp32")
    assert upscaler.plan(512, 512).whole_image
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    # The whole-image trunk alone needs about 650 MB in fp32: allow 600 MB.
    torch.cuda.set_per_process_memory_fraction(600 * 1024**2 / total)
    events: list = []
    try:
        result = upscaler.upscale(image, progress=events.append)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    assert events[-1].done == events[-1].total > 1  # the tile was split, and every part finished
    reference = Upscaler(model, precision="fp32").upscale(image)
    assert result.shape == (3, 2048, 2048)
    assert (result - reference).abs().mean() < 0.5 / 255


@pytest.mark.parametrize("stem", ["realesrgan-x4plus", "realesr-animevideov3-x4"])
def test_compiled_networks_match_the_eager_path_on_cuda(stem: str, real_model) -> None:
    model = real_model(stem)
    image = photo_tensor("coffee_cup.png")
    eager = Upscaler(model).upscale(image)
    fused = Upscaler(model, compile=True)
    assert fused.compiled and fused.describe().endswith("fp16, compiled")
    assert psnr(fused.upscale(image), eager) > 50.0
    smaller = image[:, :61, :47]  # another size: symbolic shapes, no recompile error
    assert psnr(fused.upscale(smaller), Upscaler(model).upscale(smaller)) > 50.0
    assert not any(function.failed for function in compiler._compiled.values())


def test_outputs_land_in_page_locked_memory() -> None:
    out = Upscaler(loaded(_OverflowsInHalf(), "srvgg"), precision="fp32").upscale(seeded_input(3, 16, 1)[0])
    assert out.device.type == "cpu" and out.is_pinned()


@pytest.mark.parametrize(("arch", "example"), ARCH_EXAMPLES, ids=ARCH_EXAMPLE_IDS)
def test_every_architecture_runs_in_each_precision_on_cuda(arch, example) -> None:
    model = example_model(arch, example)
    image = seeded_input(model.net.in_channels, 24, 2)[0]
    full = Upscaler(model, device="cpu").upscale(image)
    for precision in ("fp32", "fp16", "bf16"):
        out = Upscaler(model, precision=precision, tile=16).upscale(image).cpu()
        assert out.shape == full.shape
        # fp32 is fp32 on CUDA too (no TF32). Random weights amplify half precision's rounding
        # (23 dB for one RDN in bf16): this says the same picture; real weights are held to
        # 0.05 dB of fp32 by benchmarks/bench_quality.py.
        assert psnr(out, full) > (60.0 if precision == "fp32" else 20.0), precision


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("channels", [32, 64])
def test_the_one_pass_kernel_equals_pytorchs_bias_and_activation(dtype: torch.dtype, channels: int) -> None:
    generator = torch.Generator().manual_seed(channels)
    x = torch.randn(2, channels, 37, 53, generator=generator).cuda().to(dtype, memory_format=torch.channels_last)
    bias = torch.randn(channels, generator=generator).cuda().to(dtype)
    for slope in (torch.rand(channels, generator=generator).cuda().to(dtype), 0.2, 0.0, 1.0):
        weights = slope if torch.is_tensor(slope) else torch.full((channels,), slope, device="cuda", dtype=dtype)
        y = x.float() + bias.float().view(1, -1, 1, 1)
        expected = torch.where(y >= 0, y, y * weights.float().view(1, -1, 1, 1)).to(dtype)
        out = x.clone()
        assert _cuda_epilogue._bias_leaky_on_device(out, bias, slope)
        # One rounding of the exact result: equal to it but for ties of the last bit.
        torch.testing.assert_close(out, expected, rtol=torch.finfo(dtype).eps, atol=0)
    assert isinstance(_cuda_epilogue._modules[torch.cuda.current_device()], _nvrtc.Module)


@pytest.mark.parametrize("stem", ["realesrgan-x4plus", "realesr-animevideov3-x4"])
def test_the_one_pass_networks_equal_the_two_pass_ones(stem: str, real_model, monkeypatch) -> None:
    model = real_model(stem)
    image = photo_tensor("coffee_cup.png")
    upscaler = Upscaler(model)
    one_pass = upscaler.upscale(image)
    if stem == "realesrgan-x4plus":  # the dense blocks ran as grouped convs
        assert upscaler.net.body[0].rdb1.__dict__.get("_producer_cache") is not None
    monkeypatch.setattr(_cuda_epilogue, "ENABLED", False)
    two_pass = Upscaler(model).upscale(image)
    assert psnr(one_pass, two_pass) > 50.0
    assert (one_pass - two_pass).abs().max() < 3 / 255


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_the_summing_kernel_equals_its_definition(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(3)

    def random(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).cuda().to(dtype)

    wide, narrow = random(2, 48, 19, 23), random(2, 16, 19, 23)
    wide, narrow = (t.contiguous(memory_format=torch.channels_last) for t in (wide, narrow))
    bias, slopes = random(16), random(16).abs()
    base = random(2, 16, 19, 23).contiguous(memory_format=torch.channels_last)
    total = wide[:, 24:40].float() + narrow.float() + bias.float().view(1, -1, 1, 1)
    leaky = torch.where(total >= 0, total, total * slopes.float().view(1, -1, 1, 1))
    expected = (base.float() + 0.2 * leaky).to(dtype)
    out = _cuda_epilogue._sum_on_device([(wide, 24), (narrow, 0)], bias, slopes, base, 0.2)
    assert out is not None  # the kernel ran
    # Summed in another order before the one rounding: ties and cancellations may differ.
    torch.testing.assert_close(out, expected, rtol=2 * torch.finfo(dtype).eps, atol=1e-5)


def test_grouped_dense_blocks_equal_the_block_as_written_on_cuda() -> None:
    torch.manual_seed(4)
    block = rrdbnet.ResidualDenseBlock(num_features=64, growth_channels=32).cuda().half().eval()
    block = block.to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, 45, 67, device="cuda").half().contiguous(memory_format=torch.channels_last)
    weights, biases = block.tensors()
    with torch.inference_mode():
        assert _dense_partial_sums.applies(x)
        grouped = block(x)
        written = rrdbnet.dense_block(x.clone(), weights, biases)
    assert grouped.is_contiguous(memory_format=torch.channels_last)
    # fp16 rounds each share once more than each conv: within a few units of the last place.
    torch.testing.assert_close(grouped, written, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("stem", ["realesrgan-x4plus", "realesr-animevideov3-x4"])
def test_cuda_graphs_replay_exactly_what_the_eager_forward_computes(stem: str, real_model) -> None:
    model = real_model(stem)
    image = photo_tensor("coffee_cup.png")
    eager = Upscaler(model, cuda_graphs=False).upscale(image)
    graphed = Upscaler(model)
    first = graphed.upscale(image)
    assert graphed.graphs_held == 0  # a shape seen once runs eager
    second = graphed.upscale(image)  # captured, then replayed
    assert graphed.graphs_held == 1
    third = graphed.upscale(image)
    for out in (first, second, third):
        assert torch.equal(out, eager)


def test_cuda_graphs_serve_repeated_tile_shapes_and_stay_few(real_model) -> None:
    model = real_model("realesrgan-x4plus")
    image = photo_tensor("coffee_cup.png")[:, :, :120]  # 128x120: inner and edge tiles differ
    eager = Upscaler(model, tile=32, cuda_graphs=False).upscale(image)
    graphed = Upscaler(model, tile=32)
    assert torch.equal(graphed.upscale(image), eager)
    assert 1 <= graphed.graphs_held <= cuda_graphs.GRAPHS_KEPT
    assert torch.equal(graphed.upscale(image), eager)
    before = torch.cuda.memory_reserved()
    graphed.release_graphs()
    torch.cuda.empty_cache()
    assert graphed.graphs_held == 0 and torch.cuda.memory_reserved() < before


def test_tiles_too_large_for_a_graph_run_eager(real_model, monkeypatch) -> None:
    monkeypatch.setattr(cuda_graphs, "GRAPH_MAX_BYTES", 1024)
    upscaler = Upscaler(real_model("realesr-animevideov3-x4"))
    image = photo_tensor("coffee_cup.png")
    for _ in range(3):
        upscaler.upscale(image)
    assert upscaler.graphs_held == 0


def test_a_failed_capture_falls_back_to_eager_for_good(capsys) -> None:
    def syncs(x: torch.Tensor) -> torch.Tensor:  # a host sync cannot be captured
        return x * float(x.amax())

    forward = cuda_graphs.GraphedForward(syncs, bytes_per_pixel=1.0)
    x = torch.rand(1, 3, 8, 8, device="cuda")
    stream = torch.cuda.current_stream()
    with torch.inference_mode():
        results = [forward(x) for _ in range(3)]
    assert forward.failed and forward.graphs == 0
    assert torch.cuda.current_stream() == stream
    assert "CUDA graph capture failed, running eager" in capsys.readouterr().err
    for result in results:
        torch.testing.assert_close(result, syncs(x))
    assert torch.equal(torch.ones(4, device="cuda").cumsum(0).cpu(), torch.arange(1.0, 5.0))  # CUDA still works


def test_compiled_upscalers_do_not_capture_graphs(real_model) -> None:
    upscaler = Upscaler(real_model("realesr-animevideov3-x4"), compile=True)
    if not upscaler.compiled:
        pytest.skip("no Triton here")
    image = photo_tensor("coffee_cup.png")[:, :32, :32]
    for _ in range(2):
        upscaler.upscale(image)
    assert upscaler.graphs_held == 0


def test_memory_budget_counts_what_pytorch_keeps_cached() -> None:
    device = torch.device("cuda")
    torch.cuda.empty_cache()
    before = devices.memory_budget(device)
    block = torch.empty(2 * 1024**3, dtype=torch.uint8, device=device)
    del block  # freed into PyTorch's cache: no longer free to the driver, still ours
    assert torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device) >= 2 * 1024**3
    assert devices.memory_budget(device) > before - 64 * 1024**2
    torch.cuda.empty_cache()
