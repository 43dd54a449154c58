"""GhostNet V1 / V2 / V3 builder, exactly as `timm/models/ghostnet.py` builds them.

Layout (Keras names are timm's module paths with "." -> "_"):

* stem: ``conv_stem`` (3x3, stride 2) -> ``bn1`` -> ``act1`` (ReLU);
* ``blocks_<s>_<i>`` ghost bottleneck: ``ghost1`` (ghost module to the expansion width, ReLU) ->
  [stride 2: ``conv_dw`` + ``bn_dw``] -> ``se`` (`SqueezeExcite`, hard-sigmoid gate) -> ``ghost2`` (ghost
  module to the output width, no activation) -> ``_add`` with the shortcut (identity, or
  ``shortcut_0`` depthwise conv + ``shortcut_1`` BN + ``shortcut_2`` 1x1 conv + ``shortcut_3`` BN);
* ghost module V1: ``primary_conv_0`` (1x1 conv) + ``_1`` BN (+ ``_2`` ReLU) makes half the channels,
  ``cheap_operation_0`` (3x3 depthwise) + ``_1`` BN (+ ``_2`` ReLU) the other half, ``_concat``;
* V2 DFC attention (``mode="attn"``): the module's output times ``_gate`` = sigmoid of ``short_conv_0..5``
  (1x1 conv, BN, 1x5 depthwise, BN, 5x1 depthwise, BN) on the 2x2-average-pooled input ``_pool``,
  resized back (`NearestResize`, PyTorch's nearest rule) as ``_gate_resize``;
* V3 (timm's training form): each conv of V1 is three parallel conv + BN branches
  (``primary_rpr_conv_<k>_conv`` / ``_bn1``, ``cheap_rpr_conv_<k>_*``, ``dw_rpr_conv_<k>_*``) plus a 1x1
  branch (``cheap_rpr_scale_*``, ``dw_rpr_scale_*``) and a BN-only branch (``cheap_rpr_skip``), summed;
  ``mode="shortcut"`` adds the V2 DFC attention;
* ``blocks_<n>_0``: the final 1x1 conv ``_conv`` -> ``_bn1`` + ReLU;
* head: ``global_pool``, ``conv_head`` (1x1 with bias, as a Dense on the pooled vector), ``act2`` (ReLU),
  dropout, ``classifier``.
"""

from __future__ import annotations

from keras import layers

from keras_senet.layers import NearestResize, SplitChannels
from keras_senet.models._blocks import (activation, attention, batch_norm, channels_axis, classifier_head, conv2d,
                                        depthwise_conv2d)
from keras_senet.models.family import FeatureInfo
from keras_senet.models.ghostnet_spec import HEAD_HIDDEN, GhostNetSpec, decode, ghost_widths

_RPR_BRANCHES = 3  # timm's num_conv_branches


def _first_channels(x, channels, name):
    """``x[:, :channels]`` (a `SplitChannels` keeping the first group) when `x` has more channels."""
    total = int(x.shape[channels_axis()])
    if total == channels:
        return x
    return SplitChannels((channels, total - channels), name=name)(x)[0]


def _dfc_gate(inputs, out_channels, name):
    """GhostNetV2's DFC attention gate at half resolution: ``short_conv`` on the 2x2-average-pooled input,
    sigmoid (upsampled by the caller)."""
    x = layers.AveragePooling2D(2, strides=2, padding="valid", name=f"{name}_pool")(inputs)
    x = conv2d(x, out_channels, 1, name=f"{name}_short_conv_0")
    x = batch_norm(x, f"{name}_short_conv_1")
    for index, kernel in ((2, (1, 5)), (4, (5, 1))):
        x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False, name=f"{name}_short_conv_{index}")(x)
        x = batch_norm(x, f"{name}_short_conv_{index + 1}")
    return activation(x, "sigmoid", f"{name}_gate")


def _apply_dfc(inputs, out, out_channels, name):
    """``out[:, :out_channels] * nearest_resize(gate(inputs))``."""
    out = _first_channels(out, out_channels, f"{name}_split")
    gate = NearestResize(name=f"{name}_gate_resize")([_dfc_gate(inputs, out_channels, name), out])
    return layers.Multiply(name=f"{name}_attn")([out, gate])


