"""ReXNet builder, exactly as `timm/models/rexnet.py` builds it.

Layout (Keras names are timm's module paths with "." -> "_"):

* stem: ``stem_conv`` (3x3, stride 2) -> ``stem_bn`` + ``stem_bn_act`` (swish);
* ``features_<i>`` linear bottleneck: [``conv_exp_conv`` (1x1) -> ``conv_exp_bn`` + swish] ->
  ``conv_dw_conv`` (3x3 depthwise) -> ``conv_dw_bn`` -> ``se`` (`SqueezeExcite` with BatchNorm in its
  bottleneck, timm's ``SEWithNorm``) -> ``act_dw`` (ReLU6) -> ``conv_pwl_conv`` (1x1) -> ``conv_pwl_bn``;
  with a shortcut the input is added onto the first ``in_channels`` output channels (timm's
  ``torch.cat([x[:, :in] + shortcut, x[:, in:]])``: ``_split`` / ``_add`` / ``_concat``);
* ``features_<n>``: the head conv ``features_<n>_conv`` (1x1) -> ``_bn`` + swish;
* head: average pooling, dropout, ``head_fc`` (timm's ``head.fc``).
"""

from __future__ import annotations

from keras import layers

from keras_senet.layers import SplitChannels
from keras_senet.models._blocks import (activation, attention, batch_norm, channels_axis,
                                        classifier_head, conv2d, depthwise_conv2d)
from keras_senet.models.family import FeatureInfo
from keras_senet.models.rexnet_spec import RexNetSpec, decode


def _conv_bn(x, filters, kernel_size, name, stride=1, act=None):
    """timm ``ConvNormAct``: ``<name>_conv`` -> ``<name>_bn`` (+ activation ``<name>_bn_act``)."""
    x = conv2d(x, filters, kernel_size, stride, name=f"{name}_conv")
    x = batch_norm(x, f"{name}_bn")
    return activation(x, act, f"{name}_bn_act") if act else x


def _se(x, spec, block):
    if not block.se_channels or not spec.attention:
        return x
    kwargs = dict(spec.attention_kwargs)
    if spec.attention == "se":
        kwargs = dict(rd_channels=block.se_channels, use_norm=True, **kwargs)
    return attention(x, spec.attention, f"{block.name}_se", tuple(kwargs.items()))


def _block(x, spec, block):
    name = block.name
    shortcut = x
    if block.expand:
        x = _conv_bn(x, block.mid_channels, 1, f"{name}_conv_exp", act=spec.activation)
    x = depthwise_conv2d(x, 3, block.stride, name=f"{name}_conv_dw_conv")
    x = batch_norm(x, f"{name}_conv_dw_bn")
    x = _se(x, spec, block)
    x = activation(x, spec.dw_activation, f"{name}_act_dw")
    x = _conv_bn(x, block.out_channels, 1, f"{name}_conv_pwl")
    if not block.has_skip:
        return x
    if block.in_channels == block.out_channels:
        return layers.Add(name=f"{name}_add")([x, shortcut])
    head, tail = SplitChannels((block.in_channels, block.out_channels - block.in_channels),
                               name=f"{name}_split")(x)
    head = layers.Add(name=f"{name}_add")([head, shortcut])
    return layers.Concatenate(axis=channels_axis(), name=f"{name}_concat")([head, tail])


def feature_info(spec: RexNetSpec):
    """timm's ``feature_info``: the input of every strided block (the stem's output for the first), and
    the last bottleneck (before the head conv)."""
    blocks = decode(spec)
    info, stride, channels, layer = [], 2, spec.stem_channels, "stem_bn_act"
    for block in blocks:
        if block.stride > 1:
            info.append(FeatureInfo(len(info), layer, channels, stride))
        stride *= block.stride
        channels, layer = block.out_channels, block.output_layer
    info.append(FeatureInfo(len(info), layer, channels, stride))
    return tuple(info)


def num_features(spec: RexNetSpec):
    """Channels of the pooled features (the head conv's width), timm's ``num_features``."""
    return spec.head_channels


def classifier(spec: RexNetSpec):
    return "head_fc"


def first_conv(spec: RexNetSpec):
    return "stem_conv"


def describe(spec: RexNetSpec):
    """One line for `keras-senet list -v`."""
    blocks = decode(spec)
    with_se = sum(1 for block in blocks if block.se_channels)
    return (f"rexnet        blocks={len(blocks)} (SE in {with_se})  act={spec.activation}  "
            f"attention={spec.attention or '-'}")


def build(spec: RexNetSpec, inputs, *, include_top=True, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """The output tensor of `spec`'s network on `inputs`.

    Args:
        spec: the architecture.
        inputs: a Keras tensor ``(batch, height, width, 3)`` (channels-last) or ``(batch, 3, height, width)``.
        include_top: add pooling, dropout and the classifier ``head_fc``.
        pooling: without the top: ``None`` (the 4-D feature map at 1/32 of the input size, after the head
            conv, as timm's ``forward_features``), ``"avg"`` or ``"max"`` (2-D ``(batch, num_features)``).
        classes: classifier outputs.
        classifier_activation: activation of the classifier; ``None`` returns logits.
    """
    x = _conv_bn(inputs, spec.stem_channels, 3, "stem", stride=2, act=spec.activation)
    blocks = decode(spec)
    for block in blocks:
        x = _block(x, spec, block)
    x = _conv_bn(x, spec.head_channels, 1, f"features_{len(blocks)}", act=spec.activation)
    return classifier_head(x, include_top=include_top, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, classifier="head_fc",
                           drop_rate=spec.drop_rate)
