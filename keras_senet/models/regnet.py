"""The RegNet family (RegNetY: Radosavovic et al., "Designing Network Design Spaces", CVPR 2020), exactly as
`timm/models/regnet.py` builds it.

A `RegNetSpec` (`keras_senet.models.regnet_spec`) keeps timm's ``RegNetCfg`` numbers; `stages` resolves them
into blocks. Each block is timm's ``Bottleneck``: ``conv1`` (1x1 conv + BN + act) -> ``conv2`` (3x3 grouped
conv, the stage's stride, + BN + act) -> ``se`` (SE on the bottleneck width, hidden width from the block
*input*, ReLU inside, sigmoid gate) -> ``conv3`` (1x1 conv + BN) -> + shortcut (identity, or ``downsample``:
1x1 strided conv + BN) -> ``act3``. The stem is a 3x3 stride-2 conv + BN + act; the head global average
pooling + ``head.fc``.

Keras layer names are timm's module paths with "." -> "_": ``stem_conv``, ``stem_bn``, ``s1_b1_conv1_conv``,
``s1_b1_conv1_bn``, ``s1_b1_se``, ``s1_b1_downsample_conv``, ``head_fc``; timm's BatchNormAct2d becomes a
BatchNormalization ``<bn>`` and an activation ``<bn>_act``.
"""

from __future__ import annotations

from keras import layers

from keras_senet.models._blocks import ACTIVATIONS, activation, attention, batch_norm, classifier_head, conv2d
from keras_senet.models.family import FeatureInfo
from keras_senet.models.regnet_spec import RegNetSpec, stages


def _conv_norm_act(x, spec, filters, kernel_size, name, stride=1, groups=1, act=True):
    """timm's ConvNormAct: ``<name>_conv``, ``<name>_bn`` and (if `act`) ``<name>_bn_act``."""
    x = conv2d(x, filters, kernel_size, stride, groups=groups, name=f"{name}_conv")
    x = batch_norm(x, f"{name}_bn")
    return activation(x, spec.activation, f"{name}_bn_act") if act else x


def _se(x, spec, block):
    if not block.se_channels or not spec.attention:
        return x
    kwargs = dict(spec.attention_kwargs)
    if spec.attention == "se":
        kwargs = dict(rd_channels=block.se_channels, activation=ACTIVATIONS[spec.activation], **kwargs)
    return attention(x, spec.attention, f"{block.name}_se", tuple(kwargs.items()))


def _block(x, spec, block):
    name = block.name
    shortcut = x
    x = _conv_norm_act(x, spec, block.bottleneck_channels, 1, f"{name}_conv1")
    x = _conv_norm_act(x, spec, block.bottleneck_channels, 3, f"{name}_conv2", stride=block.stride,
                       groups=block.groups)
    x = _se(x, spec, block)
    x = _conv_norm_act(x, spec, block.out_channels, 1, f"{name}_conv3", act=False)
    if block.has_projection:
        shortcut = _conv_norm_act(shortcut, spec, block.out_channels, 1, f"{name}_downsample",
                                  stride=block.stride, act=False)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return activation(x, spec.activation, f"{name}_act3")


def feature_info(spec: RegNetSpec):
    """timm's ``feature_info``: the stem (stride 2) and the end of each stage ``s1``..``s4`` (4 ... 32)."""
    info = [FeatureInfo(0, "stem_bn_act", spec.stem_width, 2)]
    for index, stage in enumerate(stages(spec), start=1):
        info.append(FeatureInfo(index, f"{stage[-1].name}_act3", stage[-1].out_channels, 2 ** (index + 1)))
    return tuple(info)


def num_features(spec: RegNetSpec):
    return stages(spec)[-1][-1].out_channels


def classifier(spec: RegNetSpec):
    return "head_fc"


def first_conv(spec: RegNetSpec):
    return "stem_conv"


def describe(spec: RegNetSpec):
    """One line for `keras-senet list -v`."""
    blocks = stages(spec)
    depths = "-".join(str(len(stage)) for stage in blocks)
    widths = "-".join(str(stage[0].out_channels) for stage in blocks)
    attention = (spec.attention or "-") if spec.se_ratio else "-"
    return f"regnet      depths={depths}  widths={widths}  attention={attention}"


def build(spec: RegNetSpec, inputs, *, include_top=True, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """The output tensor of `spec`'s network on `inputs`.

    Args:
        spec: the architecture.
        inputs: a Keras tensor ``(batch, height, width, 3)`` (channels-last) or ``(batch, 3, height, width)``.
        include_top: add global average pooling (+ dropout) + the ``head_fc`` classifier.
        pooling: without the top: ``None`` (the 4-D output of the last stage, 1/32 of the input size, timm's
            ``forward_features``), ``"avg"`` or ``"max"`` (2-D ``(batch, num_features)``).
        classes: classifier outputs.
        classifier_activation: activation of the classifier; ``None`` returns logits.
    """
    x = _conv_norm_act(inputs, spec, spec.stem_width, 3, "stem", stride=2)
    for stage in stages(spec):
        for block in stage:
            x = _block(x, spec, block)
    return classifier_head(x, include_top=include_top, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, classifier="head_fc",
                           drop_rate=spec.drop_rate)
