"""ESRGAN's residual dense block in Winograd convolutions, for fp32 on the CPU.

Direct convolution already runs at this machine's measured conv peak there, and x4plus's
dense blocks also spend a fifth of their time concatenating features. Here every feature is
carried to the Winograd points once, into one growing buffer: a conv's input is a prefix of
that buffer (no concatenation), and each conv is one batched matrix product over the points.
One 170-px block tile, x4plus's weights: 41.0-45.1 ms direct (channels-last), 29.6-30.9 ms here
(1.38-1.48x; 2 threads, AVX-512).
"""

from __future__ import annotations

import torch

from ._winograd import BIAS_POINT, POINTS, Tiling, Workspace, input_transform, output_transform


def applies(x: torch.Tensor) -> bool:
    return ENABLED and x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()


# Switched off to run the network as its authors wrote it (_as_written.as_written, tests).
ENABLED = True


def dense_block(
    x: torch.Tensor,
    filters: list[torch.Tensor],
    biases: list[torch.Tensor],
    *,
    negative_slope: float,
    residual_scale: float,
    workspace: Workspace,
    out: torch.Tensor | None = None,
    offset: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """The block of ``rrdbnet.dense_block`` on [N, nf, H, W], its weights given as
    ``filter_transform``s. Returns a contiguous (NCHW) map, the layout these blocks read fastest;
    or writes the part of it at ``offset`` that fits ``out`` there (a tile's share of the map,
    without a copy in between)."""
    if out is None:
        out, offset = torch.empty(x.shape), (0, 0)
    if x.shape[0] != 1:
        for one, target in zip(x, out, strict=True):
            dense_block(one.unsqueeze(0), filters, biases, negative_slope=negative_slope, residual_scale=residual_scale,
                        workspace=workspace, out=target.unsqueeze(0), offset=offset)  # fmt: skip
        return out
    features, height, width = x.shape[1:]
    tiling = Tiling(height, width)
    total = features + sum(filter_.shape[1] for filter_ in filters[:-1])
    widest = max(filter_.shape[1] for filter_ in filters)
    points = workspace.buffer("points", (total, POINTS, tiling.tiles))
    products = workspace.buffer("products", (POINTS, widest, tiling.tiles))
    padded = workspace.zeroed("padded", (max(features, widest), *tiling.padded), written=(height, width))
    interior = (slice(1, height + 1), slice(1, width + 1))

    def conv(filter_: torch.Tensor, bias: torch.Tensor, inputs: int) -> torch.Tensor:
        product = products[:, : filter_.shape[1]]
        torch.bmm(filter_, points[:inputs].transpose(0, 1), out=product)
        product[BIAS_POINT].add_(bias.unsqueeze(1))
        return output_transform(product, tiling)

    padded[:features, interior[0], interior[1]].copy_(x[0])
    input_transform(padded[:features], tiling, points[:features])
    filled = features
    for filter_, bias in zip(filters[:-1], biases[:-1], strict=True):
        grown = filter_.shape[1]
        target = padded[:grown, interior[0], interior[1]]
        torch.ops.aten.leaky_relu.out(conv(filter_, bias, filled), negative_slope, out=target)
        input_transform(padded[:grown], tiling, points[filled : filled + grown])
        filled += grown
    rows = slice(offset[0], offset[0] + out.shape[-2])
    cols = slice(offset[1], offset[1] + out.shape[-1])
    update = conv(filters[-1], biases[-1], filled)[:, rows, cols].unsqueeze(0)
    return torch.add(x[..., rows, cols], update, alpha=residual_scale, out=out)
