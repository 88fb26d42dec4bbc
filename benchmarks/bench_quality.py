"""What a faster path costs in quality: bf16 (and fp16 on CUDA) against fp32, same photos;
``--precisions fp32-winograd`` scores the CPU's default fp32 path (RRDBNet's dense blocks in
Winograd convolutions, SRVGGNetCompact's C kernel) against fp32 with direct convolutions.

    python benchmarks/bench_quality.py [--models M ...] [--photos P ...] [--precisions P ...]

Each benchmark photo is the ground truth: it is shrunk 4x (bicubic), upscaled back by each
precision through the same Upscaler settings, and scored as in shared/reference (PSNR on Y,
4-px border cropped). The issue's rule: a faster path is kept only if its PSNR stays within
0.05 dB of fp32's. Also printed: PSNR of the output against fp32's output, and the mean and
largest difference in 8-bit levels.
"""

from __future__ import annotations

import argparse
import contextlib
import math

import photos

PHOTOS = ["photo-256", "photo-640x480", "photo-2000x1500", "photo-512-a", "photo-512-b", "photo-1024"]
SHRINK = 4
CROP = 4
PSNR_RULE_DB = 0.05
# The default fp32 path with RRDBNet's Winograd dense blocks, against fp32 with direct convs.
WINOGRAD = "fp32-winograd"


def psnr_y(a, b) -> float:  # noqa: ANN001 - (3, H, W) float tensors in [0, 1]
    """PSNR on BT.601 luma, as the reference's quality baseline."""
    import torch

    weights = torch.tensor([65.481, 128.553, 24.966]).view(3, 1, 1) / 255
    luma_a, luma_b = ((t * weights).sum(0)[CROP:-CROP, CROP:-CROP] for t in (a, b))
    mse = float(((luma_a - luma_b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _precision(path: str) -> str:
    return "fp32" if path == WINOGRAD else path


def run(upscaler, image, *, winograd: bool):  # noqa: ANN001, ANN201 - an Upscaler, a (3, H, W) tensor
    """8-bit output as floats; fp32 itself runs direct convolutions (the network as written)."""
    import torch

    from uprez.core.archs._as_written import as_written

    with contextlib.nullcontext() if winograd else as_written():
        return upscaler.upscale(image, out_dtype=torch.uint8).float() / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["realesrgan-x4plus", "realesr-animevideov3-x4"])
    parser.add_argument("--photos", nargs="+", default=PHOTOS)
    parser.add_argument("--precisions", nargs="+", default=["bf16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from uprez.core.engine.upscaler import Upscaler
    from uprez.core.models import open_model

    torch.set_num_threads(args.threads)
    print(f"{'model':<24} {'photo':<16} {'precision':<9} {'PSNR-Y':>8} {'vs fp32':>8} {'rule':>5} "
          f"{'PSNR to fp32 out':>16} {'mean lv':>8} {'max lv':>7}")  # fmt: skip
    for model_id in args.models:
        model = open_model(model_id)
        upscalers = {
            p: Upscaler(model, device=args.device, precision=_precision(p)) for p in ["fp32", *args.precisions]
        }
        for name in args.photos:
            with Image.open(photos.photo(name)) as original:
                truth = original.convert("RGB")
            small = truth.resize((truth.width // SHRINK, truth.height // SHRINK), Image.BICUBIC)
            as_tensor = lambda picture: torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255).permute(2, 0, 1)  # noqa: E731
            image, truth_t = as_tensor(small).contiguous(), as_tensor(truth)
            truth_t = truth_t[:, : image.shape[1] * SHRINK, : image.shape[2] * SHRINK]
            outputs = {p: run(u, image, winograd=p == WINOGRAD) for p, u in upscalers.items()}
            reference = psnr_y(outputs["fp32"], truth_t)
            print(f"{model_id:<24} {name:<16} {'fp32':<9} {reference:>8.3f}")
            for precision in args.precisions:
                out = outputs[precision]
                score = psnr_y(out, truth_t)
                levels = (out - outputs["fp32"]).abs() * 255
                verdict = "ok" if abs(score - reference) <= PSNR_RULE_DB else "over"
                to_fp32 = psnr_y(out, outputs["fp32"])
                print(f"{model_id:<24} {name:<16} {precision:<9} {score:>8.3f} {score - reference:>+8.3f} "
                      f"{verdict:>5} {to_fp32:>13.1f} dB {levels.mean():>8.3f} {levels.max():>7.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
