"""TensorFlow with tf-keras (Keras 2 semantics) and TF Addons, as the Keras seed projects ran.

Importing this module imports TensorFlow; tests that need it import it through
``keras_reference.require()``, which skips where TensorFlow is absent unless CI demands it
(``UPREZ_REQUIRE_TF=1``).
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest


def require() -> types.SimpleNamespace:
    """``keras`` (tf_keras), ``tf`` and ``tfa`` (TF Addons), or a skip."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.keras -> tf_keras (Keras 2), as in 2019
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        tf = importlib.import_module("tensorflow")
        keras = importlib.import_module("tf_keras")
    except ImportError:
        if os.environ.get("UPREZ_REQUIRE_TF") == "1":
            raise
        pytest.skip("needs tensorflow-cpu and tf-keras")
    return types.SimpleNamespace(tf=tf, keras=keras, tfa=_addons(keras))


def _addons(keras) -> types.ModuleType:
    # TF Addons 0.23 (the last release) looks for Keras 2 internals under keras.src; with
    # Keras 3 installed they live in tf_keras.src. Point it there before it imports.
    engine = importlib.import_module("tf_keras.src.engine")
    sys.modules.setdefault("keras.src.engine", engine)
    sys.modules.setdefault("keras.src.engine.keras_tensor", importlib.import_module("tf_keras.src.engine.keras_tensor"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "untested TensorFlow version"
        return importlib.import_module("tensorflow_addons")


def predict(model, images: np.ndarray) -> np.ndarray:
    """``model(x)`` (not ``predict``: krasserm's README warns it corrupts WDSR weights), NHWC."""
    return np.asarray(model(images.astype(np.float32), training=False))


def save_weights(model, path: Path) -> Path:
    """``model.save_weights`` to HDF5, as krasserm and ISR published their weights."""
    model.save_weights(str(path))
    return path


def randomize(model, seed: int, scale: float = 0.05) -> None:
    """Replaces every weight with seeded noise (``initialized`` flags stay as they are)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if variable.dtype.is_bool:
            continue
        values = rng.normal(0.0, scale, size=tuple(variable.shape)).astype(np.float32)
        if "moving_variance" in variable.name or variable.name.endswith("/g:0"):
            values = np.abs(values) + 0.5
        variable.assign(values)
