"""WDSR-A and WDSR-B (Yu et al. 2018) as krasserm's Keras port builds them (model/wdsr.py).

Every conv in the Keras model is wrapped in TF Addons weight normalisation; the h5 reader folds
``g * v / ||v||`` into the kernel, so this module holds plain convs. The graph
(``shared/reference/seed-architectures.md`` section 2.4): normalise ``(x - mean) / 127.5``,
a 3x3 head, residual blocks, a 3x3 main tail to ``3 * r^2`` channels, a 5x5 skip conv from the
normalised input to ``3 * r^2``, both through depth-to-space, summed, then denormalised.

Canonical names follow the WDSR authors' PyTorch code (JiahuiYu/wdsr_ntire2018), without its
weight-norm split: ``head.0``, ``body.{i}.body.{0,2}`` (A) or ``{0,2,3}`` (B), ``tail.0``,
``skip.0``. Keras files name their layers ``weight_normalization``, ``weight_normalization_1``...
(the inner conv names do not reach the h5), so they are read by position and shape.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._base import Architecture, Example, SRNet, StateDict, indices, load_strict
from ._keras import DIV2K_RGB_MEAN, depth_to_space_order, keras_layers, pixel_shuffle_to_depth_to_space

BLOCKS = ("a", "b")
SCALES = (2, 3, 4)
LINEAR = 0.8  # krasserm res_block_b: the 1x1 bottleneck has int(0.8 * F) channels
MAX_TILE_CONTEXT = 48
SKIP_RADIUS = 2  # the 5x5 skip conv
# Conv indices inside a block's Sequential (the ReLU takes index 1).
BLOCK_CONVS = {"a": (0, 2), "b": (0, 2, 3)}
KERAS_PREFIX = "weight_normalization"


class Block(nn.Module):
    def __init__(self, kind: str, num_features: int, expanded: int, linear: int, res_scale: float) -> None:
        super().__init__()
        nf = num_features
        if kind == "a":  # 3x3 F -> e*F, ReLU, 3x3 -> F
            layers = [nn.Conv2d(nf, expanded, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(expanded, nf, 3, 1, 1)]
        else:  # 1x1 F -> e*F, ReLU, 1x1 -> 0.8*F, 3x3 -> F
            layers = [nn.Conv2d(nf, expanded, 1), nn.ReLU(inplace=True), nn.Conv2d(expanded, linear, 1)]
            layers.append(nn.Conv2d(linear, nf, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x)
        if self.res_scale != 1:
            res = res.mul_(self.res_scale)
        return res.add_(x)


class WDSR(SRNet):
    """WDSR-A (``block="a"``) or WDSR-B (``block="b"``); input and output RGB in [0, 1]."""

    output_rounding = "half_even"  # krasserm resolve: clip 0..255, tf.round
    original_prepad = 0  # krasserm ran the whole image, zero padding at the border

    def __init__(
        self,
        *,
        num_features: int = 32,
        num_blocks: int = 8,
        upscale: int = 4,
        block: str = "b",
        expansion: int = 6,
        linear_features: int | None = None,
        res_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if block not in BLOCKS or upscale not in SCALES:
            raise ValueError(f"WDSR: block must be one of {BLOCKS} and upscale one of {SCALES}")
        nf = num_features
        linear = int(nf * LINEAR) if linear_features is None else linear_features
        self.scale = upscale
        self.hyperparameters = dict(
            num_features=nf,
            num_blocks=num_blocks,
            upscale=upscale,
            block=block,
            expansion=expansion,
            linear_features=linear if block == "b" else None,
            res_scale=res_scale,
        )
        out = 3 * upscale**2
        self.head = nn.Sequential(nn.Conv2d(3, nf, 3, 1, 1))
        self.body = nn.Sequential(*(Block(block, nf, nf * expansion, linear, res_scale) for _ in range(num_blocks)))
        self.tail = nn.Sequential(nn.Conv2d(nf, out, 3, 1, 1))
        self.skip = nn.Sequential(nn.Conv2d(3, out, 5, 1, 2))
        self.register_buffer("mean", torch.tensor(DIV2K_RGB_MEAN).reshape(1, 3, 1, 1), persistent=False)

    def forward_core(self, x: torch.Tensor) -> torch.Tensor:
        # krasserm: (255 x - 255 mean) / 127.5 in, y * 127.5 + 255 mean out; the same in 0..1.
        normalized = (x - self.mean).mul_(2.0)
        main = self.tail(self.body(self.head(normalized)))
        # depth_to_space is a permutation, so adding before one shuffle equals TF's add after two.
        y = F.pixel_shuffle(main.add_(self.skip(normalized)), self.scale)
        return y.mul_(0.5).add_(self.mean)

    def tile_context(self) -> int:
        per_block = 2 if self.hyperparameters["block"] == "a" else 1  # 3x3 convs per block
        radius = 2 + per_block * self.hyperparameters["num_blocks"]
        return min(max(radius, SKIP_RADIUS), MAX_TILE_CONTEXT)

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        hp = self.hyperparameters
        nf = hp["num_features"]
        # A block's input, its expanded and bottleneck maps and its output; the input, the skip's
        # and tail's outputs, and the shuffled image.
        inner = 2 * nf + nf * hp["expansion"] + (hp["linear_features"] or 0)
        return (inner + 3 + 3 * 3 * self.scale**2) * element_size, 0


# --- detection and loading ------------------------------------------------------------------


def _modules(kind: str, num_blocks: int) -> list[str]:
    """Canonical conv modules in krasserm's file order: head, blocks, main tail, skip."""
    body = [f"body.{i}.body.{j}" for i in range(num_blocks) for j in BLOCK_CONVS[kind]]
    return ["head.0", *body, "tail.0", "skip.0"]


