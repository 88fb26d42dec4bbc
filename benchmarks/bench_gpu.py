"""CUDA speed: uprez's paths against plain PyTorch fp32 eager, same weights and photos.

    python benchmarks/bench_gpu.py [--models M ...] [--photos P ...] [--rounds 3]

One process, methods in alternating order within each round, after one warm-up call each;
each call is timed whole and CUDA-synchronised: host tensor in, host uint8 out (host-to-device
copy, tiles, and the output back in host memory). The median of the rounds is printed (with
CUDA graphs: the first round captures, the others replay).

    uprez           the default: auto precision (fp16 where the architecture is safe in it), auto tiles,
                    small tiles replayed from CUDA graphs from their shape's second call on
    uprez-eager     the default without CUDA graphs (Upscaler(cuda_graphs=False))
    uprez-two-pass  the default without uprez's CUDA kernels (under _as_written.as_written()):
                    PyTorch's separate bias and activation passes, the dense blocks' concatenations
    uprez-compiled  the default with compile=True (uprez upscale --compile): torch.compile fuses the
                    network's hot blocks; its first call (printed) pays the compile
    uprez-bf16      the default in bf16
    uprez-fp32      the default in fp32 (true fp32: uprez turns cuDNN's TF32 off)
    plain           PyTorch fp32 eager, whole image, the network as written (_as_written: what ComfyUI's
                    built-in node and spandrel run, with PyTorch's default TF32 convolutions);
                    skipped where it does not fit the card

Printed per method: input megapixels per second, the ratio to plain, the achieved TFLOP/s (the
network's conv work per input pixel times its speed) beside this card's own measured conv peak
in that precision, peak GPU memory, and peak host memory (the process's high-water mark, reset
before each call through /proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import photos
import torch
from bench_speed import conv_flop_per_input_pixel
from PIL import Image

from uprez.core.archs._as_written import as_written
from uprez.core.engine.upscaler import Upscaler
from uprez.core.models import open_model

PHOTOS = ["photo-256", "photo-640x480", "photo-2000x1500"]
PEAK_PRECISION = {
    "uprez": "fp16",
    "uprez-eager": "fp16",
    "uprez-two-pass": "fp16",
    "uprez-compiled": "fp16",
    "uprez-bf16": "bf16",
    "uprez-fp32": "fp32",
    "plain": "tf32",
}
PEAK_SIDE, PEAK_REPEATS = 2048, 10


def conv_peak(dtype: torch.dtype, tf32: bool = False) -> float:
    """TFLOP/s of a 64->64 3x3 conv without bias on a 2048x2048 channels-last map, cuDNN
    autotuned, ten back to back; "tf32" is fp32 with TF32 allowed (PyTorch's default)."""
    x = torch.rand(1, 64, PEAK_SIDE, PEAK_SIDE, device="cuda", dtype=dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.rand(64, 64, 3, 3, device="cuda", dtype=dtype).contiguous(memory_format=torch.channels_last)
    best = float("inf")
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True, allow_tf32=tf32):
        for _ in range(3):
            torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(PEAK_REPEATS):
                torch.nn.functional.conv2d(x, weight, padding=1)
            torch.cuda.synchronize()
            best = min(best, (time.perf_counter() - started) / PEAK_REPEATS)
    return 2 * 64 * 64 * 9 * PEAK_SIDE**2 / best / 1e12


def host_peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def host_peak_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def timed(run: Callable[[], object]) -> tuple[float, float, float]:
    """Seconds, peak GPU GB and peak host GB of one call."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    host_peak_reset()
    started = time.perf_counter()
    run()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return seconds, torch.cuda.max_memory_allocated() / 1e9, host_peak_bytes() / 1e9


def load(name: str) -> torch.Tensor:
    with Image.open(photos.photo(name)) as image:
        planes = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255
    return torch.from_numpy(planes.copy())


def uprez_call(upscaler: Upscaler, host: torch.Tensor) -> Callable[[], object]:
    return lambda: upscaler.upscale(host, out_dtype=torch.uint8)


def two_pass_call(upscaler: Upscaler, host: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        with as_written():  # on CUDA: without uprez's kernels
            return upscaler.upscale(host, out_dtype=torch.uint8)

    return run


def plain_call(net: torch.nn.Module, host: torch.Tensor) -> Callable[[], object]:
    def run() -> None:
        with torch.inference_mode(), as_written():  # not uprez's kernels, which live in the modules
            y = net(host.unsqueeze(0).cuda())
            y.clamp_(0, 1).mul_(255).add_(0.5).to(torch.uint8).cpu()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["realesrgan-x4plus", "realesr-animevideov3-x4"])
    parser.add_argument("--photos", nargs="+", default=PHOTOS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    peaks = {"fp16": conv_peak(torch.float16), "bf16": conv_peak(torch.bfloat16),
             "fp32": conv_peak(torch.float32), "tf32": conv_peak(torch.float32, tf32=True)}  # fmt: skip
    print(
        f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}; "
        "conv peak TFLOP/s: " + ", ".join(f"{name} {value:.0f}" for name, value in peaks.items()),
        flush=True,
    )
    for model_id in args.models:
        gc.collect()  # the last model's networks (reference cycles): GPU peaks are per model
        torch.cuda.empty_cache()
        model = open_model(model_id)
        flop = conv_flop_per_input_pixel(model.net)
        upscalers = {
            "uprez": Upscaler(model),
            "uprez-eager": Upscaler(model, cuda_graphs=False),
            "uprez-two-pass": Upscaler(model),
            "uprez-compiled": Upscaler(model, compile=True),
            "uprez-bf16": Upscaler(model, precision="bf16"),
            "uprez-fp32": Upscaler(model, precision="fp32"),
        }
        plain = open_model(model_id).net.cuda().eval()
        for photo in args.photos:
            host = load(photo)
            megapixels = host.shape[1] * host.shape[2] / 1e6
            calls = {name: uprez_call(up, host) for name, up in upscalers.items()}
            calls["uprez-two-pass"] = two_pass_call(upscalers["uprez-two-pass"], host)
            calls["plain"] = plain_call(plain, host)
            firsts = {}
            for name, call in list(calls.items()):  # warm-up: cuDNN autotuning, allocators
                try:
                    firsts[name] = timed(call)[0]
                except torch.OutOfMemoryError:
                    print(f"{model_id} {photo}: {name} does not fit this card", flush=True)
                    del calls[name]
                    torch.cuda.empty_cache()
            runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in calls}
            for _ in range(args.rounds):
                for name, call in calls.items():
                    runs[name].append(timed(call))
            base = statistics.median(s for s, _, _ in runs["plain"]) if "plain" in runs else None
            for name, measured in runs.items():
                seconds = statistics.median(s for s, _, _ in measured)
                rate = flop * megapixels * 1e6 / seconds / 1e12
                peak = peaks[PEAK_PRECISION[name]]
                ratio = f"{base / seconds:5.2f}x plain" if base else "  (no plain)"
                plan = upscalers[name].plan(host.shape[1], host.shape[2]) if name in upscalers else None
                layout = f"{plan.precision}, {plan.tiles} tile(s) of {plan.tile}" if plan else "fp32, whole image"
                print(f"{model_id:<24} {photo:<16} {name:<14} {megapixels / seconds:8.3f} MP/s {ratio}"
                      f"  {rate:6.1f} TFLOP/s = {rate / peak:4.0%} of peak"
                      f"  GPU {max(g for _, g, _ in measured):5.2f} GB  host {max(h for _, _, h in measured):5.2f} GB"
                      f"  first call {firsts[name]:6.2f} s  ({layout})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
