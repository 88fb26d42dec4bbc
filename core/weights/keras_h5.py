"""Keras HDF5 weight files (``save_weights`` / ``save``), as krasserm and idealo ISR wrote them.

Read with h5py, never with Keras: the file's own ``layer_names`` order is kept (HDF5 groups
iterate alphabetically, so ``conv2d_10`` would come before ``conv2d_2``), and every Keras
layout is turned into PyTorch's here, once: kernels HWIO to OIHW, weight normalisation folded
into the kernel, batch-norm statistics renamed, PReLU slopes flattened. What stays is the
layer's own name plus ``.weight``/``.bias``/..., so architectures see ``F_m1.weight`` or
``conv2d_17.weight``; the depth-to-space channel order is the architecture's business
(``core/archs/_keras.py``), since only the graph says which conv feeds a shuffle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import WeightFileError
from ._common import WeightReader, Weights, check_size

# TF Addons' l2_normalize floors the squared norm at this.
WEIGHT_NORM_EPSILON = 1e-12
BATCH_NORM_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def read(path: Path) -> Weights:
    check_size(path)
    try:
        import h5py  # imported here: only Keras files need it (ComfyUI does not ship it)
    except ImportError:
        raise WeightFileError(path, "is a Keras file, and reading it needs h5py", hint="pip install h5py") from None

    try:
        with h5py.File(path, "r") as file:
            root = file["model_weights"] if "model_weights" in file else file
            backend = _text(root.attrs.get("backend", "tensorflow"))
            if backend != "tensorflow":
                raise WeightFileError(path, f"was saved by Keras' {backend} backend; only TensorFlow files are read")
            layer_names = _string_list(root.attrs, "layer_names")
            if layer_names is None:
                raise WeightFileError(path, "is an HDF5 file but not Keras weights (no layer_names)")
            state_dict: dict[str, torch.Tensor] = {}
            for layer in layer_names:
                variables = _layer_variables(root[layer])
                if variables:
                    state_dict.update(_convert_layer(layer, variables, path))
            metadata = {"keras.backend": backend, "keras.version": _text(root.attrs.get("keras_version", ""))}
    except WeightFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise WeightFileError(path, f"cannot be read as a Keras HDF5 file: {_reason(error)}") from error
    if not state_dict:
        raise WeightFileError(path, "holds no weights")
    return Weights(state_dict, path, "keras", metadata)


def _layer_variables(group) -> dict[str, np.ndarray]:
    """``{short name: array}`` in the layer's ``weight_names`` order (``kernel``, ``g``, ...)."""
    names = _string_list(group.attrs, "weight_names") or []
    variables: dict[str, np.ndarray] = {}
    for full_name in names:
        short = full_name.rsplit("/", 1)[-1].split(":", 1)[0]
        if short in variables:
            continue  # TF Addons once listed the wrapped kernel twice; both are one variable
        variables[short] = np.asarray(group[full_name][()])
    return variables


def _convert_layer(layer: str, variables: dict[str, np.ndarray], path: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    if "kernel" in variables:
        kernel = variables["kernel"].astype(np.float32)
        if "g" in variables:
            kernel = _fold_weight_norm(kernel, variables["g"], variables.get("initialized"))
        out[f"{layer}.weight"] = _kernel_to_torch(kernel, layer, path)
    if "bias" in variables:
        out[f"{layer}.bias"] = _tensor(variables["bias"])
    if "alpha" in variables:
        alpha = variables["alpha"]
        if any(size != 1 for size in alpha.shape[:-1]):
            raise WeightFileError(path, f"layer {layer}: PReLU slopes of shape {alpha.shape} are not per channel")
        out[f"{layer}.weight"] = _tensor(alpha.reshape(-1))
    for keras_name, torch_name in BATCH_NORM_NAMES.items():
        if keras_name in variables:
            out[f"{layer}.{torch_name}"] = _tensor(variables[keras_name])
    known = {"kernel", "g", "initialized", "bias", "alpha", *BATCH_NORM_NAMES}
    unknown = sorted(set(variables) - known)
    if unknown:
        raise WeightFileError(path, f"layer {layer} has variables uprez does not know: {', '.join(unknown)}")
    return out


def _fold_weight_norm(kernel: np.ndarray, g: np.ndarray, initialized: np.ndarray | None) -> np.ndarray:
    """TF Addons' WeightNormalization: ``g * v / ||v||`` per output channel (the last axis).

    A layer never run (``initialized`` False), or saved by TF Addons 0.4 (no flag, and ``g``
    was reset on first call), uses ``g = ||v||``: the kernel as stored.
    """
    if initialized is None or not bool(initialized):
        return kernel
    axes = tuple(range(kernel.ndim - 1))
    norm = np.sqrt(np.maximum(np.square(kernel).sum(axis=axes), WEIGHT_NORM_EPSILON))
    return kernel * (g.astype(np.float32) / norm)


def _kernel_to_torch(kernel: np.ndarray, layer: str, path: Path) -> torch.Tensor:
    if kernel.ndim == 4:  # Conv2D: (kH, kW, in, out) -> (out, in, kH, kW)
        return _tensor(kernel.transpose(3, 2, 0, 1))
    if kernel.ndim == 2:  # Dense: (in, out) -> (out, in)
        return _tensor(kernel.T)
    raise WeightFileError(path, f"layer {layer}: a kernel of shape {kernel.shape} is neither Conv2D nor Dense")


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _string_list(attrs, name: str) -> list[str] | None:
    """An attribute list, joined from Keras' ``name0``, ``name1``... chunks when it was split."""
    if name in attrs:
        return [_text(item) for item in attrs[name]]
    chunks: list[str] = []
    index = 0
    while f"{name}{index}" in attrs:
        chunks.extend(_text(item) for item in attrs[f"{name}{index}"])
        index += 1
    return chunks or None


def _text(value) -> str:
    # h5py 3 may hand back str where h5py 2 gave bytes (ISR's loader broke on exactly this).
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _reason(error: Exception) -> str:
    return str(error).split("\n", 1)[0] or type(error).__name__


READER = WeightReader("keras", (".h5", ".hdf5"), read)
