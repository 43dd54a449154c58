"""ByobNet bottleneck ResNets with SE / ECA / GC attention (timm's ``seresnext26ts``, ``gcresnet33ts``,
``gcresnet50t`` ...), exactly as `timm/models/byobnet.py` builds them.

A `ByobNetSpec` (`keras_senet.models.byobnet_spec`) keeps timm's ``ByoModelCfg`` numbers; `decode` resolves
them into blocks. Layout (Keras names are timm's module paths with "." -> "_"; timm's ``ConvNormAct`` is
``<name>_conv`` -> ``<name>_bn`` (+ ``<name>_bn_act``)):

* tiered stem: ``stem_conv1`` (3x3, stride 2), ``stem_conv2`` (3x3), ``stem_conv3`` (3x3; stride 2 without
  a pool), then with ``stem_pool="maxpool"`` timm's ``MaxPool2d(3, 2, padding=1)`` as ``stem_pool`` (3x3
  stride-1 max pool with -inf padding, Keras' "same") + ``stem_pool_subsample`` (every second position):
  exact for the negative values SiLU leaves, where zero padding is not;
* ``stages_<s>_<i>`` ``BottleneckBlock``: ``conv1_1x1`` (+ act) -> ``conv2_kxk`` (3x3, grouped, the
  stage's stride, + act) -> ``attn`` -> ``conv3_1x1`` (no act) -> ``_add`` with the shortcut (identity,
  or ``shortcut`` 1x1 conv + BN) -> ``_act``;
* ``final_conv`` (1x1 + act to ``num_features``) where the spec has one, still part of the features
  (timm's ``forward_features`` and last ``feature_info`` entry);
* head: global average pooling (+ dropout), ``head_fc``.
"""

from __future__ import annotations

from keras import layers

from keras_senet.models._blocks import activation, attention, batch_norm, classifier_head, conv2d
from keras_senet.models.byobnet_spec import ByobNetSpec, decode
from keras_senet.models.family import FeatureInfo


def _conv_norm_act(x, spec, filters, kernel_size, name, stride=1, groups=1, act=True):
    """timm's ConvNormAct: ``<name>_conv``, ``<name>_bn`` and (if `act`) ``<name>_bn_act``."""
    x = conv2d(x, filters, kernel_size, stride, groups=groups, name=f"{name}_conv")
    x = batch_norm(x, f"{name}_bn")
    return activation(x, spec.activation, f"{name}_bn_act") if act else x


def _stem(x, spec):
    """timm's tiered ``Stem``: three 3x3 ConvNormAct, stride 4 in all."""
    pooled = spec.stem_pool == "maxpool"
    for index, width in enumerate(spec.stem_widths, start=1):
        stride = 2 if index == 1 or (index == 3 and not pooled) else 1
        x = _conv_norm_act(x, spec, width, 3, f"stem_conv{index}", stride=stride)
    if pooled:
        # MaxPool2d(3, 2, padding=1) pads with -inf; output i covers inputs 2i-1..2i+1, the window of a
        # stride-1 "same" 3x3 max pool at 2i, so that pool followed by taking every second position is it.
        x = layers.MaxPooling2D(3, strides=1, padding="same", name="stem_pool")(x)
        x = layers.MaxPooling2D(1, strides=2, name="stem_pool_subsample")(x)
    return x


def _block(x, spec, block):
    name = block.name
    shortcut = x
    x = _conv_norm_act(x, spec, block.mid_channels, 1, f"{name}_conv1_1x1")
    x = _conv_norm_act(x, spec, block.mid_channels, 3, f"{name}_conv2_kxk", stride=block.stride,
                       groups=block.groups)
    x = attention(x, spec.attention, f"{name}_attn", spec.attention_kwargs)
    x = _conv_norm_act(x, spec, block.out_channels, 1, f"{name}_conv3_1x1", act=False)
    if block.has_projection:
        shortcut = _conv_norm_act(shortcut, spec, block.out_channels, 1, f"{name}_shortcut", stride=block.stride,
                                  act=False)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return activation(x, spec.activation, f"{name}_act")


def feature_info(spec: ByobNetSpec):
    """timm's ``feature_info``: the stem at stride 2 (``stem.conv3`` before the max pool, else ``stem.conv2``
    before the strided last conv), the ends of stages 0..2 (strides 4, 8, 16) and ``final_conv`` (the last
    stage's output where there is no final conv) at stride 32."""
    stages = decode(spec)
    if spec.stem_pool == "maxpool":
        info = [FeatureInfo(0, "stem_conv3_bn_act", spec.stem_widths[2], 2)]
    else:
        info = [FeatureInfo(0, "stem_conv2_bn_act", spec.stem_widths[1], 2)]
    for index, stage in enumerate(stages[:-1], start=1):
        info.append(FeatureInfo(index, f"{stage[-1].name}_act", stage[-1].out_channels, 2 ** (index + 1)))
    if spec.num_features:
        last = FeatureInfo(len(stages), "final_conv_bn_act", spec.num_features, 2 ** (len(stages) + 1))
    else:
        last = FeatureInfo(len(stages), f"{stages[-1][-1].name}_act", stages[-1][-1].out_channels,
                           2 ** (len(stages) + 1))
    return tuple(info + [last])


def num_features(spec: ByobNetSpec):
    return spec.num_features or decode(spec)[-1][-1].out_channels


def classifier(spec: ByobNetSpec):
    return "head_fc"


def first_conv(spec: ByobNetSpec):
    return "stem_conv1_conv"


def describe(spec: ByobNetSpec):
    """One line for `keras-senet list -v`."""
    stages = decode(spec)
    depths = "-".join(str(len(stage)) for stage in stages)
    groups = f"  gs={spec.group_size}" if spec.group_size else ""
    head = f"  final_conv={spec.num_features}" if spec.num_features else ""
    kwargs = ", ".join(f"{key}={value}" for key, value in spec.attention_kwargs)
    attention = f"{spec.attention}({kwargs})" if spec.attention and kwargs else spec.attention or "-"
    return (f"byobnet     depths={depths}{groups}  stem=tiered{'+maxpool' if spec.stem_pool else ''}{head}  "
            f"act={spec.activation}  attention={attention}")


def build(spec: ByobNetSpec, inputs, *, include_top=True, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """The output tensor of `spec`'s network on `inputs`.

    Args:
        spec: the architecture.
        inputs: a Keras tensor ``(batch, height, width, 3)`` (channels-last) or ``(batch, 3, height, width)``.
        include_top: add global average pooling (+ dropout) + the ``head_fc`` classifier.
        pooling: without the top: ``None`` (the 4-D output of the last stage, after ``final_conv`` where the
            spec has one, 1/32 of the input size: timm's ``forward_features``), ``"avg"`` or ``"max"`` (2-D
            ``(batch, num_features)``).
        classes: classifier outputs.
        classifier_activation: activation of the classifier; ``None`` returns logits.
    """
    x = _stem(inputs, spec)
    for stage in decode(spec):
        for block in stage:
            x = _block(x, spec, block)
    if spec.num_features:
        x = _conv_norm_act(x, spec, spec.num_features, 1, "final_conv")
    return classifier_head(x, include_top=include_top, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, classifier="head_fc",
                           drop_rate=spec.drop_rate)
