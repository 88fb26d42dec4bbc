"""The engine's logic on small seeded networks: tiles, padding, memory, precision, progress, cancel."""

from __future__ import annotations

import threading

import pytest
import torch
from support import psnr, seed_of, seeded_input, seeded_weights
from torch.nn import functional as F

from uprez.core.archs import SRNet, all_architectures, get
from uprez.core.archs._as_written import as_written
from uprez.core.engine import cuda_graphs, heap, precision
from uprez.core.engine import device as devices
from uprez.core.engine import upscaler as upscaler_module
from uprez.core.engine.precision import pick_dtype
from uprez.core.engine.tiling import Tile, grid, side_for_budget, spans
from uprez.core.engine.upscaler import MIN_TILE, Progress, Upscaler
from uprez.core.errors import Cancelled, DeviceError, OutOfMemoryError
from uprez.core.model import LoadedModel


def loaded(net: SRNet, arch_id: str) -> LoadedModel:
    return LoadedModel(net.eval(), get(arch_id), "test", None, {})  # type: ignore[arg-type]


def compact(upscale: int = 4) -> LoadedModel:
    net = get("srvgg").module(num_features=8, num_conv=3, upscale=upscale)
    return loaded(seeded_weights(net, 3), "srvgg")


def rrdb(**config) -> LoadedModel:
    net = get("rrdbnet").module(num_features=8, num_blocks=1, growth_channels=4, **config)
    return loaded(seeded_weights(net, 4), "rrdbnet")


def reference(model: LoadedModel, image: torch.Tensor, prepad: int) -> torch.Tensor:
    """The plain whole-image forward on the mirrored image, cropped: what tiling must reproduce."""
    s = model.scale
    padded = F.pad(image.unsqueeze(0), (prepad,) * 4, mode="reflect")
    with torch.inference_mode():
        y = model.net(padded)[0]
    return y[:, prepad * s : y.shape[1] - prepad * s, prepad * s : y.shape[2] - prepad * s].clamp(0, 1)


def test_spans_are_even_and_cover_everything() -> None:
    assert spans(10, 4) == [(0, 3), (3, 7), (7, 10)]
    assert spans(8, 8) == [(0, 8)]
    assert spans(1, 100) == [(0, 1)]
    cover = grid(Tile(5, 105, 0, 37), 30)
    assert sum(t.height * t.width for t in cover) == 100 * 37
    assert max(max(t.height, t.width) for t in cover) <= 30


def test_grown_tiles_are_clipped_and_quarters_cover() -> None:
    bounds = Tile(0, 50, 0, 50)
    assert Tile(0, 10, 40, 50).grown(5, bounds) == Tile(0, 15, 35, 50)
    parts = Tile(3, 10, 4, 5).quarters()
    assert sum(p.height * p.width for p in parts) == 7 and len(parts) == 2


def test_side_for_budget_leaves_room_for_context() -> None:
    assert side_for_budget(100 * 100 * 4, 4, 10) == 80


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (64, 21)])
def test_compact_tiles_reproduce_the_whole_image_exactly(size: tuple[int, int]) -> None:
    # Exactly with direct convolutions; the CPU's Winograd kernel rounds by where its 6x6 tiles
    # fall, so each tile's numbers differ from the whole image's in the last bits.
    model = compact()
    image = seeded_input(3, max(size), 9)[0, :, : size[0], : size[1]]
    with as_written():
        expected = reference(model, image, prepad=6)
    for tile in (None, 16, 7):
        with as_written():
            result = Upscaler(model, tile=tile, prepad=6, device="cpu").upscale(image)
        assert result.shape == expected.shape
        assert (result - expected).abs().max() < 1e-5, tile
        result = Upscaler(model, tile=tile, prepad=6, device="cpu").upscale(image)
        assert (result - expected).abs().max() < 5e-5, tile


