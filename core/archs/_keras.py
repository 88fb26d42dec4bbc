"""What the Keras ports (krasserm EDSR/WDSR/SRGAN, idealo RRDN) share.

The weight reader already turned kernels into OIHW; what is left is graph knowledge: which
convs feed a ``depth_to_space``, and the DIV2K mean krasserm's models subtract.
"""

from __future__ import annotations

import torch

# krasserm model/common.py: DIV2K_RGB_MEAN = [0.4488, 0.4371, 0.4040] * 255, in 0..1 here.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def depth_to_space_order(weight: torch.Tensor, bias: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorders a conv's outputs from TF ``depth_to_space`` to PyTorch ``pixel_shuffle`` order.

    TF reads input channel ``(by * r + bx) * C + c``; PyTorch reads ``c * r * r + by * r + bx``.
    Permuting the conv that feeds the shuffle makes ``pixel_shuffle`` give TF's image exactly.
    """
    squared = block * block
    out_channels = weight.shape[0] // squared
    if out_channels * squared != weight.shape[0]:
        raise ValueError(f"a conv with {weight.shape[0]} outputs cannot feed a {block}x depth_to_space")
    rest = weight.shape[1:]
    weight = weight.reshape(squared, out_channels, *rest).transpose(0, 1).reshape(-1, *rest)
    bias = bias.reshape(squared, out_channels).T.reshape(-1)
    return weight.contiguous(), bias.contiguous()


def pixel_shuffle_to_depth_to_space(
    weight: torch.Tensor, bias: torch.Tensor, block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of ``depth_to_space_order`` (writes canonical weights back in Keras order)."""
    squared = block * block
    out_channels = weight.shape[0] // squared
    rest = weight.shape[1:]
    weight = weight.reshape(out_channels, squared, *rest).transpose(0, 1).reshape(-1, *rest)
    bias = bias.reshape(out_channels, squared).T.reshape(-1)
    return weight.contiguous(), bias.contiguous()


def keras_layers(state_dict, prefix: str) -> list[str]:
    """Layer names (``prefix``, ``prefix_1``, ...) that own a ``.weight``, in the dict's order.

    Keras numbers auto-named layers per session, so a file may start at ``conv2d_37``; the
    file's ``layer_names`` order (kept by the reader) is the only reliable order.
    """
    names = []
    for key in state_dict:
        layer, _, param = key.rpartition(".")
        if param == "weight" and (layer == prefix or layer.startswith(prefix + "_")):
            names.append(layer)
    return names
