"""How much tile context RRDBNet needs: tiled against whole-image output on real photographs.

    python benchmarks/tile_seams.py [--contexts 10 24 32 48 64] [--tile 64] [--photos P ...]

For each context (input pixels of real neighbour pixels around every tile) it prints the mean
and max absolute difference from the whole-image output and the worst 16x16 block mean, in
8-bit levels, plus the compute overhead of the context at that tile size and at 512-px tiles.
The issue's bar for 64-px tiles with the default context: mean <= 0.2, worst block <= 1.5.
"""

from __future__ import annotations

import argparse

import numpy as np
import photos
import torch
from PIL import Image
from torch.nn import functional as F

from uprez.core.engine.upscaler import Upscaler
from uprez.core.models import open_model

BLOCK = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="realesrgan-x4plus")
    parser.add_argument("--contexts", nargs="+", type=int, default=[10, 24, 32, 48, 64])
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--photos", nargs="+", default=["photo-192-c", "photo-512-a", "photo-512-b"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = open_model(args.model)
    print(f"{args.model}, {args.tile}-px tiles, {args.crop}x{args.crop} crops; differences in 8-bit levels")
    print(f"{'context':>7} {'photo':<14} {'mean':>7} {'max':>6} {'worst block':>11} {'cost@tile':>9} {'cost@512':>8}")
    for name in args.photos:
        with Image.open(photos.photo(name)) as image:
            planes = np.asarray(image.convert("RGB"), dtype=np.float32)[: args.crop, : args.crop] / 255
        tensor = torch.from_numpy(planes.transpose(2, 0, 1).copy())
        whole = Upscaler(model, tile=100_000).upscale(tensor)
        for context in args.contexts:
            tiled = Upscaler(model, tile=args.tile, context=context).upscale(tensor)
            difference = (tiled - whole).abs() * 255
            blocks = F.avg_pool2d(difference.mean(0, keepdim=True).unsqueeze(0), BLOCK)
            cost_tile = ((args.tile + 2 * context) / args.tile) ** 2
            cost_512 = ((512 + 2 * context) / 512) ** 2
            print(f"{context:>7} {name:<14} {difference.mean():>7.3f} {difference.max():>6.2f} "
                  f"{blocks.max():>11.3f} {cost_tile:>8.2f}x {cost_512:>7.2f}x", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
