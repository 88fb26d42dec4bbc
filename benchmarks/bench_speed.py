"""uprez against plain PyTorch and the ncnn runtime: speed and peak memory, same weights and photos.

    python benchmarks/bench_speed.py [--models M ...] [--photos P ...] [--rounds N] [--threads T]

Each measurement runs in a fresh child process (so its peak RSS is its own), and the methods
run in alternating order within each round, because these machines are shared and noisy:
compare the ratios, not the seconds.

    uprez   the default path as the uprez command runs it: Upscaler with auto tiles and mirrored
            borders, uint8 out, glibc keeping freed blocks in the heap (core/engine/heap.py)
    uprez-bf16  the same in bf16, on a CPU that runs it natively (AMX or AVX512-BF16)
    plain   PyTorch fp32 eager, NCHW, whole image, no padding, the network as written
            (ComfyUI/spandrel/RealESRGANer; uprez's in-module block tiles and Winograd blocks off)
    ncnn    the ncnn runtime on the CPU, fp32, 200-px tiles with 10 px of mirrored context

It also prints each method's achieved GFLOP/s (the network's conv work per input pixel times
its speed) beside this machine's own measured peak in the precision it ran (one large
channels-last conv, fp32 and bf16, measured after every round; the best counts), so every
figure has its distance to the limit beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import photos

METHODS = ("uprez", "uprez-bf16", "plain", "ncnn")
# Plain whole-image RRDBNet keeps every 4x-resolution feature map: about 16 KiB per input pixel.
PLAIN_BYTES_PER_PIXEL = {"realesrgan-x4plus": 16_384, "realesr-animevideov3-x4": 1_024}
NCNN_TILE = 200
WARM_UP_BELOW_SECONDS = 5.0


def child(method: str, model_id: str, photo: str, threads: int) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(threads)
    from uprez.core.archs._as_written import as_written
    from uprez.core.engine.heap import keep_freed_memory
    from uprez.core.models import open_model

    if method.startswith("uprez"):
        keep_freed_memory()  # as the uprez command's process does

    pixels = np.asarray(Image.open(photos.photo(photo)).convert("RGB"), dtype=np.float32) / 255
    image = torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
    model = open_model(model_id)
    # uprez's reformulations live inside the modules: plain model.net() would get them.
    with as_written() if method == "plain" else contextlib.nullcontext():
        first = _timed(method, model, model_id, image, threads)
        # A short first run is dominated by oneDNN building its kernels: time a second one.
        seconds = _timed(method, model, model_id, image, threads) if first < WARM_UP_BELOW_SECONDS else first
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    megapixels = image.shape[1] * image.shape[2] / 1e6
    return {"seconds": seconds, "peak_bytes": peak, "megapixels": megapixels,
            "flop_per_pixel": conv_flop_per_input_pixel(model.net)}  # fmt: skip


def conv_flop_per_input_pixel(net, side: int = 32) -> float:
    """Multiply-adds x 2 of every conv, per input pixel (the network's work, not uprez's: the
    Winograd blocks do fewer), counted at the aten level, so convs called as functions count too."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from uprez.core.archs._as_written import as_written

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter, as_written():
        net(torch.rand(1, net.in_channels, side, side))
    convolutions = {op: n for op, n in counter.get_flop_counts()["Global"].items() if "convolution" in str(op)}
    return sum(convolutions.values()) / side**2


def machine_peak(threads: int, precision: str) -> float:
    """This machine's best conv rate, GFLOP/s: a 64->64 3x3 conv on a 256x256 channels-last map."""
    import torch

    torch.set_num_threads(threads)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    x = torch.rand(1, 64, 256, 256, dtype=dtype).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(64, 64, 3, 1, 1).to(dtype=dtype, memory_format=torch.channels_last).eval()
    flop = 2 * 64 * 64 * 9 * 256 * 256
    best = float("inf")
    with torch.inference_mode():
        for _ in range(8):
            started = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - started)
    return flop / best / 1e9


def _timed(method: str, model, model_id: str, image, threads: int) -> float:
    import torch

    from uprez.core.engine.upscaler import Upscaler
    from uprez.core.models.ncnn_source import packaged_pair
    from uprez.core.models.zoo import find

    started = time.perf_counter()
    if method.startswith("uprez"):
        precision = "bf16" if method == "uprez-bf16" else "auto"
        Upscaler(model, precision=precision).upscale(image, out_dtype=torch.uint8)
    elif method == "plain":
        with torch.inference_mode():
            output = model.net(image.unsqueeze(0)).clamp_(0, 1)
            (output * 255 + 0.5).to(torch.uint8)
    else:
        import ncnn_reference

        known = find(model_id)
        param = packaged_pair(known.ncnn)
        net = ncnn_reference.make_net(param, threads)
        started = time.perf_counter()
        output = ncnn_reference.upscale(net, image.numpy(), model.scale, prepad=10, tile=NCNN_TILE)
        ncnn_reference.to_8bit(output)
    return time.perf_counter() - started


