"""Where the CUDA time goes, and what each lever buys: one prepared run for a lent GPU.

    python benchmarks/gpu_levers.py [--photo photo-2000x1500] [--sections peaks forward ...]

Sections (each prints its own table; every timing is the median of CUDA-synchronised runs
after a warm-up, methods alternating):

    peaks     this card's ceilings: a large 3x3 conv in fp16/bf16/tf32, a fp16 matrix product,
              device copy bandwidth, host<->device copies (pageable and pinned)
    forward   each network over the whole padded photo on the device: precision, cuDNN
              autotuning, CUDA graph; achieved TFLOP/s against the conv peak
    profile   the top kernels of one fp16 forward (what the time is spent on)
    dense     x4plus's dense block alone: channels-last with concatenations as written, with
              one-pass epilogues, grouped convs summed (uprez's), NCHW, and torch.compile
    compile   animevideov3's whole network under torch.compile
    end2end   Upscaler.upscale from a host tensor to host uint8 or float32, eager and compiled,
              against the forward alone (what the copies, borders and rounding cost)
    epilogue  the one-pass bias and activation kernel against PyTorch's two passes: the host's
              time per launch (tiny maps) and animevideov3's fp16 forward from 64 to 640 px
    graphs    CUDA graphs on small photos (256x256, 640x480): the forward eager and replayed
              (and the host's time to issue the eager one), and Upscaler.upscale with and
              without graphs
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import statistics
import time
from collections.abc import Callable

import torch
from bench_gpu import conv_peak, load
from bench_speed import conv_flop_per_input_pixel
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from uprez.core.archs import _cuda_epilogue, _dense_partial_sums
from uprez.core.archs._as_written import as_written
from uprez.core.engine import cuda_graphs
from uprez.core.engine.upscaler import Upscaler
from uprez.core.models import open_model

MODELS = ("realesrgan-x4plus", "realesr-animevideov3-x4")
SECTIONS = ("peaks", "forward", "profile", "dense", "compile", "end2end", "epilogue", "graphs")
GRAPH_PHOTOS = ("photo-256", "photo-640x480")


def sync() -> None:
    torch.cuda.synchronize()


FIRST_CALLS: dict[str, float] = {}  # each call's warm-up, where cuDNN autotuning and compiles land


def timed_call(call: Callable[[], object]) -> float:
    sync()
    started = time.perf_counter()
    call()
    sync()
    return time.perf_counter() - started


def median_seconds(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median wall time of each call, alternating between them, after one warm-up each."""
    for name, call in calls.items():
        FIRST_CALLS[name] = timed_call(call)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(timed_call(call))
    return {name: statistics.median(values) for name, values in times.items()}


