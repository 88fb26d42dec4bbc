"""Winograd F(6x6, 3x3) convolutions and the dense block built on them (CPU, fp32)."""

from __future__ import annotations

import copy

import pytest
import torch
from support import seeded_input, seeded_weights
from torch.nn import functional as F

from uprez.core.archs import _rrdb_winograd, _staged, _winograd, rrdbnet
from uprez.core.archs._as_written import as_written
from uprez.core.archs.rrdbnet import ResidualDenseBlock


@pytest.mark.parametrize(("nodes", "output_tile"), [((0, 1, -1, 2, -2), 4), (_winograd.NODES, _winograd.OUTPUT_TILE)])
def test_cook_toom_matrices_compute_a_correlation(nodes: tuple, output_tile: int) -> None:
    at, g, bt = _winograd.cook_toom(nodes, output_tile, 3)
    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        d = torch.randn(output_tile + 2, dtype=torch.float64, generator=generator)
        taps = torch.randn(3, dtype=torch.float64, generator=generator)
        expected = torch.stack([(d[i : i + 3] * taps).sum() for i in range(output_tile)])
        torch.testing.assert_close(at @ ((g @ taps) * (bt @ d)), expected, rtol=0, atol=1e-12)


def test_cook_toom_says_how_many_nodes_it_needs() -> None:
    with pytest.raises(ValueError, match=r"F\(6, 3\) needs 7 nodes, got 5"):
        _winograd.cook_toom((0, 1, -1, 2, -2), 6, 3)


def _winograd_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One padding-1 conv of [C, H, W] through the module's three transforms."""
    channels, height, width = x.shape
    tiling = _winograd.Tiling(height, width)
    padded = torch.zeros(channels, *tiling.padded)
    padded[:, 1 : height + 1, 1 : width + 1] = x
    points = torch.empty(channels, _winograd.POINTS, tiling.tiles)
    _winograd.input_transform(padded, tiling, points)
    products = torch.bmm(_winograd.filter_transform(weight), points.transpose(0, 1))
    products[_winograd.BIAS_POINT] += bias.unsqueeze(1)
    tiles = torch.empty(_winograd.OUTPUT_TILE**2 * products.shape[1] * tiling.tiles)
    return _winograd.to_map(_winograd.output_tiles(products, tiling, tiles), tiling)


@pytest.mark.parametrize("size", [(1, 1), (6, 6), (7, 13), (31, 20)])
def test_transforms_equal_a_direct_convolution(size: tuple[int, int]) -> None:
    generator = torch.Generator().manual_seed(sum(size))
    x = torch.rand(5, *size, generator=generator)
    weight = torch.randn(4, 5, 3, 3, generator=generator) / 4
    bias = torch.randn(4, generator=generator)
    expected = F.conv2d(x.double().unsqueeze(0), weight.double(), bias.double(), padding=1)[0]
    ours = _winograd_conv(x, weight, bias)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours.double(), expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize("size", [(1, 1), (6, 6), (7, 13), (31, 20), (12, 25)])
def test_planes_give_the_points_of_the_map(size: tuple[int, int]) -> None:
    generator = torch.Generator().manual_seed(sum(size) + 1)
    height, width = size
    x = torch.rand(3, height, width, generator=generator)
    tiling = _winograd.Tiling(height, width)
    padded = torch.zeros(3, *tiling.padded)
    padded[:, 1 : height + 1, 1 : width + 1] = x
    expected = torch.empty(3, _winograd.POINTS, tiling.tiles)
    _winograd.input_transform(padded, tiling, expected)

    step, rows, cols = _winograd.OUTPUT_TILE, tiling.rows, tiling.cols
    covered = torch.full((3, rows * step, cols * step), 7.0)  # past the edge: not zero until zeroed
    covered[:, :height, :width] = x
    planes = covered.view(3, rows, step, cols, step).permute(0, 2, 4, 1, 3).contiguous()
    _winograd.zero_past_edge(planes, tiling)
    patches = torch.zeros(3, _winograd.INPUT_TILE, _winograd.INPUT_TILE, rows, cols)
    ours = torch.empty_like(expected)
    _winograd.planes_input_transform(planes, patches, ours)
    assert torch.equal(ours, expected)