def plain_fits(model_id: str, photo: str) -> bool:
    from PIL import Image

    with Image.open(photos.photo(photo)) as image:
        need = image.width * image.height * PLAIN_BYTES_PER_PIXEL.get(model_id, 16_384)
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return need < 0.6 * available


def measure(method: str, model_id: str, photo: str, threads: int) -> dict:
    command = [sys.executable, __file__, "--child", method, model_id, photo, str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"{method} {model_id} {photo} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["realesr-animevideov3-x4", "realesrgan-x4plus"])
    parser.add_argument("--photos", nargs="+", default=["photo-256", "photo-640x480", "photo-2000x1500"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--peak-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, model_id, photo, threads = args.child
        print(json.dumps(child(method, model_id, photo, int(threads))))
        return
    if args.peak_child:
        print(json.dumps(machine_peak(int(args.peak_child[0]), args.peak_child[1])))
        return
    methods = list(args.methods)
    if "uprez-bf16" in methods and not native_bf16():
        print("uprez-bf16 left out: this CPU has no AMX or AVX512-BF16")
        methods.remove("uprez-bf16")
    precisions = [p for p in ("fp32", "bf16") if p == "fp32" or "uprez-bf16" in methods]
    # The peak is measured again after every round and the best kept: on a shared machine one
    # measurement can land in a busy moment and make every "of peak" look better than it is.
    samples: dict[str, list[float]] = {p: [measured_peak(args.threads, p)] for p in precisions}
    groups = []
    for model_id in args.models:
        for photo in args.photos:
            runs: dict[str, list[dict]] = {m: [] for m in methods}
            skipped = {m for m in methods if m == "plain" and not plain_fits(model_id, photo)}
            for _ in range(args.rounds):
                for method in methods:
                    if method not in skipped:
                        runs[method].append(measure(method, model_id, photo, args.threads))
                for precision in precisions:
                    samples[precision].append(measured_peak(args.threads, precision))
            groups.append((model_id, photo, runs, skipped))
            print(f"measured {model_id} {photo}", file=sys.stderr, flush=True)
    peaks = {p: max(values) for p, values in samples.items()}
    print(f"threads={args.threads} rounds={args.rounds} (median of rounds; ratios are against 'plain')")
    for precision, values in samples.items():
        print(f"machine peak {precision}: {peaks[precision]:.0f} GFLOP/s, the best of {len(values)} measurements "
              f"through the run ({min(values):.0f} the lowest; 64->64 3x3 conv, channels-last, 256x256)")  # fmt: skip
    print(f"{'model':<24} {'photo':<16} {'method':<10} {'MP/s':>8} {'x plain':>8} {'peak RSS':>9} "
          f"{'GFLOP/s':>8} {'of peak':>8}")  # fmt: skip
    for group in groups:
        report(*group, peaks)


def measured_peak(threads: int, precision: str) -> float:
    command = [sys.executable, __file__, "--peak-child", str(threads), precision]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip())


def native_bf16() -> bool:
    from uprez.core.engine.precision import cpu_has_native_bf16

    return cpu_has_native_bf16()


def report(model_id: str, photo: str, runs: dict[str, list[dict]], skipped: set[str], peaks: dict[str, float]) -> None:
    speed = {m: statistics.median(r["megapixels"] / r["seconds"] for r in rs) for m, rs in runs.items() if rs}
    for method, results in runs.items():
        if method in skipped:
            print(f"{model_id:<24} {photo:<16} {method:<10} {'skipped: needs more memory than this machine has':>30}")
            continue
        ratio = f"{speed[method] / speed['plain']:.2f}" if "plain" in speed else "-"
        peak = max(r["peak_bytes"] for r in results) / 1024**3
        # The network's own work at this speed (uprez's tile context and border not counted).
        gflops = speed[method] * 1e6 * results[0]["flop_per_pixel"] / 1e9
        limit = peaks["bf16" if method == "uprez-bf16" else "fp32"]
        print(f"{model_id:<24} {photo:<16} {method:<10} {speed[method]:>8.4f} {ratio:>8} {peak:>7.2f} GB "
              f"{gflops:>8.0f} {gflops / limit:>8.0%}")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