def section_peaks(rounds: int) -> dict[str, float]:
    peaks = {"fp16": conv_peak(torch.float16), "bf16": conv_peak(torch.bfloat16),
             "fp32": conv_peak(torch.float32, tf32=True)}  # fmt: skip
    a = torch.rand(8192, 8192, device="cuda", dtype=torch.float16)
    matmul = median_seconds({"mm": lambda: a @ a}, rounds)["mm"]
    big = torch.rand(512 * 1024**2 // 4, device="cuda")
    copy = median_seconds({"copy": lambda: big.clone()}, rounds)["copy"]
    size = 144 * 1024**2  # a 2000x1500 photo's x4 output in 8-bit RGB
    device_bytes = torch.randint(0, 255, (size,), device="cuda", dtype=torch.uint8)
    pinned = torch.empty(size, dtype=torch.uint8, pin_memory=True)
    pageable = torch.empty(size, dtype=torch.uint8)
    pageable.fill_(1)
    links = median_seconds(
        {
            "d2h pinned": lambda: pinned.copy_(device_bytes),
            "d2h pageable (reused)": lambda: pageable.copy_(device_bytes),
            "d2h pageable (fresh)": lambda: device_bytes.cpu(),
            "h2d pinned": lambda: device_bytes.copy_(pinned),
            "h2d pageable": lambda: device_bytes.copy_(pageable),
            "pinned alloc (cached)": lambda: torch.empty(size, dtype=torch.uint8, pin_memory=True),
            **({"pinned alloc (fresh)": fresh_pinned(size)} if hasattr(torch._C, "_host_emptyCache") else {}),
            "pageable alloc + fill": lambda: torch.empty(size, dtype=torch.uint8).fill_(1),
        },
        rounds,
    )
    print(f"conv 64->64 3x3 2048^2 TFLOP/s: fp16 {peaks['fp16']:.0f}, bf16 {peaks['bf16']:.0f}, "
          f"tf32 {peaks['fp32']:.0f}; fp16 matmul 8192^3 {2 * 8192**3 / matmul / 1e12:.0f}; "
          f"device copy {2 * big.numel() * 4 / copy / 1e12:.2f} TB/s")  # fmt: skip
    for name, seconds in links.items():
        print(f"  {name:<24} 144 MiB: {seconds * 1e3:7.2f} ms  {size / seconds / 1e9:6.1f} GB/s")
    return peaks


def fresh_pinned(size: int) -> Callable[[], object]:
    def call() -> None:
        torch._C._host_emptyCache()
        torch.empty(size, dtype=torch.uint8, pin_memory=True)

    return call


def padded_core(upscaler: Upscaler, host: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    core = upscaler._to_core(host.unsqueeze(0))
    return core.cuda().to(dtype).contiguous(memory_format=torch.channels_last)


def whole_forward(net) -> Callable[[torch.Tensor], torch.Tensor]:
    """The whole network, or for RRDBNet its head (92% of the work): its 4x-resolution tail
    over a whole 2000x1500 photo would need about 50 GB in fp32 (the engine tiles it)."""
    return net.forward_core if net.tail_context is None else net.forward_head


def flop_per_pixel(net) -> float:
    """Conv FLOP per input pixel of what ``whole_forward`` runs: for RRDBNet, less its tail."""
    total = conv_flop_per_input_pixel(net)
    if net.tail_context is None:
        return total
    side = 32
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        net.forward_tail(torch.rand(1, net.conv_first.out_channels, side, side))
    return total - counter.get_total_flops() / side**2


def section_forward(model_id: str, host: torch.Tensor, peaks: dict[str, float], rounds: int) -> None:
    model = open_model(model_id)
    flop = flop_per_pixel(model.net)
    calls: dict[str, Callable[[], object]] = {}
    pixels = 0
    for name in ("fp16", "bf16", "fp32"):
        upscaler = Upscaler(model, precision=name)
        x = padded_core(upscaler, host, torch.float32 if name == "bf16" else upscaler.dtype)
        pixels = x.shape[-2] * x.shape[-1]
        forward = whole_forward(upscaler.net)
        for benchmark in (False, True):

            def call(forward=forward, x=x, benchmark=benchmark) -> None:
                with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=benchmark):
                    forward(x)

            calls[f"{name} eager{' +autotune' if benchmark else ''}"] = call
    if model.net.tail_context is None:
        calls["fp16 autotune + CUDA graph"] = graphed(Upscaler(model, precision="fp16"), host)
    seconds = median_seconds(calls, rounds)
    for name, value in seconds.items():
        precision = name.split()[0]
        rate = flop * pixels / value / 1e12
        print(f"{model_id:<24} {name:<30} {value * 1e3:8.1f} ms (first {FIRST_CALLS[name] * 1e3:7.0f})"
              f"  {pixels / 1e6 / value:8.2f} padded MP/s"
              f"  {rate:6.1f} TFLOP/s = {rate / peaks.get(precision, peaks['fp16']):4.0%} of conv peak")  # fmt: skip


def graphed(upscaler: Upscaler, host: torch.Tensor) -> Callable[[], object]:
    net = upscaler.net
    x = padded_core(upscaler, host, torch.float16)
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True):
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                net.forward_core(x)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            net.forward_core(x)
    return graph.replay


def section_profile(model_id: str, host: torch.Tensor) -> None:
    upscaler = Upscaler(open_model(model_id), precision="fp16")
    x = padded_core(upscaler, host, torch.float16)
    forward = whole_forward(upscaler.net)
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True):
        forward(x)
        sync()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profiler:
            forward(x)
            sync()
    print(f"{model_id}: top kernels of one fp16 forward")
    print(profiler.key_averages().table(sort_by="self_device_time_total", row_limit=14, max_name_column_width=70))


def dense_nchw(rdb, x: torch.Tensor) -> torch.Tensor:
    """The dense block over one NCHW buffer: each conv reads a channel prefix, no concatenations."""
    from torch.nn import functional as F

    n, c, h, w = x.shape
    grow = rdb.conv1.out_channels
    buffer = x.new_empty((n, c + 4 * grow, h, w))
    buffer[:, :c] = x
    for index, conv in enumerate((rdb.conv1, rdb.conv2, rdb.conv3, rdb.conv4)):
        start = c + index * grow
        buffer[:, start : start + grow] = F.leaky_relu(conv(buffer[:, :start]), 0.2)
    return rdb.conv5(buffer).mul_(0.2).add_(x)


