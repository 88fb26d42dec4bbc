"""The independent reference: the ``ncnn`` PyPI runtime running the same .param/.bin on the CPU.

Set up the way realesrgan-ncnn-vulkan runs its models (``shared/reference/realesrgan-measured.md``):
input planes in [0, 1], the image mirrored by ``prepad`` pixels without repeating the edge,
optionally cut into tiles that each carry ``prepad`` pixels of context, fp32 everywhere (fp16
and bf16 storage off, so the CPU evaluation is exact).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INPUT_BLOB, OUTPUT_BLOB = "data", "output"


def make_net(param: Path, threads: int = 2):
    import ncnn

    net = ncnn.Net()
    options = net.opt
    options.use_vulkan_compute = False
    options.use_fp16_storage = False
    options.use_fp16_packed = False
    options.use_fp16_arithmetic = False
    options.use_bf16_storage = False
    options.num_threads = threads
    if net.load_param(str(param)) or net.load_model(str(param.with_suffix(".bin"))):
        raise RuntimeError(f"ncnn could not load {param}")
    return net


def run(net, planes: np.ndarray) -> np.ndarray:
    """One forward pass: (C, H, W) float32 in, (C, H', W') float32 out."""
    import ncnn

    # ncnn.Mat wraps the array's buffer without copying: keep the array alive until extraction.
    contiguous = np.ascontiguousarray(planes, dtype=np.float32)
    extractor = net.create_extractor()
    extractor.input(INPUT_BLOB, ncnn.Mat(contiguous))
    status, output = extractor.extract(OUTPUT_BLOB)
    if status != 0:
        raise RuntimeError(f"ncnn extract failed with {status}")
    result = np.array(output, copy=True)
    del extractor, contiguous
    return result


def upscale(net, image: np.ndarray, scale: int, *, prepad: int = 10, tile: int | None = None) -> np.ndarray:
    """(C, H, W) in [0, 1] to (C, H*scale, W*scale), mirrored borders, whole or tiled."""
    _, height, width = image.shape
    padded = np.pad(image, ((0, 0), (prepad, prepad), (prepad, prepad)), mode="reflect")
    if tile is None:
        whole = run(net, padded)
        return whole[:, prepad * scale : (prepad + height) * scale, prepad * scale : (prepad + width) * scale]
    out = np.empty((image.shape[0], height * scale, width * scale), dtype=np.float32)
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            y1, x1 = min(y + tile, height), min(x + tile, width)
            piece = run(net, padded[:, y : y1 + 2 * prepad, x : x1 + 2 * prepad])
            out[:, y * scale : y1 * scale, x * scale : x1 * scale] = piece[
                :, prepad * scale : (prepad + y1 - y) * scale, prepad * scale : (prepad + x1 - x) * scale
            ]
    return out


def to_8bit(planes: np.ndarray) -> np.ndarray:
    """floor(v * 255 + 0.5), clamped: how realesrgan-ncnn-vulkan stores its output."""
    return np.floor(np.clip(planes, 0.0, 1.0) * 255.0 + 0.5).astype(np.int16)
