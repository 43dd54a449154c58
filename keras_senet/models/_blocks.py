"""Pieces every family shares: convolution with PyTorch's (or TF's "SAME") padding, BatchNorm with
PyTorch's defaults, activations by timm's names, and the attention layer after a block's last BN.

Converted timm checkpoints give timm's numbers only if these match PyTorch exactly: PyTorch pads a
stride-2 convolution symmetrically by ``kernel_size // 2`` where Keras' ``"same"`` pads bottom/right
only, so strided convolutions get an explicit ``ZeroPadding2D`` then a ``"valid"`` convolution (as
`keras.applications` does); timm's ``tf_`` ports of TensorFlow models use TF's "SAME" padding instead.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_senet.layers import get_attention

# PyTorch BatchNorm2d defaults (eps=1e-5, momentum=0.1 == Keras momentum 0.9).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
# timm's ports of TensorFlow models (tf_ prefix) keep TF's BatchNorm epsilon.
TF_BN_EPSILON = 1e-3


def channels_axis():
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def channels_of(x):
    return int(x.shape[channels_axis()])


def batch_norm(x, name, epsilon=BN_EPSILON):
    """BatchNorm with PyTorch's defaults (or `epsilon`)."""
    return layers.BatchNormalization(axis=channels_axis(), epsilon=epsilon, momentum=BN_MOMENTUM, name=name)(x)


def conv2d(x, filters, kernel_size, stride=1, groups=1, use_bias=False, padding="pytorch", name=None):
    """Convolution with PyTorch's symmetric ``kernel_size // 2`` padding (``padding="pytorch"``) or
    TensorFlow's ``"same"`` (``padding="same"``: pads the extra pixel bottom/right, as timm's ``tf_``
    models do). Bias-free by default (a BatchNorm follows)."""
    if padding == "same":
        mode = "same"
    else:
        pad = kernel_size // 2
        if stride > 1 and pad > 0:
            x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
            mode = "valid"
        else:
            mode = "same" if pad > 0 else "valid"
    return layers.Conv2D(filters, kernel_size, strides=stride, padding=mode, groups=groups,
                         use_bias=use_bias, name=name)(x)


def depthwise_conv2d(x, kernel_size, stride=1, padding="pytorch", name=None):
    """Depthwise convolution (one filter per channel, no bias) with `conv2d`'s padding rules; a
    ``DepthwiseConv2D`` rather than a grouped ``Conv2D``, which TFLite and the CPU kernels run natively."""
    pad = kernel_size // 2
    if padding == "same":
        mode = "same"
    elif stride > 1 and pad > 0:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        mode = "valid"
    else:
        mode = "same" if pad > 0 else "valid"
    # He-normal over the kernel window (timm's and keras.applications' depthwise init); Keras' default
    # (Glorot over window x channels) shrinks every depthwise layer's output by ~the channel count, so a
    # from-scratch MobileNet's logits stopped depending on its input.
    initializer = keras.initializers.VarianceScaling(2.0, "fan_out", "truncated_normal")
    return layers.DepthwiseConv2D(kernel_size, strides=stride, padding=mode, use_bias=False,
                                  depthwise_initializer=initializer, name=name)(x)


# timm activation name -> Keras activation (Keras 3's hard_sigmoid/hard_silu are timm's: relu6(x+3)/6).
ACTIVATIONS = {
    "relu": "relu",
    "relu6": "relu6",
    "swish": "silu",
    "silu": "silu",
    "hard_swish": "hard_silu",
    "hard_sigmoid": "hard_sigmoid",
    "sigmoid": "sigmoid",
    "gelu": "gelu",
}


def activation(x, kind, name):
    """Activation `kind` (timm's name, see `ACTIVATIONS`); ReLU as a ``ReLU`` layer."""
    if kind == "relu":
        return layers.ReLU(name=name)(x)
    if kind not in ACTIVATIONS:
        raise ValueError(f"activation {kind!r} is not one of {', '.join(ACTIVATIONS)}")
    return layers.Activation(ACTIVATIONS[kind], name=name)(x)


def attention(x, kind, name, kwargs=(), reduction=None):
    """The attention layer `kind` (a `get_attention` name, or None for none) applied to `x`.

    `kwargs` are the layer's keyword arguments as ``(key, value)`` pairs; with `reduction` the layer
    gets ``rd_channels = channels // reduction`` (the legacy SENet rule) instead of its own rule.
    """
    if not kind:
        return x
    kwargs = dict(kwargs)
    if reduction:
        kwargs["rd_channels"] = channels_of(x) // reduction
    return get_attention(kind, name=name, **kwargs)(x)


def classifier_head(x, *, include_top, pooling, classes, classifier_activation, classifier, drop_rate=0.0):
    """keras.applications' top: global average pooling (+ dropout) + Dense `classifier`; without the
    top, optional global ``"avg"`` / ``"max"`` pooling."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if drop_rate:
            x = layers.Dropout(drop_rate, name="dropout")(x)
        return layers.Dense(classes, activation=classifier_activation, name=classifier)(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x
