"""U-Net decoder over any feature-pyramid backbone (Ronneberger et al., "U-Net", MICCAI 2015).

The decoder of segmentation_models / segmentation_models_pytorch's ``Unet``: starting from the deepest
feature map, each block upsamples by 2 (bilinear: it exports to TFLite builtins), concatenates the backbone's feature map of that stride (when the
backbone returns one), and applies two 3x3 conv-BN-ReLU; optional attention on the concatenation and on
the block's output, as in the scSE paper (Roy et al., MICCAI 2018) and smp's ``decoder_attention_type``.
"""

from __future__ import annotations

import keras

from keras_senet.segmentation.pyramid import feature_pyramid, level_of

DEFAULT_DECODER_CHANNELS = (256, 128, 64, 32, 16)


def _channels_axis():
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def _check_arguments(classes, decoder_channels, decoder_attention, attention_kwargs, activation):
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    channels = tuple(decoder_channels) if isinstance(decoder_channels, (list, tuple)) else None
    if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
        raise ValueError(f"decoder_channels must be a non-empty tuple of positive integers (one per decoder block, "
                         f"deepest first), got {decoder_channels!r}")
    if decoder_attention is not None:
        from keras_senet.layers import get_attention

        get_attention(decoder_attention, **dict(attention_kwargs or {}))  # validates name and arguments
    elif attention_kwargs:
        raise ValueError(f"attention_kwargs={attention_kwargs!r} given without decoder_attention")
    if activation is not None:
        keras.activations.get(activation)  # ValueError naming an unknown activation
    return channels


def _conv_bn_relu(x, channels, name):
    x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(axis=_channels_axis(), momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _attention(x, kind, kwargs, name):
    if kind is None:
        return x
    from keras_senet.layers import get_attention

    return get_attention(kind, name=name, **dict(kwargs or {}))(x)


def decoder_block(x, skip, channels, name, attention=None, attention_kwargs=None):
    """One U-Net decoder block: ``(B, h, w, C) -> (B, 2h, 2w, channels)``.

    Bilinear x2 upsampling, concatenation with `skip` (``(B, 2h, 2w, C_skip)`` or None),
    `attention` on the concatenation, two 3x3 conv-BN-ReLU, `attention` on the result.
    """
    # bilinear, not smp's nearest: Keras' nearest UpSampling2D is an ops.repeat that the TFLite converter
    # leaves as TF (Flex) ops, while bilinear is the builtin RESIZE_BILINEAR (and ONNX Resize)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_upsample")(x)
    if skip is not None:
        x = keras.layers.Concatenate(axis=_channels_axis(), name=f"{name}_concat")([x, skip])
        x = _attention(x, attention, attention_kwargs, f"{name}_attention1")
    x = _conv_bn_relu(x, channels, f"{name}_1")
    x = _conv_bn_relu(x, channels, f"{name}_2")
    return _attention(x, attention, attention_kwargs, f"{name}_attention2")


def UNet(backbone, classes=1, *, weights=None, out_indices=None, input_shape=(None, None, 3),
         decoder_channels=DEFAULT_DECODER_CHANNELS, decoder_attention=None, attention_kwargs=None,
         activation=None, name=None):
    """A U-Net: the backbone's feature pyramid, a decoder, and a per-pixel classifier.

    Args:
        backbone: a registry name (``"seresnet18"``, ``"mobilenetv3_large_100"``), a model from
            ``keras_senet.create_model(name, features_only=True)``, or any model whose outputs are a dict
            keyed ``"P<level>"`` (or a keras-hub backbone with ``pyramid_outputs``).
        classes: output channels (classes for softmax, 1 for a binary mask). Default 1.
        weights: with a registry name: the backbone's weights (None, ``"imagenet"``, a tag, a file ...).
        out_indices: with a registry name: the backbone levels to use (timm's numbering), default None:
            all, strides 2 to 32 (the deepest starts the decoder, the others are skip connections).
        input_shape: with a registry name: ``(height, width, 3)``, default ``(None, None, 3)``. Height and
            width must be multiples of ``2**deepest level`` (32 for the usual P5).
        decoder_channels: output channels of each decoder block, deepest first; default
            ``(256, 128, 64, 32, 16)``. Each block doubles the resolution; with fewer blocks than the deepest
            level, a final bilinear upsampling restores the input size.
        decoder_attention: None (default), ``"scse"`` (the scSE paper's decoder), ``"se"`` or any name of
            `keras_senet.layers.list_attention()`: applied to each block's concatenation and output.
        attention_kwargs: arguments of the attention layer, e.g. ``{"rd_ratio": 1 / 8}``.
        activation: of the output: None (logits, default), ``"sigmoid"``, ``"softmax"``, ...
        name: model name; default ``"unet_<backbone name>"``.

    Returns:
        A functional `keras_senet.models.ZooModel`: ``(B, H, W, 3) -> (B, H, W, classes)``, carrying the
        backbone's preprocessing config when it has one.
    """
    channels = _check_arguments(classes, decoder_channels, decoder_attention, attention_kwargs, activation)
    pyramid = feature_pyramid(backbone, weights=weights, out_indices=out_indices, input_shape=input_shape)
    features = {level_of(key): tensor for key, tensor in pyramid.output.items()}
    deepest = max(features)
    if len(channels) > deepest:
        raise ValueError(f"decoder_channels={decoder_channels!r} has {len(channels)} blocks, but the deepest "
                         f"feature map (P{deepest}) is only {deepest} doublings from the input size")
    unused = sorted(level for level in features if level < deepest - len(channels))
    if unused:
        raise ValueError(f"decoder_channels={decoder_channels!r}: {len(channels)} blocks from P{deepest} stop at "
                         f"P{deepest - len(channels)}, so the backbone's {', '.join(f'P{u}' for u in unused)} "
                         "would be unused; add blocks or drop those levels from out_indices.")
    image = pyramid.inputs[0]
    spatial = image.shape[1:3] if _channels_axis() == -1 else image.shape[2:4]
    if any(size is not None and size % 2**deepest for size in spatial):
        raise ValueError(f"input size {tuple(spatial)}: a U-Net over P{deepest} needs height and width that are "
                         f"multiples of {2**deepest}")

    x = features[deepest]
    for block, block_channels in enumerate(channels):
        level = deepest - block - 1
        x = decoder_block(x, features.get(level), block_channels, f"decoder_block{block + 1}",
                          attention=decoder_attention, attention_kwargs=attention_kwargs)
    remaining = deepest - len(channels)
    if remaining:
        x = keras.layers.UpSampling2D(2**remaining, interpolation="bilinear", name="decoder_upsample")(x)
    x = keras.layers.Conv2D(classes, 3, padding="same", name="segmentation_head")(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name="segmentation_activation")(x)

    from keras_senet.models import ZooModel

    inputs = pyramid.inputs[0] if len(pyramid.inputs) == 1 else pyramid.inputs
    return ZooModel(inputs, x, name=name or f"unet_{pyramid.name}",
                    preprocessing=getattr(pyramid, "preprocessing", None))
