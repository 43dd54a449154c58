"""One builder for the inverted-residual family: MobileNetV3, EfficientNet (and -Lite, -EdgeTPU), MnasNet,
LCNet, FBNetV3, TinyNet, HardCoReNAS and MixNet, each exactly as timm builds it.

A `MobileSpec` (`keras_senet.models.mobile_spec`) keeps timm's block strings; `decode` resolves them into
blocks, and `build` lays the blocks out as `timm/models/_efficientnet_blocks.py` does:

* ``ds``/``dsa`` DepthwiseSeparableConv: ``conv_dw`` (depthwise) -> ``bn1`` + act -> SE -> ``conv_pw`` ->
  ``bn2`` (+ act for ``dsa``) (+ skip);
* ``ir`` InvertedResidual: ``conv_pw`` -> ``bn1`` + act -> ``conv_dw`` -> ``bn2`` + act -> SE -> ``conv_pwl``
  -> ``bn3`` (+ skip);
* ``er`` EdgeResidual: ``conv_exp`` (full conv) -> ``bn1`` + act -> SE -> ``conv_pwl`` -> ``bn2`` (+ skip);
* ``cn`` ConvBnAct: ``conv`` -> ``bn1`` + act.

Keras layer names are timm's module paths with "." -> "_" (``conv_stem``, ``bn1``, ``blocks_1_0_conv_dw``,
``blocks_1_0_se``, ``conv_head``, ``classifier``); timm's BatchNormAct2d becomes a BatchNormalization
``<bn>`` and an activation ``<bn>_act``. A mixed (MixNet) convolution is ``<conv>_split`` (`SplitChannels`),
one convolution per split ``<conv>_<i>`` and a concatenation ``<conv>``. The SE layer is
`keras_senet.layers.SqueezeExcite` with timm's width, activation and gate, so ``attention=`` ablations
swap it like in the ResNet family.
"""

from __future__ import annotations

from keras import layers

from keras_senet.layers import SplitChannels
from keras_senet.models._blocks import (ACTIVATIONS, activation, attention, batch_norm, channels_axis,
                                        classifier_head, conv2d, depthwise_conv2d)
from keras_senet.models.family import FeatureInfo
from keras_senet.models.mobile_spec import MobileSpec, decode


