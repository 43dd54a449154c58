"""Multiply-accumulate counts read off a built functional model's graph."""

from __future__ import annotations

import math

from keras import layers


def _spatial_positions(shape):
    """Positions a per-position op runs at: product of all but batch and channel dims (channels-last)."""
    return math.prod(int(d) for d in shape[1:-1])


def _conv_macs(layer):
    kernel = layer.kernel.shape  # (kh, kw, in/groups, out)
    return _spatial_positions(layer.output.shape) * math.prod(kernel)


def layer_macs(layer):
    """MACs of one layer of a functional model per sample (convolutions -- grouped and depthwise
    included --, dense, attention)."""
    if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
        # Conv2D kernel (kh, kw, in/groups, out); DepthwiseConv2D kernel (kh, kw, in, multiplier): each
        # output position costs the product either way.
        return _conv_macs(layer)
    if isinstance(layer, layers.Dense):
        return _spatial_positions(layer.output.shape) * math.prod(layer.kernel.shape)
    if hasattr(layer, "macs"):
        return int(layer.macs(tuple(layer.input.shape)))
    return 0


def count_macs(model):
    """Multiply-accumulates of one forward pass of `model` on one sample at its input size.

    Counts convolutions, dense layers and attention layers (their own ``macs(input_shape)``); the
    element-wise work of BatchNorm, activations and pooling is left out, as timm/fvcore do. The
    model's input height and width must be fixed.
    """
    for tensor in model.inputs:
        if any(d is None for d in tensor.shape[1:]):
            raise ValueError(f"count_macs needs a fixed input size; model {model.name!r} has input "
                             f"shape {tuple(tensor.shape)}")
    return sum(layer_macs(layer) for layer in model.layers)
