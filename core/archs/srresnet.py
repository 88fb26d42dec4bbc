"""SRResNet: the SRGAN generator of krasserm/super-resolution (``gan_generator.h5``, ``pre_generator.h5``).

A 9x9 head with PReLU, residual blocks with batch norm, two 2x pixel-shuffle stages and a 9x9
tanh output (``shared/reference/seed-architectures.md`` sections 2.5 and 2.6). Keras names
every layer automatically (``conv2d_17``, ``batch_normalization_3``, ``p_re_lu_5``) and numbers
them per session, so a Keras file is read by position in its ``layer_names`` order.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

from ._base import Architecture, Example, SRNet, StateDict, has_all, indices, load_strict
from ._keras import depth_to_space_order, pixel_shuffle_to_depth_to_space

# Keras' BatchNormalization default; PyTorch's own default (1e-5) would shift every block.
BN_EPSILON = 1e-3
UPSAMPLES = 2  # krasserm's sr_resnet is fixed at 4x: two 2x stages
HEAD_KERNEL = 9
TILE_CONTEXT_CAP = 48
# Tail receptive radius in core pixels: upsample 1's 3x3 conv (4 output px), upsample 2's
# (2 output px) and the 9x9 output conv (4 output px): 10 output pixels = 2.5 core pixels.
TAIL_CONTEXT = 3


class BatchNorm(nn.Module):
    """Inference-only batch norm with Keras' epsilon and no ``num_batches_tracked`` counter."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, BN_EPSILON)


class ResidualBlock(nn.Module):
    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_features, num_features, 3, 1, 1)
        self.bn1 = BatchNorm(num_features)
        self.prelu = nn.PReLU(num_features)
        self.conv2 = nn.Conv2d(num_features, num_features, 3, 1, 1)
        self.bn2 = BatchNorm(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x))))).add_(x)


