"""One builder for the whole ResNet family: SE-ResNet, SE-ResNeXt, SENet-154, ECA-ResNet and plain ResNet.

A `ResNetSpec` says what a variant is (block type, stage depths, widths, stem, downsample, attention,
layout); `build_resnet` turns a spec into a functional `keras.Model`. Every registered model in
`keras_senet.zoo` is one spec, so adding a variant is one registry entry.

Two layouts are supported, each reproducing an upstream timm implementation exactly (layer names,
padding and pooling arithmetic, parameter counts):

* ``layout="timm"`` -- `timm/models/resnet.py` (He et al. 2016; "bag of tricks" C/D stems and
  avg-pool downsampling, He et al. 2019; anti-aliased downsampling, Zhang 2019). Keras layer names are
  the timm module paths with ``.`` replaced by ``_``: ``conv1``, ``bn1``, ``layer1_0_conv1``,
  ``layer1_0_se``, ``layer1_0_downsample_0``, ``fc``.
* ``layout="legacy"`` -- `timm/models/senet.py`, the port of the original Caffe SENet models
  (Hu et al. 2018): ``layer0_conv1`` stem, ceil-mode ``pool0``, stride in the first 1x1 of the
  SE-ResNet bottleneck, SE named ``se_module`` with ``channels // 16`` hidden units, ``last_linear``.

PyTorch pads stride-2 convolutions symmetrically; Keras ``"same"`` does not, so stride-2 convolutions get
an explicit ``ZeroPadding2D`` followed by a ``"valid"`` convolution (as `keras.applications` does).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from keras_senet.layers import get_attention
from keras_senet.models.spec import EXPANSION, STAGE_PLANES, ResNetSpec  # noqa: F401 (re-export)

# PyTorch BatchNorm2d defaults (eps=1e-5, momentum=0.1 == Keras momentum 0.9), so converted
# checkpoints give the same numbers.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


# Names of the parts whose name differs between layouts (timm module names, "." -> "_").
_LAYOUT_NAMES = {
    "timm": {"attention": "se", "act": "act", "classifier": "fc"},
    "legacy": {"attention": "se_module", "act": "relu", "classifier": "last_linear"},
}


def _bn(x, name):
    axis = -1 if keras.config.image_data_format() == "channels_last" else 1
    return layers.BatchNormalization(axis=axis, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(x)


def _conv(x, filters, kernel_size, stride=1, groups=1, name=None):
    """Bias-free conv with PyTorch's symmetric ``kernel_size // 2`` padding."""
    pad = kernel_size // 2
    if stride > 1 and pad > 0:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same" if pad > 0 else "valid"
    return layers.Conv2D(filters, kernel_size, strides=stride, padding=padding, groups=groups,
                         use_bias=False, name=name)(x)


def _attention(x, spec, name):
    if not spec.attention:
        return x
    kwargs = dict(spec.attention_kwargs)
    if spec.attention_reduction:
        channels = x.shape[-1 if keras.config.image_data_format() == "channels_last" else 1]
        kwargs["rd_channels"] = channels // spec.attention_reduction
    return get_attention(spec.attention, name=name, **kwargs)(x)


def _shortcut(x, spec, out_channels, stride, name):
    """Projection shortcut: strided conv + BN, or (avg_down) 2x2 average pool + 1x1 conv + BN."""
    if spec.avg_down:
        index = 0
        if stride > 1:
            # ceil_mode=True, count_include_pad=False in PyTorch == TF "same" average pooling.
            x = layers.AveragePooling2D(2, stride, padding="same", name=f"{name}_0")(x)
        x = _conv(x, out_channels, 1, name=f"{name}_1")
        return _bn(x, f"{name}_2")
    kernel_size = spec.down_kernel_size if stride > 1 else 1
    x = _conv(x, out_channels, kernel_size, stride, name=f"{name}_0")
    return _bn(x, f"{name}_1")


def _block(x, spec, planes, stride, downsample, name):
    """One residual block (basic or bottleneck) with optional attention; returns its output."""
    names = _LAYOUT_NAMES[spec.layout]
    act = names["act"]
    expansion = EXPANSION[spec.block]
    out_channels = planes * expansion
    shortcut = _shortcut(x, spec, out_channels, stride, f"{name}_downsample") if downsample else x
    # Anti-aliased blocks run the strided 3x3 conv at stride 1 and downsample with a 2x2 avg pool.
    conv_stride = 1 if spec.anti_alias else stride

    if spec.block == "basic":
        first = planes // spec.block_reduce_first
        y = _conv(x, first, 3, conv_stride, name=f"{name}_conv1")
        y = _bn(y, f"{name}_bn1")
        y = layers.ReLU(name=f"{name}_{act}1")(y)
        if spec.anti_alias and stride > 1:
            y = layers.AveragePooling2D(2, stride, name=f"{name}_aa")(y)
        y = _conv(y, out_channels, 3, name=f"{name}_conv2")
        y = _bn(y, f"{name}_bn2")
        last_act = f"{act}2"
        if spec.layout == "legacy":
            # Caffe SEResNetBlock quirk (kept by timm's legacy port): a ReLU before the SE module.
            y = layers.ReLU(name=f"{name}_{act}2")(y)
            last_act = f"{act}3"
    else:
        width = int(math.floor(planes * (spec.base_width / 64)) * spec.cardinality)
        first = width // spec.block_reduce_first
        stride_1x1, stride_3x3 = (stride, 1) if spec.stride_in_1x1 else (1, conv_stride)
        y = _conv(x, first, 1, stride_1x1, name=f"{name}_conv1")
        y = _bn(y, f"{name}_bn1")
        y = layers.ReLU(name=f"{name}_{act}1")(y)
        y = _conv(y, width, 3, stride_3x3, groups=spec.cardinality, name=f"{name}_conv2")
        y = _bn(y, f"{name}_bn2")
        y = layers.ReLU(name=f"{name}_{act}2")(y)
        if spec.anti_alias and stride > 1 and not spec.stride_in_1x1:
            y = layers.AveragePooling2D(2, stride, name=f"{name}_aa")(y)
        y = _conv(y, out_channels, 1, name=f"{name}_conv3")
        y = _bn(y, f"{name}_bn3")
        last_act = f"{act}3"

    y = _attention(y, spec, f"{name}_{names['attention']}")
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_{last_act}")(y)


