"""EDSR (Lim et al. 2017): the official EDSR-PyTorch state dicts and krasserm's Keras port.

One module in the official layout and key names (sanghyun-son/EDSR-PyTorch ``src/model/edsr.py``,
``common.py``): ``sub_mean`` (a fixed 1x1 conv), ``head.0``, ``body.{i}.body.{0,2}`` res blocks
plus ``body.{n}``, ``tail.0.{0,2}`` pixel-shuffle upsampler convs, ``tail.1`` and ``add_mean``.
It works in 0..255, as the official code does.

krasserm's Keras files (``shared/reference/seed-architectures.md`` section 2.3) are the same
graph with ``(x - mean) / 127.5`` in and ``y * 127.5 + mean`` out. Both subtract the same
DIV2K mean before the head's zero padding, so the 1/127.5 and 127.5 could move into ``head.0``
and ``tail.1`` exactly; uprez keeps them in the two 1x1 mean-shift convs instead, so a Keras
file's convs load bit for bit and write back bit for bit. Both kinds of file run the same code
and differ only in numbers.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from ._base import Architecture, Example, SRNet, StateDict, indices, load_strict
from ._keras import DIV2K_RGB_MEAN, depth_to_space_order, keras_layers, pixel_shuffle_to_depth_to_space

RGB_RANGE = 255.0  # the official code and krasserm both take 0..255 input
KRASSERM_SCALE = 127.5  # krasserm model/common.py normalize: (x - mean) / 127.5
NORMALIZATIONS = ("official", "krasserm")
SCALES = (2, 3, 4)
# Guess from the paper (section 3.3) and the official README's commands: the 256-feature
# "EDSR" models use residual scaling 0.1, the 64-feature baselines none. Files do not say.
BIG_WIDTH, BIG_RES_SCALE = 256, 0.1
# The upsampler's convs run at 1x and 2x (or 1x) and the last at full size: under 2 core pixels.
TAIL_CONTEXT = 2
MAX_TILE_CONTEXT = 48


class MeanShift(nn.Module):
    """A fixed 1x1 conv over RGB; buffers, so the keys match the official file but no training."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight.reshape(3, 3, 1, 1).clone())
        self.register_buffer("bias", bias.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In the buffers' dtype: a bf16 run keeps this layer in fp32 (EDSR.fp32_layers).
        return F.conv2d(x.to(self.weight.dtype), self.weight, self.bias)


def mean_shifts(normalization: str) -> tuple[MeanShift, MeanShift]:
    """(sub_mean, add_mean) for input and output in 0..255."""
    mean = torch.tensor(DIV2K_RGB_MEAN, dtype=torch.float64) * RGB_RANGE
    eye = torch.eye(3, dtype=torch.float64)
    if normalization == "official":  # MeanShift(255, rgb_std=1): x - mean, x + mean
        subtract, add = (eye, -mean), (eye, mean)
    elif normalization == "krasserm":
        subtract, add = (eye / KRASSERM_SCALE, -mean / KRASSERM_SCALE), (eye * KRASSERM_SCALE, mean)
    else:
        raise ValueError(f"EDSR: normalization must be one of {NORMALIZATIONS}")
    return tuple(MeanShift(w.float(), b.float()) for w, b in (subtract, add))  # type: ignore[return-value]


class ResBlock(nn.Module):
    def __init__(self, num_features: int, res_scale: float) -> None:
        super().__init__()
        conv = nn.Conv2d(num_features, num_features, 3, 1, 1)
        self.body = nn.Sequential(conv, nn.ReLU(inplace=True), nn.Conv2d(num_features, num_features, 3, 1, 1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x)
        if self.res_scale != 1:
            res = res.mul_(self.res_scale)
        return res.add_(x)


def upsampler(num_features: int, scale: int) -> nn.Sequential:
    """Official ``Upsampler``: (conv F -> 4F, shuffle 2) twice for x4, once for x2; 9F and 3 for x3."""
    factors = {2: [2], 3: [3], 4: [2, 2]}[scale]
    layers: list[nn.Module] = []
    for factor in factors:
        layers += [nn.Conv2d(num_features, num_features * factor**2, 3, 1, 1), nn.PixelShuffle(factor)]
    return nn.Sequential(*layers)


class EDSR(SRNet):
    """EDSR; ``normalization`` picks the initial mean shifts (loaded files bring their own)."""

    tail_context = TAIL_CONTEXT
    output_rounding = "half_even"  # official quantize: clamp(0, 255).round(); krasserm: tf.round
    original_prepad = 0  # both ran the whole image, zero padding at the border

    def __init__(
        self,
        *,
        num_features: int = 64,
        num_blocks: int = 16,
        upscale: int = 4,
        res_scale: float = 1.0,
        normalization: str = "official",
    ) -> None:
        super().__init__()
        if upscale not in SCALES:
            raise ValueError(f"EDSR: upscale must be one of {SCALES}")
        self.scale = upscale
        self.hyperparameters = dict(
            num_features=num_features,
            num_blocks=num_blocks,
            upscale=upscale,
            res_scale=res_scale,
            normalization=normalization,
        )
        nf = num_features
        self.sub_mean, self.add_mean = mean_shifts(normalization)
        self.head = nn.Sequential(nn.Conv2d(3, nf, 3, 1, 1))
        blocks: list[nn.Module] = [ResBlock(nf, res_scale) for _ in range(num_blocks)]
        self.body = nn.Sequential(*blocks, nn.Conv2d(nf, nf, 3, 1, 1))
        self.tail = nn.Sequential(upsampler(nf, upscale), nn.Conv2d(nf, 3, 3, 1, 1))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.sub_mean(x * RGB_RANGE))
        return self.body(features).add_(features)

    def forward_tail(self, features: torch.Tensor) -> torch.Tensor:
        return self.add_mean(self.tail(features)).div_(RGB_RANGE)

    def fp32_layers(self) -> tuple[str, ...]:
        # The mean shifts and the last conv work in 0..255 around the mean (about 110): bf16's 8
        # significant bits round there to steps of 0.5-1, a whole 8-bit level at the output.
        return ("sub_mean", "add_mean", f"tail.{len(self.tail) - 1}")

    def tile_context(self) -> int:
        # One pixel per 3x3 conv at input size: head, 2 per block, body's last, the first upsampler conv.
        return min(self.hyperparameters["num_blocks"] * 2 + 2 + TAIL_CONTEXT, MAX_TILE_CONTEXT)

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        nf = self.hyperparameters["num_features"]
        # Head: the global skip, a block's input, its inner conv output and its second conv output.
        head = 4 * nf
        # Tail: the last upsampler conv's output and its shuffled copy, both F * scale^2 per core pixel.
        tail = (2 * nf + 2 * 3) * self.scale**2
        return head * element_size, tail * element_size


# --- detection and loading ------------------------------------------------------------------

AUTO_CONV = re.compile(r"conv2d(_\d+)?")
# krasserm model/edsr.py upsample(): the only layers it names.
KERAS_UPSAMPLERS = {2: ("conv2d_1_scale_2",), 3: ("conv2d_1_scale_3",), 4: ("conv2d_1_scale_2", "conv2d_2_scale_2")}


def _upsampler_indices(scale: int) -> list[int]:
    return [2 * i for i in range(len(KERAS_UPSAMPLERS[scale]))]


def _canonical_keys(num_blocks: int, scale: int) -> list[str]:
    modules = ["head.0"]
    for i in range(num_blocks):
        modules += [f"body.{i}.body.0", f"body.{i}.body.2"]
    modules.append(f"body.{num_blocks}")
    modules += [f"tail.0.{j}" for j in _upsampler_indices(scale)] + ["tail.1"]
    keys = ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias"]
    return keys + [f"{m}.{leaf}" for m in modules for leaf in ("weight", "bias")]


def _canonical_depth(state_dict: StateDict) -> tuple[int, int] | None:
    """(num_blocks, scale) when ``state_dict`` holds exactly the official keys of one EDSR."""
    if "head.0.weight" not in state_dict or "tail.1.weight" not in state_dict:
        return None
    num_blocks = len(indices(state_dict, r"body\.(\d+)\.body\.0\.weight"))
    ups = indices(state_dict, r"tail\.0\.(\d+)\.weight")
    if ups == [0, 2]:
        scale = 4
    elif ups == [0]:
        factor = state_dict["tail.0.0.weight"].shape[0] // state_dict["head.0.weight"].shape[0]
        scale = math.isqrt(factor)
    else:
        return None
    if scale not in SCALES or set(state_dict) != set(_canonical_keys(num_blocks, scale)):
        return None
    return num_blocks, scale


def _keras_layout(state_dict: StateDict) -> tuple[list[str], tuple[str, ...]] | None:
    """(auto-named convs in file order, named upsampler convs) of a krasserm EDSR file."""
    layers = keras_layers(state_dict, "conv2d")
    if not layers or set(state_dict) != {f"{layer}.{leaf}" for layer in layers for leaf in ("weight", "bias")}:
        return None
    named = tuple(layer for layer in layers if not AUTO_CONV.fullmatch(layer))
    auto = [layer for layer in layers if AUTO_CONV.fullmatch(layer)]
    if named not in KERAS_UPSAMPLERS.values() or len(auto) < 3 or len(auto) % 2 == 0:
        return None
    first, last = state_dict[f"{auto[0]}.weight"], state_dict[f"{auto[-1]}.weight"]
    if first.shape[1:] != (3, 3, 3) or last.shape[:2] != (3, first.shape[0]):
        return None
    return auto, named


def detect(state_dict: StateDict) -> bool:
    return _canonical_depth(state_dict) is not None or _keras_layout(state_dict) is not None


def _modules(num_blocks: int, scale: int) -> list[str]:
    """Canonical conv modules in krasserm's file order (upsampler convs left out)."""
    body = [f"body.{i}.body.{j}" for i in range(num_blocks) for j in (0, 2)]
    return ["head.0", *body, f"body.{num_blocks}", "tail.1"]


def from_keras(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """A krasserm Keras state dict in canonical keys (normalisation in the mean shifts)."""
    layout = _keras_layout(state_dict)
    if layout is None:
        raise ValueError("not a krasserm EDSR state dict")
    auto, named = layout
    scale = next(s for s, names in KERAS_UPSAMPLERS.items() if names == named)
    num_blocks = (len(auto) - 3) // 2
    out: dict[str, torch.Tensor] = {}
    sub_mean, add_mean = mean_shifts("krasserm")
    out.update({f"sub_mean.{k}": v for k, v in sub_mean.state_dict().items()})
    out.update({f"add_mean.{k}": v for k, v in add_mean.state_dict().items()})
    for module, layer in zip(_modules(num_blocks, scale), auto, strict=True):
        out[f"{module}.weight"], out[f"{module}.bias"] = state_dict[f"{layer}.weight"], state_dict[f"{layer}.bias"]
    block = 3 if scale == 3 else 2
    for j, layer in zip(_upsampler_indices(scale), named, strict=True):
        weight, bias = depth_to_space_order(state_dict[f"{layer}.weight"], state_dict[f"{layer}.bias"], block)
        out[f"tail.0.{j}.weight"], out[f"tail.0.{j}.bias"] = weight, bias
    return out


def rename(state_dict: StateDict, naming: str) -> dict[str, torch.Tensor]:
    """Writes a canonical state dict as ``canonical`` or krasserm's ``keras`` layer names.

    Official weights are converted to krasserm's normalisation on the way (exact in arithmetic).

    Raises:
        ValueError: mean shifts that are neither krasserm's nor the official ones.
    """
    if naming == "canonical":
        return dict(state_dict)
    if naming != "keras":
        raise ValueError(f"EDSR has no naming {naming!r}")
    depth = _canonical_depth(state_dict)
    if depth is None:
        raise ValueError("not a canonical EDSR state dict")
    num_blocks, scale = depth
    if _normalization_of(state_dict) != "krasserm":
        state_dict = _to_krasserm_normalization(state_dict)
    modules = _modules(num_blocks, scale)
    auto = ["conv2d"] + [f"conv2d_{n}" for n in range(1, len(modules))]
    out: dict[str, torch.Tensor] = {}
    for module, layer in zip(modules[:-1], auto[:-1], strict=True):
        out[f"{layer}.weight"], out[f"{layer}.bias"] = state_dict[f"{module}.weight"], state_dict[f"{module}.bias"]
    block = 3 if scale == 3 else 2
    for j, layer in zip(_upsampler_indices(scale), KERAS_UPSAMPLERS[scale], strict=True):
        w, b = state_dict[f"tail.0.{j}.weight"], state_dict[f"tail.0.{j}.bias"]
        out[f"{layer}.weight"], out[f"{layer}.bias"] = pixel_shuffle_to_depth_to_space(w, b, block)
    out[f"{auto[-1]}.weight"], out[f"{auto[-1]}.bias"] = state_dict["tail.1.weight"], state_dict["tail.1.bias"]
    return out


def _has_mean_shifts(state_dict: StateDict, normalization: str) -> bool:
    sub_mean, add_mean = mean_shifts(normalization)
    pairs = [(state_dict[f"sub_mean.{k}"], v) for k, v in sub_mean.state_dict().items()]
    pairs += [(state_dict[f"add_mean.{k}"], v) for k, v in add_mean.state_dict().items()]
    return all(torch.allclose(given.float().reshape(v.shape), v) for given, v in pairs)


def _normalization_of(state_dict: StateDict) -> str:
    return "krasserm" if _has_mean_shifts(state_dict, "krasserm") else "official"


def _to_krasserm_normalization(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """Official mean shifts to krasserm's: 127.5 into ``head.0``, 1/127.5 into ``tail.1``.

    Exact in arithmetic (both subtract the same mean before the head's zero padding), not bit
    for bit in floats.
    """
    if not _has_mean_shifts(state_dict, "official"):
        raise ValueError("EDSR mean shifts other than MeanShift(255) cannot be written in krasserm's form")
    out = dict(state_dict)
    out["head.0.weight"] = state_dict["head.0.weight"] * KRASSERM_SCALE
    out["tail.1.weight"] = state_dict["tail.1.weight"] / KRASSERM_SCALE
    out["tail.1.bias"] = state_dict["tail.1.bias"] / KRASSERM_SCALE
    sub_mean, add_mean = mean_shifts("krasserm")
    out.update({f"sub_mean.{k}": v for k, v in sub_mean.state_dict().items()})
    out.update({f"add_mean.{k}": v for k, v in add_mean.state_dict().items()})
    return out


def load(state_dict: StateDict) -> EDSR:
    keras = _canonical_depth(state_dict) is None
    sd = from_keras(state_dict) if keras else dict(state_dict)
    depth = _canonical_depth(sd)
    if depth is None:
        raise ValueError("not an EDSR state dict")
    num_blocks, scale = depth
    num_features = sd["head.0.weight"].shape[0]
    # krasserm's edsr() has res_block_scaling=None and his published model keeps it.
    res_scale = BIG_RES_SCALE if num_features == BIG_WIDTH and not keras else 1.0
    net = EDSR(
        num_features=num_features,
        num_blocks=num_blocks,
        upscale=scale,
        res_scale=res_scale,
        normalization=_normalization_of(sd),
    )
    return load_strict(net, sd, "EDSR")


_SMALL = dict(num_features=8, num_blocks=2)

ARCH = Architecture(
    id="edsr",
    name="EDSR (EDSR-PyTorch, krasserm Keras)",
    module=EDSR,
    detect=detect,
    load=load,
    rename=rename,
    # Activations are in 0..255 and grow through unscaled residual blocks: fp16 was not checked.
    fp16_safe=False,
    bf16_safe=True,
    examples=(
        Example("official-x2", dict(_SMALL, upscale=2)),
        Example("official-x3", dict(_SMALL, upscale=3)),
        Example("official-x4", dict(_SMALL, num_blocks=3, upscale=4)),
        Example("keras-x2", dict(_SMALL, upscale=2, normalization="krasserm"), naming="keras"),
        Example("keras-x3", dict(_SMALL, upscale=3, normalization="krasserm"), naming="keras"),
        Example("keras-x4", dict(_SMALL, upscale=4, normalization="krasserm"), naming="keras"),
    ),
)