class Upsample(nn.Module):
    """Conv to 4x the channels, 2x pixel shuffle, then PReLU over the shuffled channels."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_features, num_features * 4, 3, 1, 1)
        self.prelu = nn.PReLU(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(F.pixel_shuffle(self.conv(x), 2))


class SRResNet(SRNet):
    """krasserm's ``sr_resnet``; input x/255 as in ``normalize_01``, output (tanh + 1) / 2."""

    tail_context = TAIL_CONTEXT
    output_rounding = "half_even"  # tf.round after clip_by_value(0, 255)
    original_prepad = 0  # krasserm ran the whole image, zero padding at the border

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, num_features: int = 64, num_blocks: int = 16):
        super().__init__()
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, 2**UPSAMPLES
        self.hyperparameters = dict(
            in_channels=in_channels, out_channels=out_channels, num_features=num_features, num_blocks=num_blocks
        )
        nf = num_features
        self.conv_first = nn.Conv2d(in_channels, nf, HEAD_KERNEL, 1, HEAD_KERNEL // 2)
        self.prelu_first = nn.PReLU(nf)
        self.blocks = nn.Sequential(*(ResidualBlock(nf) for _ in range(num_blocks)))
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        self.bn_body = BatchNorm(nf)
        self.upsample = nn.Sequential(*(Upsample(nf) for _ in range(UPSAMPLES)))
        self.conv_last = nn.Conv2d(nf, out_channels, HEAD_KERNEL, 1, HEAD_KERNEL // 2)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        features = self.prelu_first(self.conv_first(x))
        return self.bn_body(self.conv_body(self.blocks(features))).add_(features)

    def forward_tail(self, features: torch.Tensor) -> torch.Tensor:
        # krasserm: (tanh + 1) * 127.5 on the 0..255 scale, i.e. (tanh + 1) / 2 here.
        return torch.tanh(self.conv_last(self.upsample(features))).add_(1.0).mul_(0.5)

    def tile_context(self) -> int:
        # Receptive radius: 4 (9x9 head), 2 per block, 1 (body conv), then the tail.
        return min(TILE_CONTEXT_CAP, HEAD_KERNEL // 2 + 2 * self.hyperparameters["num_blocks"] + 1 + TAIL_CONTEXT)

    def bytes_per_pixel(self, element_size: int) -> tuple[int, int]:
        nf = self.hyperparameters["num_features"]
        # Head: the head's output, the block input, and three maps inside a block.
        head = 5 * nf * element_size
        # Tail, at 4x: the last conv's output and its shuffle (16 nf per core pixel each), the
        # PReLU's output, and the 2x input (4 nf) still held.
        tail = (3 * 16 + 4) * nf * element_size
        return head, tail


# --- key schemes ----------------------------------------------------------------------------

NAMINGS = ("canonical", "keras")
# The Keras layer names the h5 reader emits: auto-named per session, maybe numbered.
_KERAS_KINDS = {"conv2d": "conv", "batch_normalization": "bn", "p_re_lu": "prelu"}
# TF 1.13-1.14 named its batch norms ``batch_normalization_v1``; accepted in case a file did.
_KERAS_NAME = re.compile(r"(conv2d|batch_normalization|p_re_lu)(?:_v[12])?(?:_\d+)?")
_BLOCK_KINDS = ("conv", "bn", "prelu", "conv", "bn")
_BLOCK_NAMES = ("conv1", "bn1", "prelu", "conv2", "bn2")
_TAIL_KINDS = ("conv", "bn", "conv", "prelu", "conv", "prelu", "conv")
_PARAMS = {
    "conv": ("weight", "bias"),
    "bn": ("weight", "bias", "running_mean", "running_var"),
    "prelu": ("weight",),
}


def _canonical_layers(num_blocks: int) -> list[tuple[str, str]]:
    """(canonical module name, kind) in Keras' layer order (a single chain: creation order)."""
    layers = [("conv_first", "conv"), ("prelu_first", "prelu")]
    for i in range(num_blocks):
        layers += [(f"blocks.{i}.{name}", kind) for name, kind in zip(_BLOCK_NAMES, _BLOCK_KINDS, strict=True)]
    layers += [("conv_body", "conv"), ("bn_body", "bn")]
    for i in range(UPSAMPLES):
        layers += [(f"upsample.{i}.conv", "conv"), (f"upsample.{i}.prelu", "prelu")]
    return [*layers, ("conv_last", "conv")]


def _keras_layers(state_dict: StateDict) -> list[tuple[str, str]] | None:
    """(layer, kind) in the dict's order when every key is an auto-named Conv/BN/PReLU tensor."""
    layers: dict[str, str] = {}
    for key in state_dict:
        layer, _, _ = key.rpartition(".")
        match = _KERAS_NAME.fullmatch(layer)
        if match is None:
            return None
        layers.setdefault(layer, _KERAS_KINDS[match.group(1)])
    for layer, kind in layers.items():
        if {key.rpartition(".")[2] for key in state_dict if key.rpartition(".")[0] == layer} != set(_PARAMS[kind]):
            return None
    return list(layers.items())


def _keras_num_blocks(layers: list[tuple[str, str]]) -> int | None:
    """Residual blocks when the kinds follow sr_resnet's chain exactly, else None."""
    kinds = [kind for _, kind in layers]
    body = len(kinds) - 2 - len(_TAIL_KINDS)
    num_blocks, rest = divmod(body, len(_BLOCK_KINDS))
    if body < len(_BLOCK_KINDS) or rest:
        return None
    expected = ["conv", "prelu", *(_BLOCK_KINDS * num_blocks), *_TAIL_KINDS]
    return num_blocks if kinds == expected else None


def _naming_of(state_dict: StateDict) -> str | None:
    if has_all(state_dict, "conv_first.weight", "prelu_first.weight", "blocks.0.bn1.running_var", "bn_body.weight"):
        return "canonical" if has_all(state_dict, "upsample.1.prelu.weight", "conv_last.weight") else None
    layers = _keras_layers(state_dict)
    if layers is None or _keras_num_blocks(layers) is None:
        return None
    first = state_dict[f"{layers[0][0]}.weight"]
    return "keras" if first.ndim == 4 and first.shape[-1] == HEAD_KERNEL else None


def rename(state_dict: StateDict, naming: str) -> dict[str, torch.Tensor]:
    """Writes a canonical state dict in ``naming``: "keras" is the h5 reader's view of a file."""
    if naming == "canonical":
        return dict(state_dict)
    counts = dict.fromkeys(_KERAS_KINDS, 0)
    out: dict[str, torch.Tensor] = {}
    for module, kind in _canonical_layers(len(indices(state_dict, r"blocks\.(\d+)\.conv1\.weight"))):
        prefix = next(name for name, k in _KERAS_KINDS.items() if k == kind)
        layer = prefix if counts[prefix] == 0 else f"{prefix}_{counts[prefix]}"
        counts[prefix] += 1
        tensors = {param: state_dict[f"{module}.{param}"] for param in _PARAMS[kind]}
        if module.startswith("upsample.") and kind == "conv":
            tensors["weight"], tensors["bias"] = pixel_shuffle_to_depth_to_space(tensors["weight"], tensors["bias"], 2)
        out.update({f"{layer}.{param}": value for param, value in tensors.items()})
    return out


def canonical(state_dict: StateDict) -> dict[str, torch.Tensor]:
    naming = _naming_of(state_dict)
    if naming is None:
        raise ValueError("not an SRResNet state dict")
    if naming == "canonical":
        return dict(state_dict)
    layers = _keras_layers(state_dict) or []
    ours = _canonical_layers(_keras_num_blocks(layers) or 0)
    out: dict[str, torch.Tensor] = {}
    for (layer, kind), (module, _) in zip(layers, ours, strict=True):
        tensors = {param: state_dict[f"{layer}.{param}"] for param in _PARAMS[kind]}
        if module.startswith("upsample.") and kind == "conv":
            # The conv feeds TF's depth_to_space; the PReLU after it indexes shuffled channels.
            tensors["weight"], tensors["bias"] = depth_to_space_order(tensors["weight"], tensors["bias"], 2)
        out.update({f"{module}.{param}": value for param, value in tensors.items()})
    return out


def detect(state_dict: StateDict) -> bool:
    return _naming_of(state_dict) is not None


def load(state_dict: StateDict) -> SRResNet:
    sd = canonical(state_dict)
    first, last = sd["conv_first.weight"], sd["conv_last.weight"]
    net = SRResNet(
        in_channels=first.shape[1],
        out_channels=last.shape[0],
        num_features=first.shape[0],
        num_blocks=len(indices(sd, r"blocks\.(\d+)\.conv1\.weight")),
    )
    return load_strict(net, sd, "SRResNet")


ARCH = Architecture(
    id="srresnet",
    name="SRGAN generator (SRResNet)",
    module=SRResNet,
    detect=detect,
    load=load,
    rename=rename,
    # Unmeasured on the published weights (nothing was downloadable when this was written):
    # batch-norm divides by running variances that fp16 may not hold, so stay in fp32.
    fp16_safe=False,
    bf16_safe=True,
    examples=(
        Example("x4", dict(num_features=8, num_blocks=2)),
        Example("keras-x4", dict(num_features=8, num_blocks=3), naming="keras"),
        Example("keras-x4-deep", dict(num_features=4, num_blocks=11), naming="keras"),
    ),
)
