"""Blocks run tile by tile on large CPU maps give the whole-map numbers."""

from __future__ import annotations

import pytest
import torch
from support import seeded_input, seeded_weights
from torch import nn

from uprez.core.archs import _staged, get


def test_tiles_with_the_receptive_radius_equal_the_whole_map() -> None:
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(4, 6, 3, 1, 1), nn.ReLU(), nn.Conv2d(6, 5, 5, 1, 2)).eval()
    x = torch.randn(1, 4, 37, 29)
    with torch.inference_mode():
        whole = block(x)
        for tile in (8, 13, 40):
            tiled = _staged.apply_in_tiles(block, x, tile, radius=3)
            torch.testing.assert_close(tiled, whole, atol=1e-6, rtol=0)
        too_little = _staged.apply_in_tiles(block, x, 8, radius=2)
    assert (too_little - whole).abs().max() > 1e-3  # the radius matters: the test has teeth


@pytest.mark.parametrize("size", [(200, 130), (260, 300)])
def test_rrdbnet_trunk_on_cpu_tiles_equals_the_whole_map(size: tuple[int, int], monkeypatch) -> None:
    net = seeded_weights(get("rrdbnet").module(num_features=8, num_blocks=2, growth_channels=4), 5)
    x = seeded_input(3, 1, 1)
    x = torch.nn.functional.interpolate(x, size=size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        staged = net.forward_head(x)
        monkeypatch.setattr(_staged, "CPU_TILES_ABOVE", 10**6)
        whole = net.forward_head(x)
    torch.testing.assert_close(staged, whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("arch_id", "config"),
    [
        ("rdn", dict(num_features=8, growth_channels=4, num_convs=3, num_blocks=2, upscale=2)),
        ("rrdn", dict(num_features=8, growth_channels=4, num_convs=2, num_dense=2, num_blocks=2, upscale=4)),
    ],
)
def test_isr_trunks_on_cpu_tiles_equal_the_whole_map(arch_id: str, config: dict, monkeypatch) -> None:
    net = seeded_weights(get(arch_id).module(**config), 6)
    x = torch.nn.functional.interpolate(seeded_input(3, 1, 2), size=(210, 140))
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        staged = net.forward_head(x)
        monkeypatch.setattr(_staged, "CPU_TILES_ABOVE", 10**6)
        whole = net.forward_head(x)
    torch.testing.assert_close(staged, whole, atol=1e-5, rtol=0)