def _canonical_layout(state_dict: StateDict) -> tuple[str, int] | None:
    """(block kind, num_blocks) when ``state_dict`` holds exactly one WDSR's canonical keys."""
    if "skip.0.weight" not in state_dict or "head.0.weight" not in state_dict:
        return None
    kind = "b" if "body.0.body.3.weight" in state_dict else "a"
    num_blocks = len(indices(state_dict, r"body\.(\d+)\.body\.0\.weight"))
    expected = {f"{m}.{leaf}" for m in _modules(kind, num_blocks) for leaf in ("weight", "bias")}
    return (kind, num_blocks) if set(state_dict) == expected else None


def _keras_layout(state_dict: StateDict) -> tuple[str, list[str]] | None:
    """(block kind, layers in canonical order) of a krasserm WDSR file, read from shapes."""
    layers = keras_layers(state_dict, KERAS_PREFIX)
    if len(layers) < 4 or set(state_dict) != {f"{layer}.{leaf}" for layer in layers for leaf in ("weight", "bias")}:
        return None
    shapes = [tuple(state_dict[f"{layer}.weight"].shape) for layer in layers]
    # Keras orders the two tail convs by graph depth (a tie): main then skip today; accept both.
    if shapes[-2][1:] == (3, 5, 5):
        layers = [*layers[:-2], layers[-1], layers[-2]]
        shapes = [*shapes[:-2], shapes[-1], shapes[-2]]
    head, blocks, main, skip = shapes[0], shapes[1:-2], shapes[-2], shapes[-1]
    nf = head[0]
    if head[1:] != (3, 3, 3) or skip[1:] != (3, 5, 5) or main[:2] != (skip[0], nf) or main[2:] != (3, 3):
        return None
    kind = "b" if blocks and blocks[0][2:] == (1, 1) else "a"
    step = len(BLOCK_CONVS[kind])
    if not blocks or len(blocks) % step:
        return None
    for start in range(0, len(blocks), step):
        kernels = [shape[2:] for shape in blocks[start : start + step]]
        expected = [(1, 1), (1, 1), (3, 3)] if kind == "b" else [(3, 3), (3, 3)]
        if kernels != expected or blocks[start][1] != nf or blocks[start + step - 1][0] != nf:
            return None
    return kind, layers


def detect(state_dict: StateDict) -> bool:
    return _canonical_layout(state_dict) is not None or _keras_layout(state_dict) is not None


def _scale_of(tail_outputs: int) -> int:
    for scale in SCALES:
        if 3 * scale**2 == tail_outputs:
            return scale
    raise ValueError(f"WDSR: a tail with {tail_outputs} outputs is not 3 * (2, 3 or 4)^2")


