"""Writes a network's weights in its original project's file format, without that framework.

Keras HDF5 laid out as ``save_weights`` lays it out (``layer_names``, ``weight_names``,
HWIO kernels), and neural-enhance's bz2 pickle of ``(config, params)`` with Lasagne's flipped
float16 filters. The fidelity tests check the real frameworks' own files; these writers let
the command-line tests cover every architecture quickly.
"""

from __future__ import annotations

import bz2
import pickle
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
import torch

BATCH_NORM = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _layers(state_dict: dict[str, torch.Tensor]) -> dict[str, dict[str, np.ndarray]]:
    layers: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for key, tensor in state_dict.items():
        layer, _, param = key.rpartition(".")
        layers[layer][param] = tensor.detach().float().numpy()
    return layers


def write_keras_h5(state_dict: dict[str, torch.Tensor], path: Path) -> Path:
    """``state_dict`` in Keras naming (``layer.weight``...) as a Keras ``save_weights`` file."""
    layers = _layers(state_dict)
    with h5py.File(path, "w") as file:
        file.attrs["backend"] = b"tensorflow"
        file.attrs["keras_version"] = b"2.2.4"
        file.attrs["layer_names"] = [b"input_1", *(name.encode() for name in layers)]
        file.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for layer, params in layers.items():
            variables: dict[str, np.ndarray] = {}
            if "running_var" in params:
                variables = {BATCH_NORM[p]: params[p] for p in BATCH_NORM}
            elif params["weight"].ndim == 4:
                if layer.startswith("weight_normalization"):  # never run: g unused, kernel is the weight
                    variables["g"] = np.ones(params["weight"].shape[0], np.float32)
                variables["kernel"] = params["weight"].transpose(2, 3, 1, 0)
                variables["bias"] = params["bias"]
                if layer.startswith("weight_normalization"):
                    variables["initialized"] = np.array(False)
            else:
                variables["alpha"] = params["weight"].reshape(1, 1, -1)
            group = file.create_group(layer)
            group.attrs["weight_names"] = [f"{layer}/{name}:0".encode() for name in variables]
            for name, value in variables.items():
                group.create_dataset(f"{layer}/{name}:0", data=value)
    return path


def write_lasagne_pickle(state_dict: dict[str, torch.Tensor], config: dict, path: Path) -> Path:
    """``state_dict`` in Lasagne naming as neural-enhance's ``save_generator`` wrote it."""
    params = {}
    for layer, values in _layers(state_dict).items():
        weight = values["weight"]
        if weight.ndim == 4:  # Lasagne convolves: store the filters flipped back
            params[layer] = [weight[:, :, ::-1, ::-1].astype(np.float16), values["bias"].astype(np.float16)]
        else:
            params[layer] = [weight.astype(np.float16)]
    with bz2.open(path, "wb") as file:
        pickle.dump((config, params), file, protocol=3)
    return path
