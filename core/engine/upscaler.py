"""The one engine every face uses: whole images in host memory, tiles on the device."""

from __future__ import annotations

import contextlib
import copy
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..archs import SRNet, _native
from ..errors import Cancelled, OutOfMemoryError, UprezError
from ..model import LoadedModel
from ..models.cache import kernels_dir
from ..quantize import quantize_
from . import compiler, heap
from . import device as devices
from .cuda_graphs import GraphedNetwork
from .cuda_graphs import available as graphs_available
from .precision import name_of, pick_dtype
from .tiling import Tile, grid, side_for_budget

# realesrgan-ncnn-vulkan mirrors this many pixels around the image before the network runs
# (its "prepadding"); it changes RRDBNet's output deep inside the image, so it is explicit.
DEFAULT_PREPAD = 10
# Allocator slack, conv workspaces and the tile's own copies on top of the layer estimate
# (the estimates match measured peaks: x4plus head 2304 B/px estimated, 2250-2300 measured).
MEMORY_SAFETY = 1.25
# Smallest tile side, in core pixels, before an out-of-memory error becomes final.
MIN_TILE = 16
# Share of the budget the high-resolution tail's sub-tiles may use, and their cap.
TAIL_SHARE, TAIL_CAP = 0.25, 512 * 1024**2
# On the CPU the tail is memory-bound: x4plus's tail ran 2x faster on 32-px sub-tiles than on
# 256-px ones (they stay in cache), context included (measured on 2 cores, AVX-512).
CPU_TAIL_TILE = 32
# A half-precision tile whose output is all zero while its input is not has overflowed.
BLACK_INPUT_THRESHOLD = 1 / 255
# On CUDA each output image is assembled on the device and crosses to page-locked host memory in
# one copy (53 GB/s on an H200 against 1.5 GB/s into fresh pageable memory); PyTorch keeps freed
# page-locked blocks for the next image of that size. The canvas may take this share of the budget.
CANVAS_SHARE = 0.25
CANVAS_DTYPES = (torch.uint8, torch.float32)
# Page-locked memory cannot be swapped out, and pinning is slow for huge buffers (and can fail
# on a small machine): larger outputs stay pageable.
PINNED_OUTPUT_MAX = 1024**3

ProgressCallback = Callable[["Progress"], None]
CancelCheck = Callable[[], bool] | threading.Event


@dataclass(frozen=True)
class Progress:
    """Tiles finished so far, out of the current total (which grows when a tile is split)."""

    done: int
    total: int
    image_index: int = 0


@dataclass(frozen=True)
class Plan:
    """How an image will be cut, for display (tile and context in input pixels)."""

    tile: int
    tiles: int
    context: int
    device: str
    precision: str
    whole_image: bool