def section_dense(host: torch.Tensor, rounds: int) -> None:
    upscaler = Upscaler(open_model("realesrgan-x4plus"), precision="fp16")
    x = padded_core(upscaler, host, torch.float16)
    with torch.inference_mode():
        features = upscaler.net.conv_first(x)
    rdb = upscaler.net.body[0].rdb1
    # Channels-last weights would pull an NCHW input into channels-last: NCHW needs both.
    rdb_nchw = copy.deepcopy(rdb).to(memory_format=torch.contiguous_format)
    nchw = features.contiguous()
    started = time.perf_counter()
    compiled = torch.compile(rdb, dynamic=False)
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True):
        compiled(features.clone(memory_format=torch.channels_last))
        sync()
    compile_seconds = time.perf_counter() - started

    def run(block, inputs, one_pass: bool = False, grouped: bool = False) -> Callable[[], object]:
        def call() -> None:
            _cuda_epilogue.ENABLED, _dense_partial_sums.ENABLED = one_pass, grouped
            try:
                with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True):
                    block(inputs.clone(memory_format=torch.preserve_format))
            finally:
                _cuda_epilogue.ENABLED = _dense_partial_sums.ENABLED = True

        return call

    with torch.inference_mode():
        written = rdb.function(features, *rdb.tensors())
        grouped = rdb(features.clone(memory_format=torch.preserve_format))
    print(f"grouped convs against the block as written: max difference {(grouped - written).abs().max().item():.2e}")
    calls = {
        "channels-last, as written": run(rdb, features),
        "one-pass epilogues, concatenated": run(rdb, features, one_pass=True),
        "grouped convs summed (uprez)": run(rdb, features, one_pass=True, grouped=True),
        "NCHW, as written": run(rdb_nchw, nchw),
        "NCHW dense buffer": run(lambda t: dense_nchw(rdb_nchw, t), nchw),
        "torch.compile (channels-last)": run(compiled, features, one_pass=True, grouped=True),  # as compiled
        "clone only": lambda: features.clone(memory_format=torch.preserve_format),
    }
    seconds = median_seconds(calls, rounds)
    print(f"x4plus dense block on {tuple(features.shape)} fp16 (compile took {compile_seconds:.1f} s)")
    for name, value in seconds.items():
        print(f"  {name:<32} {value * 1e3:8.2f} ms")


def section_compile(host: torch.Tensor, rounds: int) -> None:
    upscaler = Upscaler(open_model("realesr-animevideov3-x4"), precision="fp16")
    x = padded_core(upscaler, host, torch.float16)
    net = upscaler.net
    started = time.perf_counter()
    compiled = torch.compile(net.forward_core, dynamic=False)
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True):
        compiled(x)
        sync()
    compile_seconds = time.perf_counter() - started

    def run(forward) -> Callable[[], object]:
        def call() -> None:
            with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True):
                forward(x)

        return call

    seconds = median_seconds({"eager": run(net.forward_core), "torch.compile": run(compiled)}, rounds)
    print(f"animevideov3 whole network fp16 (compile took {compile_seconds:.1f} s)")
    for name, value in seconds.items():
        print(f"  {name:<16} {value * 1e3:8.2f} ms")


def section_end2end(model_id: str, host: torch.Tensor, rounds: int) -> None:
    model = open_model(model_id)
    upscaler = Upscaler(model)
    fused = Upscaler(model, compile=True)
    x = padded_core(upscaler, host, upscaler.dtype)
    forward = whole_forward(upscaler.net)

    def net_only() -> None:
        with torch.inference_mode():
            forward(x)

    calls: dict[str, Callable[[], object]] = {
        "forward only": net_only,
        "upscale -> uint8": lambda: upscaler.upscale(host, out_dtype=torch.uint8),
        "upscale -> float32": lambda: upscaler.upscale(host),
        "compiled upscale -> uint8": lambda: fused.upscale(host, out_dtype=torch.uint8),
    }
    seconds = median_seconds(calls, rounds)
    megapixels = host.shape[1] * host.shape[2] / 1e6
    print(f"{model_id}: {upscaler.plan(host.shape[1], host.shape[2], torch.uint8)}")
    for name, value in seconds.items():
        print(f"{model_id:<24} {name:<28} {value * 1e3:8.1f} ms (first {FIRST_CALLS[name] * 1e3:7.0f})"
              f"  {megapixels / value:8.2f} MP/s")  # fmt: skip


def section_graphs(model_id: str, rounds: int) -> None:
    model = open_model(model_id)
    eager, graphed = Upscaler(model, cuda_graphs=False), Upscaler(model)
    for photo in GRAPH_PHOTOS:
        graphs_on_photo(model_id, photo, eager, graphed, rounds)