def test_rrdbnet_head_and_tail_split_is_exact_when_untiled() -> None:
    model = rrdb()
    image = seeded_input(3, 24, 2)[0]
    upscaler = Upscaler(model, prepad=4, device="cpu")
    assert upscaler.plan(24, 24).whole_image
    assert (upscaler.upscale(image) - reference(model, image, 4)).abs().max() < 1e-5


@pytest.mark.parametrize(("unshuffle", "size"), [(2, (13, 10)), (4, (9, 15)), (2, (1, 6))])
def test_unshuffled_models_take_any_size(unshuffle: int, size: tuple[int, int]) -> None:
    model = rrdb(unshuffle=unshuffle)
    image = seeded_input(3, max(size), 5)[0, :, : size[0], : size[1]]
    for tile in (None, 6):
        out = Upscaler(model, tile=tile, device="cpu").upscale(image)
        assert out.shape == (3, size[0] * model.scale, size[1] * model.scale)
        assert torch.isfinite(out).all()


def test_unshuffled_model_matches_its_plain_forward_on_aligned_input() -> None:
    model = rrdb(unshuffle=2)
    image = seeded_input(3, 12, 8)[0]
    result = Upscaler(model, prepad=4, device="cpu").upscale(image)
    assert (result - reference(model, image, 4)).abs().max() < 1e-5


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_batches_and_integer_outputs(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    model = compact(2)
    batch = seeded_input(3, 12, 1).repeat(3, 1, 1, 1)
    floats = Upscaler(model, device=device, precision="fp32").upscale(batch)
    assert floats.shape == (3, 3, 24, 24) and floats.device.type == "cpu"
    as_uint8 = Upscaler(model, device=device, precision="fp32").upscale(batch, out_dtype=torch.uint8)
    as_uint16 = Upscaler(model, device=device, precision="fp32").upscale(batch, out_dtype=torch.uint16)
    assert torch.equal(as_uint8, torch.floor(floats * 255 + 0.5).to(torch.uint8))
    assert torch.equal(as_uint16.int(), torch.floor(floats * 65535 + 0.5).int())


@pytest.mark.parametrize("out_dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("make", [compact, rrdb], ids=["srvgg", "rrdbnet"])
def test_tiles_assembled_on_a_device_canvas_give_the_same_image(make, out_dtype, monkeypatch) -> None:
    """CUDA assembles each output on the device before one copy to the host; the same code,
    forced onto the CPU here, must place every tile (and RRDBNet's tail pieces) where the
    direct path does."""
    model = make()
    batch = seeded_input(3, 29, 5).repeat(2, 1, 1, 1)
    direct = Upscaler(model, tile=8, device="cpu").upscale(batch, out_dtype=out_dtype)
    monkeypatch.setattr(Upscaler, "_canvas_bytes", lambda self, height, width, dtype, budget: 1)
    canvases: list[torch.Tensor] = []
    real_empty_like = torch.empty_like
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: canvases.append(real_empty_like(*a, **k)) or canvases[-1])
    assembled = Upscaler(model, tile=8, device="cpu").upscale(batch, out_dtype=out_dtype)
    assert len(canvases) == 2  # one per image
    assert torch.equal(assembled, direct)


def test_cuda_outputs_are_page_locked_up_to_a_size_and_pageable_if_pinning_fails(monkeypatch) -> None:
    asked: list[bool] = []
    real_empty = torch.empty

    def recording_empty(*args, pin_memory: bool = False, **kwargs) -> torch.Tensor:
        asked.append(pin_memory)
        return real_empty(*args, pin_memory=pin_memory, **kwargs)

    monkeypatch.setattr(torch, "empty", recording_empty)
    small = upscaler_module._host_output((1, 3, 8, 8), torch.uint8, pinned=True)
    # This CPU-only torch cannot pin: the request fails and the output is pageable.
    assert asked == [True, False] and small.shape == (1, 3, 8, 8) and not small.is_pinned()
    asked.clear()
    monkeypatch.setattr(upscaler_module, "PINNED_OUTPUT_MAX", 100)
    upscaler_module._host_output((1, 3, 8, 8), torch.float32, pinned=True)  # 768 bytes: over
    upscaler_module._host_output((1, 3, 4, 4), torch.uint8, pinned=False)
    assert asked == [False, False]


def test_progress_counts_every_tile() -> None:
    events: list[Progress] = []
    Upscaler(compact(), tile=8).upscale(seeded_input(3, 20, 1)[0], progress=events.append)
    assert [e.done for e in events] == list(range(1, 10))
    assert all(e.total == 9 for e in events)


def test_cancel_stops_between_tiles() -> None:
    flag = threading.Event()
    seen: list[Progress] = []

    def on_progress(event: Progress) -> None:
        seen.append(event)
        if event.done == 2:
            flag.set()

    with pytest.raises(Cancelled):
        Upscaler(compact(), tile=8).upscale(seeded_input(3, 20, 1)[0], progress=on_progress, cancel=flag)
    assert len(seen) == 2
    with pytest.raises(Cancelled):
        Upscaler(compact(), tile=8).upscale(seeded_input(3, 20, 1)[0], cancel=lambda: True)


class _SmallMemoryNet(SRNet):
    """Wraps a network and fails like an allocator for inputs above ``limit`` pixels."""

    def __init__(self, inner: SRNet, limit: int, error: Exception) -> None:
        super().__init__()
        self.inner, self.limit, self.error = inner, limit, error
        self.scale, self.in_channels, self.out_channels = inner.scale, inner.in_channels, inner.out_channels

    def forward_core(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] * x.shape[-2] > self.limit:
            raise self.error
        return self.inner.forward_core(x)

    def tile_context(self) -> int:
        return self.inner.tile_context()

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        return self.inner.bytes_per_pixel(element_size)


@pytest.mark.parametrize(
    "error",
    [RuntimeError("DefaultCPUAllocator: can't allocate memory"), torch.OutOfMemoryError("CUDA out of memory")],
    ids=["cpu", "cuda"],
)
def test_out_of_memory_splits_tiles_until_they_fit(error: Exception) -> None:
    base = compact()
    image = seeded_input(3, 40, 3)[0]
    context = base.net.tile_context()
    small = loaded(_SmallMemoryNet(base.net, (12 + 2 * context) ** 2, error), "srvgg")
    events: list[Progress] = []
    with as_written():  # direct convolutions: the split tiles give the whole image's numbers
        expected = Upscaler(base, device="cpu").upscale(image)
        result = Upscaler(small, tile=40, device="cpu").upscale(image, progress=events.append)
    assert (result - expected).abs().max() < 1e-5
    assert events[-1].done == events[-1].total > 1


def test_out_of_memory_at_the_smallest_tile_is_a_clear_error() -> None:
    base = compact()
    hopeless = loaded(_SmallMemoryNet(base.net, 1, MemoryError()), "srvgg")
    with pytest.raises(OutOfMemoryError, match=f"{MIN_TILE}-pixel tiles"):
        Upscaler(hopeless, tile=64, device="cpu").upscale(seeded_input(3, 64, 3)[0])


class _OverflowsInHalf(SRNet):
    """Nearest 2x upscale that overflows when run in fp16, like a model with large activations."""

    scale = 2

    def forward_core(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest") * 1e5 / 1e5

    def tile_context(self) -> int:
        return 1

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        return 64 * element_size, 0


def test_half_precision_overflow_is_redone_in_fp32() -> None:
    # The CUDA path's fallback logic, run on the CPU: the upscaler is switched to fp16 by hand.
    upscaler = Upscaler(loaded(_OverflowsInHalf(), "srvgg"), tile=8, device="cpu")
    upscaler.dtype = torch.float16
    upscaler.net = upscaler.net.half()
    upscaler._fp32_net = None
    image = seeded_input(3, 16, 1)[0]
    result = upscaler.upscale(image)
    assert upscaler.fp32_fallbacks == 4
    expected = F.interpolate(image[None], scale_factor=2, mode="nearest")[0]
    assert (result - expected).abs().max() < 1e-6


def test_cuda_graphs_are_made_on_cuda_only() -> None:
    assert not cuda_graphs.available(torch.device("cpu"))
    upscaler = Upscaler(compact(), device="cpu")
    image = seeded_input(3, 16, 1)[0]
    first = upscaler.upscale(image)
    assert torch.equal(upscaler.upscale(image), first)
    assert upscaler.graphs_held == 0
    upscaler.release_graphs()  # a no-op where there are none


def test_device_and_precision_choice_on_this_machine() -> None:
    arch = get("rrdbnet")
    cpu = devices.pick_device("cpu")
    assert pick_dtype("auto", cpu, arch) == torch.float32
    with pytest.raises(DeviceError, match="not supported on the CPU"):
        pick_dtype("fp16", cpu, arch)
    if precision.cpu_has_native_bf16():
        assert pick_dtype("bf16", cpu, arch) == torch.bfloat16
    with pytest.raises(DeviceError, match="unknown device"):
        devices.pick_device("tpu:0:1")
    if not torch.cuda.is_available():
        assert devices.pick_device("auto").type in ("cpu", "mps")
        with pytest.raises(DeviceError, match="no usable CUDA"):
            devices.pick_device("cuda")


def test_auto_tiles_follow_the_memory_budget() -> None:
    model = rrdb()
    roomy = Upscaler(model, memory_budget=1 << 30).plan(300, 200)
    tight = Upscaler(model, memory_budget=8 << 20).plan(300, 200)
    assert roomy.whole_image and roomy.tiles == 1
    assert tight.tiles > 1 and tight.tile < 300


@pytest.mark.parametrize("reused", [False, True])
def test_compact_cpu_tiles_grow_where_large_blocks_are_reused(reused: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []
    monkeypatch.setattr(heap, "reuse_large_blocks", lambda wanted: asked.append(wanted) or (wanted and reused))
    plan = Upscaler(compact(), device="cpu", memory_budget=1 << 30).plan(480, 1000)
    assert (plan.tile, plan.tiles) == ((720, 2) if reused else (320, 8))
    assert Upscaler(rrdb(), device="cpu", memory_budget=1 << 30).plan(480, 1000).whole_image
    assert asked == [True, False]  # RRDBNet's maps of many sizes would fragment the heap


def test_cancel_is_checked_inside_a_tile_between_blocks() -> None:
    model = loaded(seeded_weights(get("rrdbnet").module(num_features=8, num_blocks=3, growth_channels=4), 4), "rrdbnet")
    calls = {"n": 0}

    def cancel_on_the_second_look() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3  # before the tile, then inside it: blocks 1, 2 ...

    upscaler = Upscaler(model, device="cpu")
    assert upscaler.plan(16, 16).tiles == 1
    with pytest.raises(Cancelled):
        upscaler.upscale(seeded_input(3, 16, 1)[0], cancel=cancel_on_the_second_look)
    assert calls["n"] == 3  # stopped inside the only tile
    assert upscaler.upscale(seeded_input(3, 16, 1)[0]).shape == (3, 64, 64)  # hooks are harmless afterwards


def test_copies_of_a_watched_network_watch_their_own_flag() -> None:
    import copy

    model = loaded(seeded_weights(get("rrdbnet").module(num_features=8, num_blocks=2, growth_channels=4), 4), "rrdbnet")
    Upscaler(model, device="cpu")  # hooks the shared CPU network
    twin = LoadedModel(copy.deepcopy(model.net), model.arch, "twin", None, {})  # type: ignore[arg-type]
    looks = {"n": 0}

    def never() -> bool:
        looks["n"] += 1
        return False

    Upscaler(twin, device="cpu").upscale(seeded_input(3, 8, 1)[0], cancel=never)
    assert looks["n"] >= 1 + 2  # before the tile, and before each of the copy's own blocks


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_the_cpu_only_where_the_cpu_has_it(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    arch, cpu = get("rrdbnet"), devices.pick_device("cpu")
    assert pick_dtype("auto", cpu, arch) == torch.float32  # auto keeps fp32's exact output on every CPU
    with pytest.raises(DeviceError, match="fp16 is not supported on the CPU") as refused:
        pick_dtype("fp16", cpu, arch)
    assert ("or bf16 (this CPU has it)" in str(refused.value)) == native
    if native:
        assert pick_dtype("bf16", cpu, arch) == torch.bfloat16
        upscaler = Upscaler(rrdb(), device="cpu", precision="bf16")
        assert next(upscaler.net.parameters()).dtype == torch.bfloat16 and upscaler.describe() == "cpu, bf16"
    else:
        with pytest.raises(DeviceError, match="bf16 is not supported on this CPU"):
            pick_dtype("bf16", cpu, arch)


ARCH_EXAMPLES = [(arch, example) for arch in all_architectures() for example in arch.examples]
ARCH_EXAMPLE_IDS = [f"{a.id}--{e.name}" for a, e in ARCH_EXAMPLES]


def example_model(arch, example) -> LoadedModel:  # noqa: ANN001 - an Architecture and its Example
    """The example's network with seeded weights, saved in its key scheme and loaded back."""
    net = seeded_weights(arch.module(**example.config), seed_of(f"{arch.id}--{example.name}"))
    return loaded(arch.load(arch.rename(net.state_dict(), example.naming)), arch.id)


@pytest.mark.parametrize(("arch", "example"), ARCH_EXAMPLES, ids=ARCH_EXAMPLE_IDS)
def test_every_architecture_runs_in_bf16(arch, example, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dtypes meet inside bf16 networks (fp32 layers, fp32 input tiles): each must pass its input
    on in the dtype the next layer takes. EDSR's mean shifts once did not, on CUDA as on AMX."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)  # emulated where it is not
    model = example_model(arch, example)
    image = seeded_input(model.net.in_channels, 20, 2)[0]
    full = Upscaler(model, device="cpu").upscale(image)
    half = Upscaler(model, device="cpu", precision="bf16", tile=12).upscale(image)
    # Random weights amplify rounding (down to 23 dB for one RDN here); real weights are held to
    # 0.05 dB of fp32 by benchmarks/bench_quality.py. This says: the same picture, no crash.
    assert half.dtype == torch.float32 and half.shape == full.shape
    assert psnr(half, full) > 20.0


def test_bf16_keeps_the_image_and_the_last_layer_in_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    net = seeded_weights(get("srvgg").module(num_features=8, num_conv=2, upscale=2), 3)
    last = net.body[-1]
    with torch.no_grad():  # output = the image plus 0.3 of a level: 8-bit output equals the input
        last.weight.zero_()
        last.bias.fill_(0.3 / 255)
    upscaler = Upscaler(loaded(net, "srvgg"), device="cpu", precision="bf16", prepad=0)
    assert upscaler.net.body[0].weight.dtype == torch.bfloat16
    assert upscaler.net.body[-1].weight.dtype == torch.float32
    levels = torch.arange(256.0).reshape(1, 16, 16).expand(3, 16, 16) / 255
    out = upscaler.upscale(levels.contiguous(), out_dtype=torch.uint8)
    expected = F.interpolate(levels[None] * 255, scale_factor=2, mode="nearest")[0].round().to(torch.uint8)
    # With the image and the sum in bf16 (~1-level steps) 64 of these 256 levels came out moved.
    assert torch.equal(out, expected)
