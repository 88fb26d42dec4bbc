"""A network's forward replayed from CUDA graphs, for tile shapes it has run before.

Eager PyTorch issues one launch per layer from Python (x4plus: about 700 per tile), and on a
small tile the host takes longer to issue them than the GPU to run them: on an H100, x4plus's
forward on a 256x256 photo took 36 ms of host time to issue and 13 ms replayed from a graph
(benchmarks/gpu_levers.py --sections graphs). A captured graph replays the whole forward in
one launch.

A graph keeps its own memory (the forward's intermediates) for as long as it lives, so graphs
are only made where the tile's working memory is small (``GRAPH_MAX_BYTES``), a few per
function, and the first call of a shape runs eager: it loads uprez's kernels and cuBLAS/cuDNN
state outside the capture, and a one-off image pays nothing for a graph it would not replay.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import first_line
from .device import is_out_of_memory

# Working memory (the network's estimate for the tile) above which a tile runs eager: launches
# matter on small tiles only, and a graph holds its memory between calls.
GRAPH_MAX_BYTES = 256 * 1024**2
# Graphs kept per function (least recently replayed dropped first): an image's inner tiles
# share one shape, its edge tiles another.
GRAPHS_KEPT = 2
# Shapes remembered as seen once (a folder of many sizes must not grow this without bound).
SHAPES_REMEMBERED = 64

Key = tuple[tuple[int, ...], tuple[int, ...], torch.dtype, torch.device]


def available(device: torch.device) -> bool:
    """CUDA graphs on NVIDIA CUDA (ROCm's HIP graphs are untested here)."""
    return device.type == "cuda" and torch.version.hip is None


@dataclass
class _Replay:
    graph: torch.cuda.CUDAGraph
    input: torch.Tensor
    output: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.input.copy_(x)
        self.graph.replay()
        return self.output


class GraphedForward:
    """``function(x)``, replayed from a graph from the second call of a shape on.

    The result of a replay is the graph's own output tensor: the next call of the same shape
    overwrites it, so callers use it (or copy it) first, as the engine's tiles do.
    """

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor], bytes_per_pixel: float) -> None:
        self.function = function
        self.bytes_per_pixel = bytes_per_pixel
        self.failed = False  # a capture failed for a reason other than memory: eager from then on
        self._seen: OrderedDict[Key, None] = OrderedDict()
        self._graphs: OrderedDict[Key, _Replay] = OrderedDict()

    @property
    def graphs(self) -> int:
        return len(self._graphs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.failed or x.shape[-2] * x.shape[-1] * self.bytes_per_pixel > GRAPH_MAX_BYTES:
            return self.function(x)
        key = (tuple(x.shape), x.stride(), x.dtype, x.device)
        replay = self._graphs.get(key)
        if replay is None:
            if key not in self._seen:
                self._remember(key)
                return self.function(x)
            replay = self._capture(x)
            if replay is None:
                return self.function(x)
            self._graphs[key] = replay
            while len(self._graphs) > GRAPHS_KEPT:
                self._graphs.popitem(last=False)
        self._graphs.move_to_end(key)
        return replay(x)

    def release(self) -> None:
        """Drops every graph, and the device memory it held."""
        self._graphs.clear()
        self._seen.clear()

    def _remember(self, key: Key) -> None:
        self._seen[key] = None
        while len(self._seen) > SHAPES_REMEMBERED:
            self._seen.popitem(last=False)

    def _capture(self, x: torch.Tensor) -> _Replay | None:
        static_input = x.clone(memory_format=torch.preserve_format)
        graph = torch.cuda.CUDAGraph()
        # torch.cuda.graph switches to a side stream, and does not switch back when ending the
        # capture fails.
        stream = torch.cuda.current_stream(x.device)
        try:
            # thread_local: other threads (a background writer freeing pinned memory) may call
            # CUDA meanwhile; only this one is held to what a capture allows.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                output = self.function(static_input)
        except RuntimeError as error:  # CUDA's errors; a cancel raised inside goes on up
            torch.cuda.set_stream(stream)
            if not is_out_of_memory(error):
                self.failed = True
                print(f"uprez: CUDA graph capture failed, running eager ({first_line(error)})", file=sys.stderr)
            self.release()
            return None
        except BaseException:
            torch.cuda.set_stream(stream)
            self.release()
            raise
        return _Replay(graph, static_input, output)


class GraphedNetwork:
    """A network's tile-sized calls (forward_core, forward_head) through graphs. Its
    forward_tail stays eager: it runs on many sub-tiles whose outputs the engine keeps until
    the tile is done (a graph's output would be overwritten), and it is a handful of launches."""

    def __init__(self, net: torch.nn.Module, element_size: int, safety: float) -> None:
        self.net = net
        head, _ = net.bytes_per_pixel(element_size)
        self.forward_core = GraphedForward(net.forward_core, head * safety)
        self.forward_head = GraphedForward(net.forward_head, head * safety)

    @property
    def graphs(self) -> int:
        return self.forward_core.graphs + self.forward_head.graphs

    def release(self) -> None:
        self.forward_core.release()
        self.forward_head.release()