def graphs_on_photo(model_id: str, photo: str, eager: Upscaler, graphed: Upscaler, rounds: int) -> None:
    host = load(photo)
    x = padded_core(eager, host, eager.dtype)
    forward = whole_forward(eager.net)
    replayed = cuda_graphs.GraphedForward(forward, bytes_per_pixel=0.0)

    def issue_only() -> float:
        sync()
        started = time.perf_counter()
        with torch.inference_mode():
            forward(x)
        issued = time.perf_counter() - started
        sync()
        return issued

    def run(function: Callable) -> Callable[[], object]:
        def call() -> None:
            with torch.inference_mode():
                function(x)

        return call

    calls = {
        "forward eager": run(forward),
        "forward replayed": run(replayed),
        "upscale eager": lambda: eager.upscale(host, out_dtype=torch.uint8),
        "upscale graphs": lambda: graphed.upscale(host, out_dtype=torch.uint8),
    }
    seconds = median_seconds(calls, rounds)
    issue = statistics.median(issue_only() for _ in range(rounds))
    megapixels = host.shape[1] * host.shape[2] / 1e6
    print(f"{model_id:<24} {photo:<14} graphs held: {replayed.graphs} + {graphed.graphs_held};"
          f" host time to issue the eager forward {issue * 1e3:.2f} ms")  # fmt: skip
    for name, value in seconds.items():
        print(f"{model_id:<24} {photo:<14} {name:<18} {value * 1e3:8.2f} ms  {megapixels / value:8.2f} MP/s")


def section_epilogue(rounds: int) -> None:
    channels, launches = 64, 200
    x = torch.randn(1, channels, 8, 8, device="cuda", dtype=torch.float16).contiguous(memory_format=torch.channels_last)
    bias, slope = torch.randn(channels, device="cuda", dtype=torch.float16), torch.rand(channels, device="cuda").half()

    def one_pass() -> None:
        for _ in range(launches):
            _cuda_epilogue.bias_leaky(x, bias, slope)

    one_pass()  # compiles the kernel

    def two_pass() -> None:
        for _ in range(launches):
            F.prelu(x.add_(bias.view(1, -1, 1, 1)), slope)

    module = _cuda_epilogue._modules[x.device.index]
    arguments = [ctypes.c_void_p(t.data_ptr()) for t in (x, bias, slope)] + [ctypes.c_longlong(64), ctypes.c_int(8)]

    def launch_only() -> None:
        for _ in range(launches):
            module.launch("bias_leaky_f16", 1, 256, arguments)

    calls = {"one pass": one_pass, "launch only": launch_only, "two passes": two_pass}
    seconds = median_seconds(calls, rounds)
    for name, value in seconds.items():
        print(f"8x8 map, {name:<12} {value / launches * 1e6:6.1f} us per layer (host-bound)")
    upscaler = Upscaler(open_model("realesr-animevideov3-x4"), precision="fp16")
    for side in (64, 128, 192, 256, 384, 512, 640):
        image = torch.rand(1, 3, side, side, device="cuda").half().contiguous(memory_format=torch.channels_last)

        def forward(enabled: bool, image=image) -> Callable[[], object]:
            def call() -> None:
                with torch.inference_mode(), contextlib.nullcontext() if enabled else as_written():
                    upscaler.net.forward_core(image)

            return call

        seconds = median_seconds({f"one {side}": forward(True), f"two {side}": forward(False)}, max(rounds, 9))
        one, two = seconds[f"one {side}"], seconds[f"two {side}"]
        print(f"animevideov3 fp16 forward {side:4d} px: one pass {one * 1e3:7.3f} ms, two passes {two * 1e3:7.3f} ms,"
              f" {two / one:5.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", default="photo-2000x1500")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    host = load(args.photo)
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"{args.photo}", flush=True)  # fmt: skip
    peaks = {"fp16": 1.0, "bf16": 1.0, "fp32": 1.0}
    for section in args.sections:
        started = time.perf_counter()
        print(f"--- {section}", flush=True)
        if section == "peaks":
            peaks = section_peaks(args.rounds)
        elif section == "forward":
            for model_id in args.models:
                section_forward(model_id, host, peaks, args.rounds)
        elif section == "profile":
            for model_id in args.models:
                section_profile(model_id, host)
        elif section == "dense":
            section_dense(host, args.rounds)
        elif section == "compile":
            section_compile(host, args.rounds)
        elif section == "epilogue":
            section_epilogue(args.rounds)
        elif section == "graphs":
            for model_id in args.models:
                section_graphs(model_id, args.rounds)
        elif section == "end2end":
            for model_id in args.models:
                section_end2end(model_id, host, args.rounds)
        print(f"({section}: {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