def from_keras(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """A krasserm Keras state dict in canonical keys, tail and skip in pixel-shuffle order."""
    layout = _keras_layout(state_dict)
    if layout is None:
        raise ValueError("not a krasserm WDSR state dict")
    kind, layers = layout
    num_blocks = (len(layers) - 3) // len(BLOCK_CONVS[kind])
    scale = _scale_of(state_dict[f"{layers[-1]}.weight"].shape[0])
    out: dict[str, torch.Tensor] = {}
    for module, layer in zip(_modules(kind, num_blocks), layers, strict=True):
        weight, bias = state_dict[f"{layer}.weight"], state_dict[f"{layer}.bias"]
        if module in ("tail.0", "skip.0"):
            weight, bias = depth_to_space_order(weight, bias, scale)
        out[f"{module}.weight"], out[f"{module}.bias"] = weight, bias
    return out


def rename(state_dict: StateDict, naming: str) -> dict[str, torch.Tensor]:
    """Writes a canonical state dict as ``canonical`` or krasserm's ``keras`` layer names."""
    if naming == "canonical":
        return dict(state_dict)
    if naming != "keras":
        raise ValueError(f"WDSR has no naming {naming!r}")
    layout = _canonical_layout(state_dict)
    if layout is None:
        raise ValueError("not a canonical WDSR state dict")
    modules = _modules(*layout)
    scale = _scale_of(state_dict["skip.0.weight"].shape[0])
    out: dict[str, torch.Tensor] = {}
    for n, module in enumerate(modules):
        layer = KERAS_PREFIX if n == 0 else f"{KERAS_PREFIX}_{n}"
        weight, bias = state_dict[f"{module}.weight"], state_dict[f"{module}.bias"]
        if module in ("tail.0", "skip.0"):
            weight, bias = pixel_shuffle_to_depth_to_space(weight, bias, scale)
        out[f"{layer}.weight"], out[f"{layer}.bias"] = weight, bias
    return out


def load(state_dict: StateDict) -> WDSR:
    sd = dict(state_dict) if _canonical_layout(state_dict) else from_keras(state_dict)
    layout = _canonical_layout(sd)
    if layout is None:
        raise ValueError("not a WDSR state dict")
    kind, num_blocks = layout
    nf = sd["head.0.weight"].shape[0]
    expanded = sd["body.0.body.0.weight"].shape[0]
    if expanded % nf:
        raise ValueError(f"WDSR: block width {expanded} is not a multiple of {nf} features")
    net = WDSR(
        num_features=nf,
        num_blocks=num_blocks,
        upscale=_scale_of(sd["skip.0.weight"].shape[0]),
        block=kind,
        expansion=expanded // nf,
        linear_features=sd["body.0.body.2.weight"].shape[0] if kind == "b" else None,
        # Guess: krasserm's res_block_scaling defaults to None and his published model keeps it;
        # a scaling factor leaves no trace in the weights.
        res_scale=1.0,
    )
    return load_strict(net, sd, "WDSR")


ARCH = Architecture(
    id="wdsr",
    name="WDSR-A/B (krasserm Keras)",
    module=WDSR,
    detect=detect,
    load=load,
    rename=rename,
    # Not checked against the published weights in fp16; bf16 keeps fp32's range.
    fp16_safe=False,
    bf16_safe=True,
    examples=(
        Example("b-x2", dict(num_features=8, num_blocks=2, upscale=2)),
        Example("a-x3", dict(num_features=8, num_blocks=2, upscale=3, block="a", expansion=4)),
        Example("b-x4-keras", dict(num_features=10, num_blocks=2, upscale=4), naming="keras"),
        Example("b-x2-keras", dict(num_features=8, num_blocks=3, upscale=2), naming="keras"),
        Example("a-x2-keras", dict(num_features=8, num_blocks=2, upscale=2, block="a", expansion=4), "keras"),
        Example("a-x3-keras", dict(num_features=6, num_blocks=2, upscale=3, block="a", expansion=4), "keras"),
        Example("a-x4-keras", dict(num_features=8, num_blocks=1, upscale=4, block="a", expansion=4), "keras"),
        Example("b-x3-keras", dict(num_features=8, num_blocks=2, upscale=3), naming="keras"),
    ),
)
