"""One builder for the whole ResNet family: SE-ResNet, SE-ResNeXt, SENet-154, ECA-ResNet, plain ResNet, and
the branch-selecting SKNet (selective kernel) and ResNeSt (split attention) blocks.

A `ResNetSpec` says what a variant is (block type, stage depths, widths, stem, downsample, attention,
layout); `build` turns a spec into the output tensor of a functional model. Every registered model in
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

The family interface (`build`, `feature_info`, `num_features`, `classifier`, `first_conv`) is
described in `keras_senet.models.family`; convolution, BatchNorm and attention come from
`keras_senet.models._blocks`.
"""

from __future__ import annotations

import math

from keras import layers

from keras_senet.layers import get_attention
from keras_senet.layers.eca import eca_kernel_size
from keras_senet.models._blocks import attention, batch_norm, classifier_head, conv2d
from keras_senet.models.family import FeatureInfo
from keras_senet.models.spec import EXPANSION, STAGE_PLANES, ResNetSpec

# Names of the parts whose name differs between layouts (timm module names, "." -> "_").
_LAYOUT_NAMES = {
    "timm": {"attention": "se", "act": "act", "classifier": "fc"},
    "legacy": {"attention": "se_module", "act": "relu", "classifier": "last_linear"},
}


def _attention(x, spec, name, unpruned_channels):
    kwargs = spec.attention_kwargs
    if spec.block_widths and spec.attention == "eca" and "kernel_size" not in dict(kwargs):
        # timm prunes by replacing convs, BatchNorms and the classifier of the unpruned model: ECA keeps
        # the kernel size of the unpruned width (timm/models/_prune.py, adapt_model_from_string).
        kwargs = tuple(kwargs) + (("kernel_size", eca_kernel_size(unpruned_channels)),)
    return attention(x, spec.attention, name, kwargs, spec.attention_reduction)


def _shortcut(x, spec, out_channels, stride, name):
    """Projection shortcut: strided conv + BN, or (avg_down) 2x2 average pool + 1x1 conv + BN."""
    if spec.avg_down:
        if stride > 1:
            # ceil_mode=True, count_include_pad=False in PyTorch == TF "same" average pooling.
            x = layers.AveragePooling2D(2, stride, padding="same", name=f"{name}_0")(x)
        x = conv2d(x, out_channels, 1, name=f"{name}_1")
        return batch_norm(x, f"{name}_2")
    kernel_size = spec.down_kernel_size if stride > 1 else 1
    x = conv2d(x, out_channels, kernel_size, stride, name=f"{name}_0")
    return batch_norm(x, f"{name}_1")


def _block(x, spec, planes, stride, downsample, name, widths=None):
    """One residual block (basic or bottleneck) with optional attention; returns its output. `widths`:
    a pruned bottleneck's ``(conv1, conv2, conv3)`` output channels (see `ResNetSpec.block_widths`)."""
    names = _LAYOUT_NAMES[spec.layout]
    act = names["act"]
    expansion = EXPANSION[spec.block]
    out_channels = widths[2] if widths else planes * expansion
    shortcut = _shortcut(x, spec, out_channels, stride, f"{name}_downsample") if downsample else x
    # Anti-aliased blocks run the strided 3x3 conv at stride 1 and downsample with a 2x2 avg pool.
    conv_stride = 1 if spec.anti_alias else stride

    if spec.block in _BRANCH_BLOCKS:
        y = _BRANCH_BLOCKS[spec.block](x, spec, planes, stride, name)
    elif spec.block == "basic":
        first = planes // spec.block_reduce_first
        y = conv2d(x, first, 3, conv_stride, name=f"{name}_conv1")
        y = batch_norm(y, f"{name}_bn1")
        y = layers.ReLU(name=f"{name}_{act}1")(y)
        if spec.anti_alias and stride > 1:
            y = layers.AveragePooling2D(2, stride, name=f"{name}_aa")(y)
        y = conv2d(y, out_channels, 3, name=f"{name}_conv2")
        y = batch_norm(y, f"{name}_bn2")
        if spec.layout == "legacy":
            # Caffe SEResNetBlock quirk (kept by timm's legacy port): a ReLU before the SE module.
            y = layers.ReLU(name=f"{name}_{act}2")(y)
    else:
        width = int(math.floor(planes * (spec.base_width / 64)) * spec.cardinality)
        first = width // spec.block_reduce_first
        if widths:
            first, width = widths[0], widths[1]
        stride_1x1, stride_3x3 = (stride, 1) if spec.stride_in_1x1 else (1, conv_stride)
        y = conv2d(x, first, 1, stride_1x1, name=f"{name}_conv1")
        y = batch_norm(y, f"{name}_bn1")
        y = layers.ReLU(name=f"{name}_{act}1")(y)
        y = conv2d(y, width, 3, stride_3x3, groups=spec.cardinality, name=f"{name}_conv2")
        y = batch_norm(y, f"{name}_bn2")
        y = layers.ReLU(name=f"{name}_{act}2")(y)
        if spec.anti_alias and stride > 1 and not spec.stride_in_1x1:
            y = layers.AveragePooling2D(2, stride, name=f"{name}_aa")(y)
        y = conv2d(y, out_channels, 1, name=f"{name}_conv3")
        y = batch_norm(y, f"{name}_bn3")

    y = _attention(y, spec, f"{name}_{names['attention']}", planes * expansion)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_{_last_act(spec)}")(y)