def _block(num_features: int, growth_channels: int, seed: int) -> ResidualDenseBlock:
    block = ResidualDenseBlock(num_features=num_features, growth_channels=growth_channels)
    return seeded_weights(block, seed).eval()


@pytest.mark.parametrize(("features", "growth", "size"), [(8, 4, (13, 29)), (64, 32, (40, 37))])
def test_the_winograd_dense_block_equals_the_direct_one(features: int, growth: int, size: tuple[int, int]) -> None:
    block = _block(features, growth, 11)
    pair = torch.cat([seeded_input(features, 16, 7), seeded_input(features, 16, 8)])
    x = torch.nn.functional.interpolate(pair, size=size, mode="bilinear")
    weights, biases = block.tensors()
    with torch.inference_mode():
        assert _rrdb_winograd.applies(x)
        ours = block(x.contiguous(memory_format=torch.channels_last))
        direct = rrdbnet.dense_block(x.double(), [w.double() for w in weights], [b.double() for b in biases])
    assert _rrdb_winograd.applies(x) is False  # outside inference mode: autograd needs the direct path
    assert ours.shape == x.shape and ours.is_contiguous()
    torch.testing.assert_close(ours.double(), direct, rtol=0, atol=1e-5 * direct.abs().max().item())


def test_switched_off_the_block_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    block = _block(8, 4, 2)
    x = seeded_input(8, 20, 5)
    monkeypatch.setattr(_rrdb_winograd, "ENABLED", False)
    with torch.inference_mode():
        assert not _rrdb_winograd.applies(x)
        ours = block(x)
        written = rrdbnet.dense_block(x, *block.tensors())
    assert torch.equal(ours, written)


def test_buffers_reused_across_map_sizes_give_the_same_numbers() -> None:
    # A larger map, then a smaller one (stale values beyond its edge), then the larger again;
    # then maps of as many tiles but other overhangs past the edge.
    block = _block(8, 4, 4)
    sizes = [(50, 47), (19, 23), (50, 47), (48, 48), (45, 44), (48, 48)]
    inputs = [torch.nn.functional.interpolate(seeded_input(8, 16, 9), size=size, mode="bilinear") for size in sizes]
    with torch.inference_mode():
        reused = [block(x) for x in inputs]
        fresh = [copy.deepcopy(block)(x) for x in inputs]
    for ours, expected in zip(reused, fresh, strict=True):
        assert torch.equal(ours, expected)


def test_weights_changed_in_place_are_used() -> None:
    block = _block(8, 4, 6)
    other = _block(8, 4, 8)
    x = seeded_input(8, 20, 3)
    with torch.inference_mode():
        before = block(x)
        block.load_state_dict(other.state_dict())  # copies into the same tensors
        after = block(x)
        expected = other(x)
    assert not torch.allclose(before, after)
    assert torch.equal(after, expected)


def test_a_network_copy_has_its_own_buffers() -> None:
    net = seeded_weights(rrdbnet.RRDBNet(num_features=8, num_blocks=2, growth_channels=4), 1).eval()
    twin = copy.deepcopy(net)
    workspaces = {id(m.workspace) for m in twin.modules() if isinstance(m, ResidualDenseBlock)}
    assert len(workspaces) == 1 and workspaces.isdisjoint({id(net.body[0].rdb1.workspace)})
    x = seeded_input(3, 20, 4)
    with torch.inference_mode():
        assert torch.equal(net(x), twin(x))


def test_tiles_written_straight_into_the_map_equal_the_whole_map() -> None:
    block = _block(8, 4, 12)
    pair = torch.cat([seeded_input(8, 16, 1), seeded_input(8, 16, 2)])
    x = torch.nn.functional.interpolate(pair, size=(45, 38), mode="bilinear")
    with torch.inference_mode():
        prepared = block.prepared(x)
        assert prepared.writes_into
        tiled = _staged.apply_in_tiles(prepared, x, 16, rrdbnet.DENSE_BLOCK_RADIUS)
        whole = block(x)
    assert tiled.shape == whole.shape
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5 * whole.abs().max().item())


def test_direct_convolutions_hold_only_inside_as_written() -> None:
    x = seeded_input(8, 20, 5)
    with torch.inference_mode():
        with as_written():
            assert not _rrdb_winograd.applies(x)
        assert _rrdb_winograd.applies(x)