def _ghost_module(inputs, out_channels, name, act, mode):
    """timm ``GhostModule`` (``mode="original"``) / ``GhostModuleV2`` (``mode="attn"``)."""
    primary, _ = ghost_widths(out_channels)  # the cheap half: a depthwise conv of the primary half
    x1 = conv2d(inputs, primary, 1, name=f"{name}_primary_conv_0")
    x1 = batch_norm(x1, f"{name}_primary_conv_1")
    if act:
        x1 = activation(x1, "relu", f"{name}_primary_conv_2")
    x2 = depthwise_conv2d(x1, 3, name=f"{name}_cheap_operation_0")
    x2 = batch_norm(x2, f"{name}_cheap_operation_1")
    if act:
        x2 = activation(x2, "relu", f"{name}_cheap_operation_2")
    out = layers.Concatenate(axis=channels_axis(), name=f"{name}_concat")([x1, x2])
    if mode == "attn":
        return _apply_dfc(inputs, out, out_channels, name)
    return _first_channels(out, out_channels, f"{name}_split")


def _conv_bn_branch(x, filters, name):
    """timm ``ConvBnAct`` (1x1 conv, no activation): ``<name>_conv`` -> ``<name>_bn1``."""
    return batch_norm(conv2d(x, filters, 1, name=f"{name}_conv"), f"{name}_bn1")


def _depthwise_bn_branch(x, kernel_size, stride, name):
    """timm ``ConvBnAct`` with ``group_size=1`` (depthwise), no activation: ``<name>_conv`` -> ``<name>_bn1``."""
    return batch_norm(depthwise_conv2d(x, kernel_size, stride, name=f"{name}_conv"), f"{name}_bn1")


def _ghost_module_v3(inputs, out_channels, name, act, mode):
    """timm ``GhostModuleV3`` in its training form (``mode="original"`` or ``"shortcut"``)."""
    primary, _ = ghost_widths(out_channels)  # the cheap half: a depthwise conv of the primary half
    branches = [_conv_bn_branch(inputs, primary, f"{name}_primary_rpr_conv_{k}")
                for k in range(_RPR_BRANCHES)]
    x1 = layers.Add(name=f"{name}_primary_add")(branches)
    if act:
        x1 = activation(x1, "relu", f"{name}_primary_activation")
    branches = [_depthwise_bn_branch(x1, 1, 1, f"{name}_cheap_rpr_scale"),
                batch_norm(x1, f"{name}_cheap_rpr_skip")]
    branches += [_depthwise_bn_branch(x1, 3, 1, f"{name}_cheap_rpr_conv_{k}")
                 for k in range(_RPR_BRANCHES)]
    x2 = layers.Add(name=f"{name}_cheap_add")(branches)
    if act:
        x2 = activation(x2, "relu", f"{name}_cheap_activation")
    out = layers.Concatenate(axis=channels_axis(), name=f"{name}_concat")([x1, x2])
    if mode == "shortcut":
        return _apply_dfc(inputs, out, out_channels, name)
    return out  # timm returns the whole concatenation here (2 * ceil(out / 2) channels)


def _se(x, spec, block):
    if not block.se_channels or not spec.attention:
        return x
    kwargs = dict(spec.attention_kwargs)
    if spec.attention == "se":
        kwargs = dict(rd_channels=block.se_channels, gate="hard_sigmoid", activation="relu", **kwargs)
    return attention(x, spec.attention, f"{block.name}_se", tuple(kwargs.items()))


