"""idealo ISR's residual dense block, shared by RDN (1x1 local fusion) and RRDN (3x3)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._staged import in_cache_sized_tiles, layout_of

# On large CPU maps each block runs in tiles with its exact receptive radius (_staged.py), so
# the running concatenation (448 channels in the published RDNs) stays in cache. Same numbers;
# the RDN C6-D20 trunk ran 1.42x faster on a 256x256 map and 1.56x on 400x400, RRDN's 1.14x on
# 256x256 (2 threads).


def channel_buffer(x: torch.Tensor, channels: int) -> torch.Tensor:
    """An empty map like ``x`` with ``channels`` channels, in ``x``'s memory format."""
    n, _, h, w = x.shape
    return torch.empty((n, channels, h, w), dtype=x.dtype, device=x.device, memory_format=layout_of(x))


class DenseBlock(nn.Module):
    """C conv+ReLU layers, each fed all earlier maps, then a local fusion conv (no residual).

    ISR's RDN fuses with a 1x1 conv (``LFF_{d}``), its RRDN with a 3x3 one (``LFF_{t}_{d}``).
    """

    def __init__(self, *, num_features: int, growth_channels: int, num_convs: int, fusion_kernel: int) -> None:
        super().__init__()
        nf, gc = num_features, growth_channels
        self.convs = nn.ModuleList(nn.Conv2d(nf + c * gc, gc, 3, 1, 1) for c in range(num_convs))
        self.lff = nn.Conv2d(nf + num_convs * gc, nf, fusion_kernel, 1, fusion_kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        radius = len(self.convs) + self.lff.kernel_size[0] // 2
        return in_cache_sized_tiles(self._forward, x, radius)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        # One buffer for ISR's running concatenation [x, F_1, F_2, ...] instead of a copy per conv.
        dense = channel_buffer(x, self.lff.in_channels)
        dense[:, : x.shape[1]] = x
        filled = x.shape[1]
        for conv in self.convs:
            dense[:, filled : filled + conv.out_channels] = F.relu(conv(dense[:, :filled]))
            filled += conv.out_channels
        return self.lff(dense)
