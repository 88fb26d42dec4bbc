"""A folder through the `uprez upscale` command, end to end: decode, upscale, encode, write.

    python benchmarks/bench_folder.py [--model M] [--photo P] [--count 4] [--rounds 2] [--device auto]

Each run is a fresh process over COUNT copies of one benchmark photo (written as PNG), timed
whole and per image (the process's start and the model's loading included, once). Two ways,
alternating: files written while the next one is upscaled ("background", the command's way on a
GPU) and written before the next one starts ("inline", its way on a CPU). Prints seconds per
image and the ratio, and checks the two folders hold the same pixels.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import photos
from PIL import Image

# The command's own entry point (its heap settings included), with the way of writing chosen.
CHILD = """
import sys
from uprez.core import cli
from uprez.core.cli import upscale as command
real = command.Writes
background = sys.argv[1] == "background"
command.Writes = lambda *args, in_background: real(*args, in_background=background)
sys.argv = ["uprez", "upscale", sys.argv[2], "-o", sys.argv[3], "-m", sys.argv[4], "--device", sys.argv[5], "-q"]
cli.run()
"""
WAYS = ("background", "inline")


def run(way: str, folder: Path, out: Path, model: str, device: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, way, str(folder), str(out), model, device], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="realesr-animevideov3-x4")
    parser.add_argument("--photo", default="photo-640x480")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "in"
        folder.mkdir()
        for index in range(args.count):
            shutil.copy(photos.photo(args.photo), folder / f"{index}.png")
        seconds: dict[str, list[float]] = {way: [] for way in WAYS}
        for _ in range(args.rounds):
            for way in WAYS:
                seconds[way].append(run(way, folder, Path(scratch) / way, args.model, args.device))
        outputs = [sorted((Path(scratch) / way).iterdir()) for way in WAYS]
        same = all(
            np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))) for a, b in zip(*outputs, strict=True)
        )
    base = statistics.median(seconds["inline"])
    print(f"{args.model}, {args.count} x {args.photo}, device {args.device}, {args.rounds} rounds; same pixels: {same}")
    for way, values in seconds.items():
        median = statistics.median(values)
        runs = " / ".join(f"{v:.2f}" for v in values)
        print(f"  {way:<10} {median / args.count:6.3f} s per image ({runs} s whole)  {base / median:4.2f}x inline")


if __name__ == "__main__":
    main()