def _stem(x, spec):
    """Stem conv(s) + pooling: output has `spec.stem_channels` channels at 1/4 of the input size."""
    inplanes = spec.stem_channels
    if spec.layout == "legacy":
        if "deep" in spec.stem_type:
            widths = (spec.stem_width, spec.stem_width, inplanes)
            for i, width in enumerate(widths, start=1):
                x = _conv(x, width, 3, 2 if i == 1 else 1, name=f"layer0_conv{i}")
                x = _bn(x, f"layer0_bn{i}")
                x = layers.ReLU(name=f"layer0_relu{i}")(x)
        else:
            x = _conv(x, inplanes, 7, 2, name="layer0_conv1")
            x = _bn(x, "layer0_bn1")
            x = layers.ReLU(name="layer0_relu1")(x)
        # MaxPool2d(3, stride=2, ceil_mode=True): pad bottom/right by one. Inputs are post-ReLU (>= 0)
        # and every window keeps at least one real value, so zero padding equals PyTorch's ceil mode.
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="pool0_pad")(x)
        return layers.MaxPooling2D(3, 2, padding="valid", name="pool0")(x)

    if "deep" in spec.stem_type:
        first = 3 * (spec.stem_width // 4) if "tiered" in spec.stem_type else spec.stem_width
        x = _conv(x, first, 3, 2, name="conv1_0")
        x = _bn(x, "conv1_1")
        x = layers.ReLU(name="conv1_2")(x)
        x = _conv(x, spec.stem_width, 3, 1, name="conv1_3")
        x = _bn(x, "conv1_4")
        x = layers.ReLU(name="conv1_5")(x)
        x = _conv(x, inplanes, 3, 1, name="conv1_6")
    else:
        x = _conv(x, inplanes, 7, 2, name="conv1")
    x = _bn(x, "bn1")
    x = layers.ReLU(name="act1")(x)
    if spec.anti_alias:
        return layers.AveragePooling2D(2, 2, name="maxpool")(x)
    # Zero padding is exact for max pooling here: the input is post-ReLU.
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    return layers.MaxPooling2D(3, 2, name="maxpool")(x)


def build_resnet(spec: ResNetSpec, inputs, *, include_top=True, pooling=None, classes=1000,
                 classifier_activation="softmax", name="resnet", model_inputs=None):
    """Build the functional model of `spec` on `inputs`.

    Args:
        spec: the architecture.
        inputs: a Keras tensor of shape ``(batch, height, width, 3)`` (channels-last) or
            ``(batch, 3, height, width)``. Arguments are validated by the caller
            (`keras_senet.zoo.create_model`).
        include_top: add global average pooling + the classifier (``fc`` / ``last_linear``).
        pooling: without the top: ``None`` (4-D feature map of ``spec.num_features`` channels at 1/32
            of the input size), ``"avg"`` or ``"max"`` (2-D ``(batch, num_features)``).
        classes: classifier outputs.
        classifier_activation: activation of the classifier; ``None`` returns logits.
        name: model name.
        model_inputs: the model's input tensor(s) if `inputs` is derived from another input.

    Returns:
        A `keras.Model`.
    """
    x = _stem(inputs, spec)
    inplanes = spec.stem_channels
    expansion = EXPANSION[spec.block]
    for stage, (planes, depth) in enumerate(zip(STAGE_PLANES, spec.depths), start=1):
        for index in range(depth):
            stride = 2 if stage > 1 and index == 0 else 1
            downsample = index == 0 and (stride != 1 or inplanes != planes * expansion)
            x = _block(x, spec, planes, stride, downsample, f"layer{stage}_{index}")
            inplanes = planes * expansion

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if spec.drop_rate:
            x = layers.Dropout(spec.drop_rate, name="dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation,
                         name=_LAYOUT_NAMES[spec.layout]["classifier"])(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(model_inputs if model_inputs is not None else inputs, x, name=name)
