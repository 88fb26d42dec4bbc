"""Loading a weight file into a ready network: read, detect, build, load."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .archs import Architecture, SRNet, all_architectures, detect
from .errors import UnknownArchitectureError, WeightFileError
from .resized_output import ResizedOutput
from .weights import Weights, read_weights

OUTPUT_SCALE_KEY = "uprez.output_scale"
OUTPUT_RESAMPLE_KEY = "uprez.output_resample"
# Longest first, so "x.ncnn.safetensors" loses both parts.
WEIGHT_FILE_SUFFIXES = (
    ".ncnn.safetensors", ".safetensors", ".param", ".bin", ".pth", ".pt", ".ckpt", ".h5", ".hdf5", ".pkl.bz2",
)  # fmt: skip


@dataclass
class LoadedModel:
    """A network in eval mode, fp32 on the CPU, and what is known about it."""

    net: SRNet
    arch: Architecture
    name: str
    source: Path
    metadata: dict[str, str]

    @property
    def scale(self) -> int:
        return self.net.scale

    @property
    def in_channels(self) -> int:
        return self.net.in_channels

    @property
    def out_channels(self) -> int:
        return self.net.out_channels

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def describe(self) -> str:
        return f"{self.name} ({self.arch.name}, {self.scale}x, {self.in_channels} channels)"


def load_model(path: str | os.PathLike[str], *, name: str | None = None) -> LoadedModel:
    """Reads ``path`` (any supported format) and builds its network.

    Raises:
        WeightFileError: the file cannot be read, or its tensors do not fit the architecture.
        UnknownArchitectureError: no registered architecture matches its keys.
    """
    weights = read_weights(path)
    return build_model(weights, name=name or name_from_path(weights.source))


def build_model(weights: Weights, *, name: str) -> LoadedModel:
    arch = detect(weights.state_dict)
    if arch is None:
        sample = ", ".join(list(weights.state_dict)[:3])
        raise UnknownArchitectureError(
            weights.source,
            f"no known architecture matches its {len(weights.state_dict)} tensors (first keys: {sample})",
            hint="uprez reads " + ", ".join(a.name for a in all_architectures()),
        )
    try:
        net = arch.load(weights.state_dict)
    except (ValueError, KeyError, IndexError, RuntimeError) as error:
        raise WeightFileError(weights.source, f"looks like {arch.name} but does not load: {error}") from error
    if OUTPUT_SCALE_KEY in weights.metadata:
        factor = float(weights.metadata[OUTPUT_SCALE_KEY])
        net = ResizedOutput(net, factor, weights.metadata.get(OUTPUT_RESAMPLE_KEY, "bicubic")).eval()
    return LoadedModel(net, arch, name, weights.source, {"uprez.format": weights.format, **weights.metadata})


def name_from_path(path: Path) -> str:
    """A model's display name from its file: the name without its weight-file suffixes."""
    for suffix in WEIGHT_FILE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem
