"""Does time grow linearly with pixels, and memory with the tile rather than the image?

    python benchmarks/bench_scaling.py [--model M] [--methods uprez uprez-bf16]
                                       [--photos photo-640x480 photo-2000x1500] [--rounds N]

For each method the photos run in alternating order, each in a fresh child process (the same
children as bench_speed.py). Printed per photo: input megapixels per second, that rate against
the first photo's (the issue's goal: 2000x1500 within 10% of 640x480), peak RSS, and peak RSS
less the image's own bytes (the float input and its padded copy, the 8-bit output): the
working memory, which should stay flat as the image grows.
"""

from __future__ import annotations

import argparse
import statistics

import bench_speed
import photos
from PIL import Image

# The child's float32 RGB input (a numpy array and its CHW copy), the mirrored copy the engine
# runs on, and the uint8 RGB output at 4x.
IMAGE_BYTES_PER_INPUT_PIXEL = 2 * 3 * 4 + 3 * 4 + 3 * 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="realesrgan-x4plus")
    parser.add_argument("--methods", nargs="+", default=["uprez", "uprez-bf16"])
    parser.add_argument("--photos", nargs="+", default=["photo-640x480", "photo-2000x1500"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"{args.model}, threads={args.threads}, rounds={args.rounds} (median); photos alternate within a round")
    print(f"{'method':<11} {'photo':<16} {'MP/s':>8} {'x first':>8} {'peak RSS':>9} {'less image':>11}")
    for method in args.methods:
        runs: dict[str, list[dict]] = {photo: [] for photo in args.photos}
        for _ in range(args.rounds):
            for photo in args.photos:
                runs[photo].append(bench_speed.measure(method, args.model, photo, args.threads))
        first = None
        for photo, results in runs.items():
            rate = statistics.median(r["megapixels"] / r["seconds"] for r in results)
            first = first or rate
            peak = max(r["peak_bytes"] for r in results)
            with Image.open(photos.photo(photo)) as image:
                image_bytes = image.width * image.height * IMAGE_BYTES_PER_INPUT_PIXEL
            print(f"{method:<11} {photo:<16} {rate:>8.4f} {rate / first:>8.2f} {peak / 1024**3:>7.2f} GB "
                  f"{(peak - image_bytes) / 1024**3:>8.2f} GB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
