"""CUDA speed: uprez's default (half precision, auto tiles) against plain PyTorch fp32 eager.

    python benchmarks/bench_gpu.py [--photo photo-2000x1500] [--rounds 3]

One process, alternating order, CUDA-synchronised wall time of the whole call (host to device
copies, tiles, and the output back in host memory), peak GPU memory per method.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import photos
import torch
from PIL import Image

from uprez.core.engine.upscaler import Upscaler
from uprez.core.models import open_model


def timed(run) -> tuple[float, float]:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    run()
    torch.cuda.synchronize()
    return time.perf_counter() - started, torch.cuda.max_memory_allocated() / 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["realesrgan-x4plus", "realesr-animevideov3-x4"])
    parser.add_argument("--photo", default="photo-2000x1500")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with Image.open(photos.photo(args.photo)) as image:
        planes = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255
    host = torch.from_numpy(planes.copy())
    megapixels = host.shape[1] * host.shape[2] / 1e6
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, {args.photo} ({megapixels:.2f} MP)")
    for model_id in args.models:
        model = open_model(model_id)
        plain = open_model(model_id).net.cuda().eval()
        methods = {
            "uprez auto": Upscaler(model),
            "uprez bf16": Upscaler(model, precision="bf16"),
            "uprez fp32": Upscaler(model, precision="fp32"),
        }

        def run_plain(plain: torch.nn.Module = plain) -> None:
            with torch.inference_mode():
                plain(host.unsqueeze(0).cuda()).clamp_(0, 1).mul_(255).add_(0.5).to(torch.uint8).cpu()

        calls = {name: (lambda up=up: up.upscale(host, out_dtype=torch.uint8)) for name, up in methods.items()}
        calls["plain fp32"] = run_plain
        for call in calls.values():
            call()  # warm-up: cuDNN autotuning, allocator
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                results[name].append(timed(call))
        base = statistics.median(s for s, _ in results["plain fp32"])
        for name, runs in results.items():
            seconds = statistics.median(s for s, _ in runs)
            peak = max(m for _, m in runs)
            plan = methods[name].plan(host.shape[1], host.shape[2]) if name in methods else None
            tiles = f"{plan.tiles} tiles of {plan.tile}" if plan else "whole image"
            print(f"{model_id:<24} {name:<11} {megapixels / seconds:8.3f} MP/s  {base / seconds:5.2f}x plain"
                  f"  peak {peak:6.2f} GB  ({tiles})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