def _conv_norm_act(x, filters, kernel_size, name, stride=1, act=True):
    """timm's ``ConvNormAct`` as three layers: ``{name}_conv``, ``{name}_bn`` (+ ReLU ``{name}_bn_act``)."""
    x = batch_norm(conv2d(x, filters, kernel_size, stride, name=f"{name}_conv"), f"{name}_bn")
    return layers.ReLU(name=f"{name}_bn_act")(x) if act else x


def _sk_basic(x, spec, planes, stride, name):
    """timm ``SelectiveKernelBasic``: SelectiveKernel (with its BN + ReLU) -> 3x3 ConvNormAct, no act."""
    y = get_attention("sk", out_channels=planes, stride=stride, name=f"{name}_conv1", **dict(spec.block_kwargs))(x)
    return _conv_norm_act(y, planes, 3, f"{name}_conv2", act=False)


def _sk_bottleneck(x, spec, planes, stride, name):
    """timm ``SelectiveKernelBottleneck``: 1x1 ConvNormAct -> SelectiveKernel (groups = cardinality) ->
    1x1 ConvNormAct without act."""
    width = int(math.floor(planes * (spec.base_width / 64)) * spec.cardinality)
    y = _conv_norm_act(x, width, 1, f"{name}_conv1")
    y = get_attention("sk", out_channels=width, stride=stride, groups=spec.cardinality, name=f"{name}_conv2",
                      **dict(spec.block_kwargs))(y)
    return _conv_norm_act(y, planes * EXPANSION[spec.block], 1, f"{name}_conv3", act=False)


def _avd_pool(x, stride, name):
    """``nn.AvgPool2d(3, stride, padding=1)`` (count_include_pad=True: the zeros count): zero padding then
    a "valid" average pool."""
    x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layers.AveragePooling2D(3, stride, padding="valid", name=name)(x)


def _resnest_bottleneck(x, spec, planes, stride, name):
    """timm ``ResNestBottleneck``: 1x1 conv -> [avd pool] -> SplitAttention 3x3 (radix, groups =
    cardinality) -> [avd pool] -> 1x1 conv + BN. With ``avd`` a strided block downsamples by the 3x3
    average pool (``avd_first``: before the split attention) and the convolution runs at stride 1."""
    kwargs = dict(spec.block_kwargs)
    radix, avd, avd_first = kwargs.get("radix", 1), kwargs.get("avd", False), kwargs.get("avd_first", False)
    width = int(math.floor(planes * (spec.base_width / 64)) * spec.cardinality)
    avd_stride = stride if avd and stride > 1 else 0
    y = conv2d(x, width, 1, name=f"{name}_conv1")
    y = layers.ReLU(name=f"{name}_act1")(batch_norm(y, f"{name}_bn1"))
    if avd_stride and avd_first:
        y = _avd_pool(y, avd_stride, f"{name}_avd_first")
    y = get_attention("splat", out_channels=width, stride=1 if avd_stride else stride, groups=spec.cardinality,
                      radix=radix, name=f"{name}_conv2")(y)
    if avd_stride and not avd_first:
        y = _avd_pool(y, avd_stride, f"{name}_avd_last")
    y = conv2d(y, planes * EXPANSION[spec.block], 1, name=f"{name}_conv3")
    return batch_norm(y, f"{name}_bn3")


_BRANCH_BLOCKS = {"sk_basic": _sk_basic, "sk_bottleneck": _sk_bottleneck, "resnest_bottleneck": _resnest_bottleneck}


