"""Helpers the tests share: seeded weights and inputs, the committed test photographs."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
PHOTOS = ("astronaut_face.png", "coffee_cup.png", "chelsea_cat.jpg")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [0, 1]."""
    mse = float(((a - b) ** 2).mean())
    return 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12))).item()


def record_keyword(monkeypatch, cls: type, keyword: str) -> list:  # noqa: ANN001 - pytest's MonkeyPatch
    """The value of ``keyword`` in every ``cls(...)`` made from now on, in order."""
    seen: list = []
    real_init = cls.__init__

    def recording_init(self, *args, **kwargs) -> None:  # noqa: ANN001
        seen.append(kwargs.get(keyword))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", recording_init)
    return seen


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def seeded_weights(module: nn.Module, seed: int) -> nn.Module:
    """Fills every parameter from numpy's PCG64 (stable across torch versions)."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            shape = tuple(parameter.shape)
            if parameter.ndim == 4:
                fan_in = shape[1] * shape[2] * shape[3]
                values = rng.standard_normal(shape) * (1.4 / np.sqrt(fan_in))  # about He init: keeps activations O(1)
            elif name.endswith("bias"):
                values = rng.standard_normal(shape) * 0.01
            else:  # PReLU slopes
                values = 0.2 + rng.standard_normal(shape) * 0.05
            parameter.copy_(torch.from_numpy(values.astype(np.float32)))
    return module.eval()


def seeded_input(channels: int, size: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.random((1, channels, size, size), dtype=np.float32))


def photo(name: str) -> np.ndarray:
    """A test photograph as (H, W, 3) float32 in [0, 1]."""
    from PIL import Image

    with Image.open(DATA / name) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def photo_tensor(name: str) -> torch.Tensor:
    return torch.from_numpy(photo(name)).permute(2, 0, 1).contiguous()