def _split_channels(channels, parts):
    """timm ``_split_channels``: equal splits, the remainder to the first."""
    split = [channels // parts] * parts
    split[0] += channels - sum(split)
    return split


def _conv(x, spec, filters, kernel_size, stride=1, depthwise=False, use_bias=False, name=None):
    """timm ``create_conv2d``: one conv, or a MixedConv2d when `kernel_size` has several entries."""
    if len(kernel_size) == 1:
        if depthwise:
            return depthwise_conv2d(x, kernel_size[0], stride, padding=spec.padding, name=name)
        return conv2d(x, filters, kernel_size[0], stride, use_bias=use_bias, padding=spec.padding, name=name)
    in_splits = _split_channels(int(x.shape[channels_axis()]), len(kernel_size))
    out_splits = _split_channels(filters, len(kernel_size))
    parts = SplitChannels(in_splits, name=f"{name}_split")(x)
    outputs = []
    for i, (k, part, out) in enumerate(zip(kernel_size, parts, out_splits)):
        if depthwise:
            outputs.append(depthwise_conv2d(part, k, stride, padding=spec.padding, name=f"{name}_{i}"))
        else:
            outputs.append(conv2d(part, out, k, stride, padding=spec.padding, name=f"{name}_{i}"))
    return layers.Concatenate(axis=channels_axis(), name=name)(outputs)


def _bn_act(x, spec, name, act=None):
    """timm's BatchNormAct2d: BN ``name`` then (if `act`) the activation ``name_act``."""
    x = batch_norm(x, name, epsilon=spec.bn_epsilon)
    return activation(x, act, f"{name}_act") if act else x


def _se(x, spec, block):
    if not block.se_channels or not spec.attention:
        return x
    kwargs = dict(spec.attention_kwargs)
    if spec.attention == "se":
        kwargs = dict(rd_channels=block.se_channels, gate=spec.se_gate,
                      activation=ACTIVATIONS[spec.se_activation or block.activation], **kwargs)
    return attention(x, spec.attention, f"{block.name}_se", tuple(kwargs.items()))


def _block(x, spec, block):
    name, act = block.name, block.activation
    shortcut = x
    if block.kind in ("ds", "dsa"):
        x = _conv(x, spec, block.in_channels, block.kernel_size, block.stride, depthwise=True,
                  name=f"{name}_conv_dw")
        x = _bn_act(x, spec, f"{name}_bn1", act)
        x = _se(x, spec, block)
        x = _conv(x, spec, block.out_channels, block.pw_kernel_size, name=f"{name}_conv_pw")
        x = _bn_act(x, spec, f"{name}_bn2", act if block.pw_act else None)
    elif block.kind == "ir":
        x = _conv(x, spec, block.mid_channels, block.exp_kernel_size, name=f"{name}_conv_pw")
        x = _bn_act(x, spec, f"{name}_bn1", act)
        x = _conv(x, spec, block.mid_channels, block.kernel_size, block.stride, depthwise=True,
                  name=f"{name}_conv_dw")
        x = _bn_act(x, spec, f"{name}_bn2", act)
        x = _se(x, spec, block)
        x = _conv(x, spec, block.out_channels, block.pw_kernel_size, name=f"{name}_conv_pwl")
        x = _bn_act(x, spec, f"{name}_bn3")
    elif block.kind == "er":
        x = _conv(x, spec, block.mid_channels, block.kernel_size, block.stride, name=f"{name}_conv_exp")
        x = _bn_act(x, spec, f"{name}_bn1", act)
        x = _se(x, spec, block)
        x = _conv(x, spec, block.out_channels, block.pw_kernel_size, name=f"{name}_conv_pwl")
        x = _bn_act(x, spec, f"{name}_bn2")
    else:  # cn
        x = _conv(x, spec, block.out_channels, block.kernel_size, block.stride, name=f"{name}_conv")
        x = _bn_act(x, spec, f"{name}_bn1", act)
    if block.has_skip:
        x = layers.Add(name=f"{name}_add")([x, shortcut])
    return x


def feature_info(spec: MobileSpec):
    """timm's ``feature_info``: the stem (when the first block is strided) and the end of every stage
    followed by a strided stage, and the last stage."""
    stages = decode(spec)
    info = []
    if stages[0][0].stride > 1:
        info.append(FeatureInfo(0, "bn1_act", spec.stem_channels, 2))
    stride = 2
    for index, stage in enumerate(stages):
        for block in stage:
            stride *= block.stride
        if index + 1 == len(stages) or stages[index + 1][0].stride > 1:
            last = stage[-1]
            info.append(FeatureInfo(len(info), last.output_layer, last.out_channels, stride))
    return tuple(info)


def num_features(spec: MobileSpec):
    """Channels of the pooled features (``include_top=False, pooling="avg"``), timm's ``num_features``."""
    if spec.head == "efficientnet" and spec.num_features:
        return spec.num_features
    return decode(spec)[-1][-1].out_channels


def classifier(spec: MobileSpec):
    return "classifier"


def head_layers(spec: MobileSpec):
    """The layers after global pooling: MobileNetV3-style heads have ``conv_head`` there too."""
    return ("classifier",) if spec.head == "efficientnet" else ("conv_head", "classifier")


def first_conv(spec: MobileSpec):
    return "conv_stem"


def describe(spec: MobileSpec):
    """One line for `keras-senet list -v`."""
    blocks = [block for stage in decode(spec) for block in stage]
    with_se = sum(1 for block in blocks if block.se_channels)
    return (f"{spec.head:<12}  blocks={len(blocks)} (SE in {with_se})  act={spec.activation}  "
            f"attention={spec.attention or '-'}")


def build(spec: MobileSpec, inputs, *, include_top=True, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """The output tensor of `spec`'s network on `inputs`.

    Args:
        spec: the architecture.
        inputs: a Keras tensor ``(batch, height, width, 3)`` (channels-last) or ``(batch, 3, height, width)``.
        include_top: add the head (EfficientNet: pooling + ``classifier``; MobileNetV3: pooling +
            ``conv_head`` + activation + ``classifier``).
        pooling: without the top: ``None`` (the 4-D feature map at 1/32 of the input size: after
            ``conv_head``/``bn2`` for EfficientNet-style heads, after the last block for MobileNetV3-style
            heads, as timm's ``forward_features``), ``"avg"`` or ``"max"`` (2-D ``(batch, num_features)``).
        classes: classifier outputs.
        classifier_activation: activation of the classifier; ``None`` returns logits.
    """
    x = conv2d(inputs, spec.stem_channels, 3, 2, padding=spec.padding, name="conv_stem")
    x = _bn_act(x, spec, "bn1", spec.activation)
    for stage in decode(spec):
        for block in stage:
            x = _block(x, spec, block)
    if spec.head == "efficientnet":
        if spec.num_features:
            x = conv2d(x, spec.num_features, 1, padding=spec.padding, name="conv_head")
            x = _bn_act(x, spec, "bn2", spec.activation)
        return classifier_head(x, include_top=include_top, pooling=pooling, classes=classes,
                               classifier_activation=classifier_activation, classifier="classifier",
                               drop_rate=spec.drop_rate)
    if not include_top:
        return classifier_head(x, include_top=False, pooling=pooling, classes=classes,
                               classifier_activation=None, classifier="classifier")
    # timm pools, applies the 1x1 ``conv_head`` to the 1x1 map and flattens; a Dense on the pooled vector is
    # the same function (the converter maps 1x1 conv weights onto Dense), without a Flatten whose dynamic
    # batch reshape becomes SHAPE/STRIDED_SLICE/PACK ops in TFLite.
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dense(spec.num_features, use_bias=spec.head_bias, name="conv_head")(x)
    x = activation(x, spec.activation, "act2")
    if spec.drop_rate:
        x = layers.Dropout(spec.drop_rate, name="dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name="classifier")(x)