def _stem(x, spec):
    """Stem conv(s) + pooling: output has `spec.stem_channels` channels at 1/4 of the input size."""
    inplanes = spec.stem_channels
    if spec.layout == "legacy":
        if "deep" in spec.stem_type:
            widths = (spec.stem_width, spec.stem_width, inplanes)
            for i, width in enumerate(widths, start=1):
                x = conv2d(x, width, 3, 2 if i == 1 else 1, name=f"layer0_conv{i}")
                x = batch_norm(x, f"layer0_bn{i}")
                x = layers.ReLU(name=f"layer0_relu{i}")(x)
        else:
            x = conv2d(x, inplanes, 7, 2, name="layer0_conv1")
            x = batch_norm(x, "layer0_bn1")
            x = layers.ReLU(name="layer0_relu1")(x)
        # MaxPool2d(3, stride=2, ceil_mode=True): pad bottom/right by one. Inputs are post-ReLU (>= 0)
        # and every window keeps at least one real value, so zero padding equals PyTorch's ceil mode.
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="pool0_pad")(x)
        return layers.MaxPooling2D(3, 2, padding="valid", name="pool0")(x)

    if "deep" in spec.stem_type:
        first = 3 * (spec.stem_width // 4) if "tiered" in spec.stem_type else spec.stem_width
        x = conv2d(x, first, 3, 2, name="conv1_0")
        x = batch_norm(x, "conv1_1")
        x = layers.ReLU(name="conv1_2")(x)
        x = conv2d(x, spec.stem_width, 3, 1, name="conv1_3")
        x = batch_norm(x, "conv1_4")
        x = layers.ReLU(name="conv1_5")(x)
        x = conv2d(x, inplanes, 3, 1, name="conv1_6")
    else:
        x = conv2d(x, inplanes, 7, 2, name="conv1")
    x = batch_norm(x, "bn1")
    x = layers.ReLU(name="act1")(x)
    if spec.anti_alias:
        return layers.AveragePooling2D(2, 2, name="maxpool")(x)
    # Zero padding is exact for max pooling here: the input is post-ReLU.
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    return layers.MaxPooling2D(3, 2, name="maxpool")(x)


def _last_act(spec):
    """Name suffix of a block's final activation (``act2``/``act3``; legacy: ``relu2``/``relu3``)."""
    act = _LAYOUT_NAMES[spec.layout]["act"]
    if spec.block.startswith("sk_"):
        return act  # timm's SelectiveKernel blocks name their final ReLU `act`
    return f"{act}3" if spec.block.endswith("bottleneck") or spec.layout == "legacy" else f"{act}2"


def feature_info(spec: ResNetSpec):
    """The stem's activation (stride 2) and each stage's last block output (strides 4 ... 32), as timm."""
    if spec.layout == "legacy":
        stem = f"layer0_relu{3 if 'deep' in spec.stem_type else 1}"
    else:
        stem = "act1"
    info = [FeatureInfo(0, stem, spec.stem_channels, 2)]
    for stage, (planes, depth) in enumerate(zip(STAGE_PLANES, spec.depths), start=1):
        layer = f"layer{stage}_{depth - 1}_{_last_act(spec)}"
        info.append(FeatureInfo(stage, layer, spec.stage_channels(stage), 2 ** (stage + 1)))
    return tuple(info)


def describe(spec: ResNetSpec):
    """One line for `keras-senet list -v`."""
    return (f"{spec.block:<10}  depths={'-'.join(map(str, spec.depths))}  "
            f"attention={spec.attention or '-'}")


def num_features(spec: ResNetSpec):
    return spec.num_features


def classifier(spec: ResNetSpec):
    return _LAYOUT_NAMES[spec.layout]["classifier"]


def first_conv(spec: ResNetSpec):
    if spec.layout == "legacy":
        return "layer0_conv1"
    return "conv1_0" if "deep" in spec.stem_type else "conv1"


def build(spec: ResNetSpec, inputs, *, include_top=True, pooling=None, classes=1000,
          classifier_activation="softmax"):
    """The output tensor of `spec`'s network on `inputs`.

    Args:
        spec: the architecture.
        inputs: a Keras tensor of shape ``(batch, height, width, 3)`` (channels-last) or
            ``(batch, 3, height, width)``. Arguments are validated by the caller
            (`keras_senet.create_model`).
        include_top: add global average pooling + the classifier (``fc`` / ``last_linear``).
        pooling: without the top: ``None`` (4-D feature map of ``spec.num_features`` channels at 1/32
            of the input size), ``"avg"`` or ``"max"`` (2-D ``(batch, num_features)``).
        classes: classifier outputs.
        classifier_activation: activation of the classifier; ``None`` returns logits.

    Returns:
        The output Keras tensor.
    """
    x = _stem(inputs, spec)
    inplanes = spec.stem_channels
    pruned = spec.stage_block_widths()
    for stage, (planes, depth) in enumerate(zip(STAGE_PLANES, spec.depths), start=1):
        for index in range(depth):
            stride = 2 if stage > 1 and index == 0 else 1
            downsample = index == 0 and (stride != 1 or inplanes != spec.stage_channels(stage))
            widths = pruned[stage - 1][index] if pruned else None
            x = _block(x, spec, planes, stride, downsample, f"layer{stage}_{index}", widths)
            inplanes = spec.stage_channels(stage)
    return classifier_head(x, include_top=include_top, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, classifier=classifier(spec),
                           drop_rate=spec.drop_rate)