class Upscaler:
    """Runs a loaded model over images of any size.

    Args:
        model: the network and what is known about it.
        device: ``auto`` (CUDA > MPS > CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        precision: ``auto``, ``fp32``, ``fp16`` or ``bf16`` (see ``pick_dtype``).
        tile: largest tile side in input pixels, or None to size tiles from free memory.
        prepad: pixels mirrored around the image before the network sees it; None takes what
            the model's original tool did (``SRNet.original_prepad``).
        context: real pixels of context around each tile (input pixels); None picks the
            architecture's own, chosen so that seams stay below visibility.
        memory_budget: bytes the run may plan for; None asks the device.
        compile: fuse the network's hot blocks with torch.compile where that pays (CUDA with
            Triton; ``compiled`` says whether it happened). The first image of a process pays
            the compile (seconds); later ones run faster (see core/engine/compiler.py).
        cuda_graphs: on CUDA, replay small tiles' forwards from CUDA graphs, from the second
            tile of a shape on (see core/engine/cuda_graphs.py); not with ``compile``.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        device: str = "auto",
        precision: str = "auto",
        tile: int | None = None,
        prepad: int | None = None,
        context: int | None = None,
        memory_budget: int | None = None,
        compile: bool = False,  # noqa: A002 - torch's own word for it
        cuda_graphs: bool = True,
    ) -> None:
        if tile is not None and tile < 1:
            raise UprezError(f"tile size must be positive, not {tile}")
        if prepad is None:
            prepad = model.net.original_prepad
        if prepad < 0:
            raise UprezError(f"prepad must not be negative, not {prepad}")
        self.model = model
        self.device = devices.pick_device(device)
        _native.build_dir = kernels_dir()  # built once per machine, not per process
        self.dtype = pick_dtype(precision, self.device, model.arch)
        self.compiled = compile and compiler.available(self.device)
        self.net = self._prepared(self.dtype)
        # Inductor's code has its own launch path (and its own graphs, mode="reduce-overhead").
        graphed = cuda_graphs and graphs_available(self.device) and not self.compiled
        self._graphed = GraphedNetwork(self.net, _element_size(self.dtype), MEMORY_SAFETY) if graphed else None
        self._fp32_net: SRNet | None = self.net if self.dtype == torch.float32 else None
        self.unshuffle = self.net.unshuffle
        self.core_scale = self.net.scale * self.unshuffle
        self.prepad = math.ceil(prepad / self.unshuffle) * self.unshuffle
        self.context = self.net.tile_context() if context is None else math.ceil(context / self.unshuffle)
        self.fixed_tile = None if tile is None else max(1, tile // self.unshuffle)
        self.memory_budget = memory_budget
        self.fp32_fallbacks = 0  # tiles redone in fp32 after a half-precision overflow
        # Only where the process's owner let it (heap.keep_freed_memory); a no-op elsewhere.
        wanted = self.net.cpu_tile_reusing_large_blocks is not None
        self._large_blocks_reused = self.device.type == "cpu" and heap.reuse_large_blocks(wanted)

    @property
    def scale(self) -> int:
        return self.net.scale

    @property
    def graphs_held(self) -> int:
        """CUDA graphs held now (each keeps its tile's working memory on the device)."""
        return self._graphed.graphs if self._graphed is not None else 0

    def release_graphs(self) -> None:
        """Frees the device memory the CUDA graphs hold; later tiles capture anew."""
        if self._graphed is not None:
            self._graphed.release()

    def describe(self) -> str:
        """Device and precision in words, e.g. ``cuda (NVIDIA H200), fp16, compiled``."""
        return f"{devices.describe(self.device)}, {name_of(self.dtype)}" + (", compiled" if self.compiled else "")

    def plan(self, height: int, width: int, out_dtype: torch.dtype = torch.float32) -> Plan:
        area = self._valid_area(height, width)
        side, _ = self._sizes(area, height, width, out_dtype)
        tiles = len(grid(area, side))
        return Plan(
            tile=side * self.unshuffle,
            tiles=tiles,
            context=self.context * self.unshuffle,
            device=devices.describe(self.device),
            precision=name_of(self.dtype),
            whole_image=tiles == 1,
        )

    @torch.inference_mode()
    def upscale(
        self,
        image: torch.Tensor,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        out_dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Upscales ``(C, H, W)`` or ``(N, C, H, W)`` float in [0, 1], RGB or one channel.

        Returns the same layout at ``scale`` times the size, on the CPU: float32 clamped to
        [0, 1], or uint8/uint16 rounded half up when ``out_dtype`` asks for it (so a huge
        output never needs a float copy).

        Raises:
            Cancelled: ``cancel`` was set; checked between tiles.
            OutOfMemoryError: even a minimal tile did not fit.
        """
        nets = {id(net): net for net in (self.net, self._fp32_net) if net is not None}
        for net in nets.values():
            net._uprez_cancel = cancel
        try:
            with _exact_fp32_convs(self.device):
                return self._upscale(image, progress, cancel, out_dtype)
        finally:
            for net in nets.values():
                net._uprez_cancel = None

    def _upscale(
        self,
        image: torch.Tensor,
        progress: ProgressCallback | None,
        cancel: CancelCheck | None,
        out_dtype: torch.dtype,
    ) -> torch.Tensor:
        batch = image if image.ndim == 4 else image.unsqueeze(0)
        n, channels, height, width = batch.shape
        if channels != self.net.in_channels:
            raise UprezError(f"the model takes {self.net.in_channels} channels, the image has {channels}")
        if height < 1 or width < 1:
            raise UprezError("the image is empty")
        cuda = self.device.type == "cuda"
        shape = (n, self.net.out_channels, height * self.scale, width * self.scale)
        out = _host_output(shape, out_dtype, pinned=cuda)
        area = self._valid_area(height, width)
        side, canvas_bytes = self._sizes(area, height, width, out_dtype)
        tiles = grid(area, side)  # sized once: free memory moves while we run
        counter = _Counter(progress, n * len(tiles))
        for index in range(n):
            counter.image_index = index
            picture = batch[index : index + 1]
            # On CUDA the image is mirrored and cut into tiles there: no host-side copies.
            core = self._to_core((picture.to(self.device) if cuda else picture).float())
            target = out[index : index + 1]
            canvas = torch.empty_like(target, device=self.device) if canvas_bytes else target
            self._run_image(core, list(tiles), area, canvas, counter, cancel)
            if canvas is not target:
                target.copy_(canvas)
        return out if image.ndim == 4 else out[0]

    # --- geometry -------------------------------------------------------------------------

    def _valid_area(self, height: int, width: int) -> Tile:
        """The image's own pixels, in core coordinates of the padded, folded image."""
        pad = self.prepad // self.unshuffle
        return Tile(pad, pad + math.ceil(height / self.unshuffle), pad, pad + math.ceil(width / self.unshuffle))

    def _to_core(self, image: torch.Tensor) -> torch.Tensor:
        """Mirror-pads (and pads to a multiple of the fold), then folds with pixel_unshuffle."""
        _, _, height, width = image.shape
        u, pad = self.unshuffle, self.prepad
        extra_h, extra_w = -height % u, -width % u
        mode = "reflect" if pad + max(extra_h, extra_w) < min(height, width) else "replicate"
        if pad or extra_h or extra_w:
            image = F.pad(image, (pad, pad + extra_w, pad, pad + extra_h), mode=mode)
        return F.pixel_unshuffle(image, u) if u > 1 else image

    def _sizes(self, area: Tile, height: int, width: int, out_dtype: torch.dtype) -> tuple[int, int]:
        """The tile side, and the bytes of the device canvas, from one reading of free memory."""
        budget = self._budget()
        canvas_bytes = self._canvas_bytes(height, width, out_dtype, budget)
        return self._tile_side(area, budget - canvas_bytes), canvas_bytes

    def _canvas_bytes(self, height: int, width: int, out_dtype: torch.dtype, budget: int) -> int:
        """Device memory for assembling one output image there, or 0 where tiles go straight to
        the host (not CUDA, 16-bit output, or an output too large for the budget)."""
        if self.device.type != "cuda" or out_dtype not in CANVAS_DTYPES:
            return 0
        size = self.net.out_channels * height * width * self.scale**2 * _element_size(out_dtype)
        return size if size <= budget * CANVAS_SHARE else 0

    def _tile_side(self, area: Tile, budget: int) -> int:
        """The largest tile side whose working memory fits ``budget`` bytes (the tail's share taken out)."""
        if self.fixed_tile is not None:
            return self.fixed_tile
        longest = max(area.height, area.width)
        if self.device.type == "cpu":
            net = self.net
            preferred = net.cpu_tile_reusing_large_blocks if self._large_blocks_reused else net.preferred_cpu_tile
            longest = min(longest, preferred or longest)
        head_bpp = self.net.bytes_per_pixel(_element_size(self.dtype))[0] * MEMORY_SAFETY
        if self.net.tail_context is not None:
            budget -= self._tail_budget(budget)
        pad = self.prepad // self.unshuffle
        if (min(area.height, longest) + 2 * pad) * (min(area.width, longest) + 2 * pad) * head_bpp <= budget:
            return longest  # the image (or the preferred tile) fits as it is: no context to pay for
        return max(MIN_TILE, min(side_for_budget(budget, head_bpp, self.context), longest))

    def _budget(self) -> int:
        if self.memory_budget is not None:
            return self.memory_budget
        return devices.memory_budget(self.device)

    @staticmethod
    def _tail_budget(budget: int) -> int:
        return int(min(budget * TAIL_SHARE, TAIL_CAP))

    def _tail_side(self) -> int:
        _, tail_bpp = self.net.bytes_per_pixel(_element_size(self.dtype))
        budget = self._tail_budget(self._budget())
        side = side_for_budget(budget, tail_bpp * MEMORY_SAFETY, self.net.tail_context or 0)
        if self.device.type == "cpu":
            side = min(side, CPU_TAIL_TILE)
        return max(MIN_TILE, side)

    # --- running --------------------------------------------------------------------------

    def _run_image(
        self,
        core: torch.Tensor,
        queue: list[Tile],
        area: Tile,
        out: torch.Tensor,
        counter: _Counter,
        cancel: CancelCheck | None,
    ) -> None:
        bounds = Tile(0, core.shape[-2], 0, core.shape[-1])
        tail_side = self._tail_side() if self.net.tail_context is not None else 0
        while queue:
            _check(cancel)
            tile = queue.pop(0)
            try:
                self._run_tile(core, tile, area, bounds, out, tail_side, cancel)
            except Exception as error:
                if not devices.is_out_of_memory(error):
                    raise
                self.release_graphs()
                devices.release_cached_memory(self.device)
                if max(tile.height, tile.width) <= MIN_TILE:
                    raise OutOfMemoryError(
                        f"out of memory on {self.device} even with {MIN_TILE * self.unshuffle}-pixel tiles",
                        hint="close other programs, or use --device cpu",
                    ) from error
                parts = tile.quarters()
                queue[:0] = parts
                tail_side = max(MIN_TILE, tail_side // 2)
                counter.grow(len(parts) - 1)
                continue
            counter.step()

    def _run_tile(
        self,
        core: torch.Tensor,
        tile: Tile,
        area: Tile,
        bounds: Tile,
        out: torch.Tensor,
        tail_side: int,
        cancel: CancelCheck | None,
    ) -> None:
        window = tile.grown(self.context, bounds)
        x = core[..., window.y0 : window.y1, window.x0 : window.x1]
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        # bf16 cannot hold every 8-bit level: its networks take the tile in fp32 (see _prepare).
        tile_input = x if self.dtype == torch.bfloat16 else x.to(self.dtype)
        pieces = self._forward(self.net, tile_input, tile, window, tail_side, cancel)
        # fp16 can overflow where fp32 does not; bf16 has fp32's range.
        if self.dtype == torch.float16 and not all(_plausible(y, x) for _, y in pieces):
            self.fp32_fallbacks += 1
            pieces = self._forward(self._fp32(), x, tile, window, tail_side, cancel)
        for box, y in pieces:
            _store(out, y, box, area, self.core_scale, self.net.output_rounding)

    def _forward(
        self, net: SRNet, x: torch.Tensor, tile: Tile, window: Tile, tail_side: int, cancel: CancelCheck | None
    ) -> list[tuple[Tile, torch.Tensor]]:
        """Outputs for the boxes that make up ``tile``, cropped to them, still on the device."""
        s = self.core_scale
        # The graphs' outputs are theirs: each is used up before the next call of its shape.
        calls = self._graphed if self._graphed is not None and self._graphed.net is net else net
        if net.tail_context is None:
            y = calls.forward_core(x)
            return [(tile, _crop(y, _shift(tile, window), s))]
        features = calls.forward_head(x)
        local = _shift(tile, window)
        feature_bounds = Tile(0, features.shape[-2], 0, features.shape[-1])
        pieces = []
        for box in grid(local, tail_side):
            _check(cancel)
            sub_window = box.grown(net.tail_context, feature_bounds)
            f = features[..., sub_window.y0 : sub_window.y1, sub_window.x0 : sub_window.x1]
            y = net.forward_tail(f.contiguous(memory_format=torch.channels_last))
            global_box = Tile(box.y0 + window.y0, box.y1 + window.y0, box.x0 + window.x0, box.x1 + window.x0)
            pieces.append((global_box, _crop(y, _shift(box, sub_window), s)))
        return pieces

    def _fp32(self) -> SRNet:
        if self._fp32_net is None:
            self._fp32_net = self._prepared(torch.float32)
            self._fp32_net._uprez_cancel = self.net._uprez_cancel
        return self._fp32_net

    def _prepared(self, dtype: torch.dtype) -> SRNet:
        net = _watched(_prepare(self.model.net, self.device, dtype))
        if self.compiled:
            net.fuse(compiler.compiled)
        return net


class _Counter:
    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback, self.total, self.done, self.image_index = callback, total, 0, 0

    def step(self) -> None:
        self.done += 1
        if self.callback:
            self.callback(Progress(self.done, self.total, self.image_index))

    def grow(self, extra: int) -> None:
        self.total += extra


def _prepare(net: SRNet, device: torch.device, dtype: torch.dtype) -> SRNet:
    if device.type != "cpu" or dtype != torch.float32:
        net = copy.deepcopy(net)
    net = net.to(device=device, dtype=dtype, memory_format=torch.channels_last).eval()
    if dtype == torch.bfloat16:
        # The network's fp32_layers stay fp32, so dtypes meet inside it: each conv takes its
        # input in its own weights' dtype (the fp32 tile too).
        for name in net.fp32_layers():
            net.get_submodule(name).float()
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.register_forward_pre_hook(_in_weight_dtype)
    return net


def _in_weight_dtype(conv: torch.nn.Conv2d, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return (args[0].to(conv.weight.dtype), *args[1:])


def _host_output(shape: tuple[int, ...], dtype: torch.dtype, *, pinned: bool) -> torch.Tensor:
    if pinned and math.prod(shape) * dtype.itemsize <= PINNED_OUTPUT_MAX:
        try:
            return torch.empty(shape, dtype=dtype, pin_memory=True)
        except RuntimeError:
            pass  # the driver would not pin it: pageable memory works, only slower
    return torch.empty(shape, dtype=dtype)


@contextlib.contextmanager
def _exact_fp32_convs(device: torch.device) -> Iterator[None]:
    """cuDNN runs fp32 convolutions in TF32 by default (products of 10-bit mantissas, fp16's):
    uprez's fp32, and the fp32 layers of a bf16 run, mean fp32. For the call only."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def _watched(net: SRNet) -> SRNet:
    """Checks the running call's cancel flag before every block of a sequence (RRDBNet's 23
    RRDBs, ...), so that cancelling does not wait for a whole tile: one x4plus CPU tile can take
    minutes. The flag lives on the network, which a CPU fp32 Upscaler shares with its model."""
    if not hasattr(net, "_uprez_cancel"):
        net._uprez_cancel = None
        for module in net.modules():
            if isinstance(module, (torch.nn.Sequential, torch.nn.ModuleList)):
                for block in module:
                    # In __dict__, not as a submodule; deepcopy then points copies at their own root.
                    block.__dict__["_uprez_root"] = net
                    block.register_forward_pre_hook(_cancel_hook)
    return net


def _cancel_hook(block: torch.nn.Module, args: object) -> None:
    _check(block.__dict__["_uprez_root"]._uprez_cancel)


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _check(cancel: CancelCheck | None) -> None:
    if cancel is None:
        return
    cancelled = cancel.is_set() if isinstance(cancel, threading.Event) else cancel()
    if cancelled:
        raise Cancelled()


def _shift(box: Tile, origin: Tile) -> Tile:
    return Tile(box.y0 - origin.y0, box.y1 - origin.y0, box.x0 - origin.x0, box.x1 - origin.x0)


def _crop(y: torch.Tensor, box: Tile, scale: int) -> torch.Tensor:
    return y[..., box.y0 * scale : box.y1 * scale, box.x0 * scale : box.x1 * scale]


def _plausible(y: torch.Tensor, x: torch.Tensor) -> bool:
    if not bool(torch.isfinite(y).all()):
        return False
    return not (float(y.amax()) <= 0.0 and float(x.amax()) > BLACK_INPUT_THRESHOLD)


def _store(out: torch.Tensor, y: torch.Tensor, box: Tile, area: Tile, scale: int, rounding: str) -> None:
    """Writes a cropped output into ``out`` (image coordinates), cut to the image's size.

    Clamping, rounding and the cast happen on the device, in ``out``'s layout, so that only
    the final samples cross to the host (a quarter of the bytes for 8-bit output).
    """
    top, left = (box.y0 - area.y0) * scale, (box.x0 - area.x0) * scale
    height = min(y.shape[-2], out.shape[-2] - top)
    width = min(y.shape[-1], out.shape[-1] - left)
    y = y[..., :height, :width].float().clamp_(0.0, 1.0)
    if out.dtype in (torch.uint8, torch.uint16):
        y = quantize_(y, 255.0 if out.dtype == torch.uint8 else 65535.0, rounding)
        # uint16 has few kernels on CUDA: round through int32, cast on the host.
        y = y.to(torch.uint8 if out.dtype == torch.uint8 else torch.int32)
    if y.dtype != out.dtype:
        y = y.to("cpu").to(out.dtype)
    # Straight into out (the caller's tensor, or the device canvas): the layout change happens
    # where y is, and no temporary is filled and copied again.
    out[..., top : top + height, left : left + width].copy_(y)