def _block(x, spec, block):
    name = block.name
    shortcut = x
    if spec.version == "v3":
        x = _ghost_module_v3(x, block.mid_channels, f"{name}_ghost1", True, block.mode)
        if block.stride > 1:
            branches = [_depthwise_bn_branch(x, 1, block.stride, f"{name}_dw_rpr_scale")]
            branches += [_depthwise_bn_branch(x, block.kernel_size, block.stride, f"{name}_dw_rpr_conv_{k}")
                         for k in range(_RPR_BRANCHES)]
            x = layers.Add(name=f"{name}_dw_add")(branches)
    else:
        x = _ghost_module(x, block.mid_channels, f"{name}_ghost1", True, block.mode)
        if block.stride > 1:
            x = depthwise_conv2d(x, block.kernel_size, block.stride, name=f"{name}_conv_dw")
            x = batch_norm(x, f"{name}_bn_dw")
    x = _se(x, spec, block)
    if spec.version == "v3":
        x = _ghost_module_v3(x, block.out_channels, f"{name}_ghost2", False, "original")
    else:
        x = _ghost_module(x, block.out_channels, f"{name}_ghost2", False, "original")
    if block.conv_shortcut:
        shortcut = depthwise_conv2d(shortcut, block.kernel_size, block.stride, name=f"{name}_shortcut_0")
        shortcut = batch_norm(shortcut, f"{name}_shortcut_1")
        shortcut = conv2d(shortcut, block.out_channels, 1, name=f"{name}_shortcut_2")
        shortcut = batch_norm(shortcut, f"{name}_shortcut_3")
    return layers.Add(name=block.output_layer)([x, shortcut])


def feature_info(spec: GhostNetSpec):
    """timm's ``feature_info``: the stem conv's output (before its BN, as timm's ``conv_stem``), then the
    output of every stage whose last block is strided."""
    info = [FeatureInfo(0, "conv_stem", spec.stem_channels, 2)]
    stride = 2
    for stage in decode(spec):
        if stage[-1].stride > 1:
            stride *= 2
            info.append(FeatureInfo(len(info), stage[-1].output_layer, stage[-1].out_channels, stride))
    return tuple(info)


def num_features(spec: GhostNetSpec):
    """Channels of the pooled features (the final 1x1 conv's width, before ``conv_head``), timm's
    ``num_features``."""
    return spec.head_channels


def classifier(spec: GhostNetSpec):
    return "classifier"


def first_conv(spec: GhostNetSpec):
    return "conv_stem"


def describe(spec: GhostNetSpec):
    """One line for `keras-senet list -v`."""
    blocks = [block for stage in decode(spec) for block in stage]
    with_se = sum(1 for block in blocks if block.se_channels)
    with_dfc = sum(1 for block in blocks if block.mode != "original")
    return (f"ghostnet{spec.version}    blocks={len(blocks)} (SE in {with_se}, DFC in {with_dfc})  act=relu  "
            f"attention={spec.attention or '-'}")


def build(spec: GhostNetSpec, inputs, *, include_top=True, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """The output tensor of `spec`'s network on `inputs`.

    Args:
        spec: the architecture.
        inputs: a Keras tensor ``(batch, height, width, 3)`` (channels-last) or ``(batch, 3, height, width)``.
        include_top: add the head: pooling, ``conv_head`` (1280 wide) + ReLU, dropout, ``classifier``.
        pooling: without the top: ``None`` (the 4-D feature map at 1/32 of the input size, after the final
            1x1 conv, as timm's ``forward_features``), ``"avg"`` or ``"max"`` (2-D ``(batch, num_features)``).
        classes: classifier outputs.
        classifier_activation: activation of the classifier; ``None`` returns logits.
    """
    x = conv2d(inputs, spec.stem_channels, 3, 2, name="conv_stem")
    x = batch_norm(x, "bn1")
    x = activation(x, "relu", "act1")
    stages = decode(spec)
    for stage in stages:
        for block in stage:
            x = _block(x, spec, block)
    final = f"blocks_{len(stages)}_0"
    x = conv2d(x, spec.head_channels, 1, name=f"{final}_conv")
    x = batch_norm(x, f"{final}_bn1")
    x = activation(x, "relu", f"{final}_bn1_act")
    if not include_top:
        return classifier_head(x, include_top=False, pooling=pooling, classes=classes,
                               classifier_activation=None, classifier="classifier")
    # timm pools, applies the 1x1 ``conv_head`` (with bias) to the 1x1 map and flattens: a Dense on the
    # pooled vector is the same function (the converter maps 1x1 conv weights onto Dense).
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dense(HEAD_HIDDEN, name="conv_head")(x)
    x = activation(x, "relu", "act2")
    if spec.drop_rate:
        x = layers.Dropout(spec.drop_rate, name="dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name="classifier")(x)
