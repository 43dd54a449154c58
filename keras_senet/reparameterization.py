"""Re-parameterise a Keras model for inference: parallel linear branches summed by an ``Add`` become one
convolution, as timm's ``reparameterize_model`` does for GhostNetV3 (and RepVGG / MobileOne style blocks).

`reparameterize(model)` first folds every ``Conv -> BatchNormalization`` pair (`keras_senet.folding`), then
replaces each ``Add`` whose inputs are all linear branches of one tensor ``x``:

* a biased convolution of ``x`` (a folded conv + BN), with an odd square kernel ``k`` and PyTorch's
  symmetric ``k // 2`` padding (``padding="same"`` at stride 1, or ``ZeroPadding2D(k // 2)`` then
  ``"valid"``);
* an inference-mode ``BatchNormalization`` of ``x`` (timm's BN-only "skip" branch: an identity kernel
  times the BN's scale);
* ``x`` itself (an identity kernel);

all with the same stride and the same kind of convolution (a `Conv2D` with the same groups, or a
`DepthwiseConv2D` with ``depth_multiplier=1``), by one convolution with the largest kernel ``K``: each
branch's kernel zero-padded to ``K x K`` about its centre, the kernels and biases summed (float64, stored
float32). That is exact arithmetic (a ``k x k`` kernel with padding ``k // 2`` samples the same centres as
its zero-padded ``K x K`` version with padding ``K // 2``); the copy equals ``model(x, training=False)`` up
to float32 round-off.

The merged convolution takes the ``Add`` layer's name (so ``get_layer`` of a feature map or a
``features_only`` output keeps working); a ``ZeroPadding2D`` before it is named ``<add>_pad``. The copy is a
snapshot for inference: the folded and merged branches are gone, so training it trains something else.

Why hand-written: Keras has no re-parameterisation utility and TensorFlow's graph optimiser does not merge
parallel convolutions; it is a few lines of algebra over public layer attributes and Keras' own
``clone_model``.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from keras_senet import folding


@dataclasses.dataclass
class _Branch:
    kind: str  # "conv" (a biased conv of x), "batchnorm" (BN of x) or "identity" (x itself)
    layer: object = None  # the conv or BatchNormalization layer
    reader: str = None  # name of the branch's first layer, the one that reads x (conv, its padding, or BN)


@dataclasses.dataclass
class _Merge:
    branches: list
    kernel_size: int
    stride: int
    template: object  # a conv layer of the branches: the merged conv's kind, groups and dtype


def reparameterize(model, *, dtype=None):
    """A copy of `model` for inference with BatchNorm folded and parallel linear branches merged.

    Args:
        model: a built functional or Sequential `keras.Model` (channels-last convolutions are merged; any
            other layer is copied as it is). A keras-senet model's ``preprocessing`` and ``feature_info``
            are kept.
        dtype: None (default) or a dtype policy name such as ``"mixed_bfloat16"``, as
            `keras_senet.folding.fold_batchnorm` takes it.

    Returns:
        `(copy, merged)`: the copy (a `keras.Model` of the same class where Keras can rebuild it, with the
        same inputs, outputs and output names), and the names of the ``Add`` layers replaced by one
        convolution each (empty when `model` has no such branches: then the copy only has BatchNorm
        folded). ``ghostnetv3_100``: 68 ``Add`` layers merged, 856 layers down to 336, the same
        function as timm's ``reparameterize_model`` (tests/test_reparameterize.py).
    """
    folding.check_graph_model(model, "reparameterize")
    folded, _ = folding.fold_batchnorm(model, dtype=dtype)
    plans = _merge_plans(folded)
    if not plans:
        return _keep_attributes(model, folded), []
    merged_layers = {name: _merged_layer(name, plan) for name, plan in plans.items()}
    inputs_read = {}  # layer name -> the (cloned) tensor its first argument was

    def call_layer(layer, *args, **kwargs):
        plan = plans.get(layer.name)
        if plan is None:
            if args:
                inputs_read[layer.name] = args[0]
            if isinstance(layer, keras.layers.Identity):  # a folded BatchNorm: drop `mask`/`training`
                return layer(args[0])
            return layer(*args, **kwargs)
        reader = next(branch.reader for branch in plan.branches if branch.reader is not None)
        x = inputs_read[reader]  # x in the copy: the input of a branch's first layer
        if plan.kernel_size > 1 and plan.stride > 1:
            x = keras.layers.ZeroPadding2D(plan.kernel_size // 2, name=f"{layer.name}_pad",
                                           dtype=plan.template.dtype_policy.name)(x)
        return merged_layers[layer.name](x)

    try:
        # Layers of the merged branches are copied and called too; the functional model built from the
        # outputs keeps only what they are computed from, so the branches drop out of the copy.
        copy = keras.models.clone_model(folded, call_function=call_layer)
    except (NotImplementedError, TypeError, ValueError) as error:  # subclassed models, custom configs
        raise ValueError(f"reparameterize could not copy {model.name!r} (a functional or Sequential model with "
                         f"serializable layers is needed): {error}") from error
    for layer in copy.layers:
        if layer.name in plans:
            layer.set_weights(list(_merged_weights(plans[layer.name])))
        elif layer.weights:
            layer.set_weights(folded.get_layer(layer.name).get_weights())
    return _keep_attributes(model, copy), sorted(plans)


def _keep_attributes(model, copy):
    """`copy` with `model`'s ``preprocessing`` and ``feature_info`` (a `ZooModel`'s; Keras' clone drops them)."""
    for attribute in ("preprocessing", "feature_info"):
        if hasattr(model, attribute) and hasattr(copy, attribute):
            setattr(copy, attribute, getattr(model, attribute))
    return copy


def has_parallel_branches(model):
    """Whether `model` (BatchNorm folded or not) has an ``Add`` of parallel linear branches of one tensor
    that `reparameterize` merges; reads the graph only (no copy)."""
    return bool(_merge_plans(model))


def _merged_layer(name, plan):
    template = plan.template
    padding = "same" if plan.stride == 1 else "valid"
    common = dict(kernel_size=plan.kernel_size, strides=plan.stride, padding=padding, use_bias=True,
                  data_format="channels_last", dtype=template.dtype_policy.name, name=name)
    if isinstance(template, keras.layers.DepthwiseConv2D):
        return keras.layers.DepthwiseConv2D(depth_multiplier=1, **common)
    return keras.layers.Conv2D(template.filters, groups=template.groups, **common)


def _merged_weights(plan):
    """(kernel, bias) of the merged convolution: every branch's kernel zero-padded to the largest about its
    centre, summed with the biases, in float64."""
    template, size = plan.template, plan.kernel_size
    depthwise = isinstance(template, keras.layers.DepthwiseConv2D)
    kernel_shape = (size, size) + tuple(template.kernel.shape[2:])
    kernel = np.zeros(kernel_shape, np.float64)
    channels = kernel_shape[2] if depthwise else template.filters
    bias = np.zeros(channels, np.float64)
    for branch in plan.branches:
        if branch.kind == "conv":
            weights = np.asarray(keras.ops.convert_to_numpy(branch.layer.kernel), np.float64)
            offset = (size - weights.shape[0]) // 2
            kernel[offset:offset + weights.shape[0], offset:offset + weights.shape[1]] += weights
            if branch.layer.use_bias:
                bias += keras.ops.convert_to_numpy(branch.layer.bias).astype(np.float64).reshape(-1)
            continue
        scale, shift = np.ones(channels), np.zeros(channels)
        if branch.kind == "batchnorm":
            scale, shift = _batchnorm_scale_shift(branch.layer, channels)
        centre = size // 2
        if depthwise:
            kernel[centre, centre, :, 0] += scale
        else:  # output channel c reads input channel c % (channels per group) of its own group
            per_group = kernel_shape[2]
            kernel[centre, centre, np.arange(channels) % per_group, np.arange(channels)] += scale
        bias += shift
    dtype = template.kernel.dtype
    return kernel.astype(dtype), bias.astype(dtype)


def _batchnorm_scale_shift(bn, channels):
    mean = keras.ops.convert_to_numpy(bn.moving_mean).astype(np.float64)
    variance = keras.ops.convert_to_numpy(bn.moving_variance).astype(np.float64)
    gamma = keras.ops.convert_to_numpy(bn.gamma).astype(np.float64) if bn.scale else np.ones(channels)
    beta = keras.ops.convert_to_numpy(bn.beta).astype(np.float64) if bn.center else np.zeros(channels)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    return scale, beta - mean * scale


def _merge_plans(model):
    """``{add_name: _Merge}`` for each ``Add`` of `model` (BatchNorm already folded) whose inputs are all
    linear branches of one tensor, see the module docstring."""
    readers = {}  # id(tensor) -> number of layer calls reading it
    for operation in getattr(model, "operations", model.layers):
        for node in operation._inbound_nodes:
            for tensor in node.input_tensors:
                readers[id(tensor)] = readers.get(id(tensor), 0) + 1
    outputs = {id(t) for t in keras.tree.flatten(model.outputs)}

    def private(tensor):  # read by the Add only and not a model output: the branch can be dropped
        return readers.get(id(tensor)) == 1 and id(tensor) not in outputs

    plans = {}
    for add in model.layers:
        if type(add) is not keras.layers.Add or len(add._inbound_nodes) != 1:
            continue
        branches = [_branch(tensor, private) for tensor in add._inbound_nodes[0].input_tensors]
        if any(branch is None for branch, _, _ in branches):
            continue
        plan = _plan(branches)
        if plan is not None:
            plans[add.name] = plan
    return plans


def _producer(tensor):
    return tensor._keras_history.operation


def _input_of(layer):
    if len(layer._inbound_nodes) != 1 or len(layer._inbound_nodes[0].input_tensors) != 1:
        return None
    return layer._inbound_nodes[0].input_tensors[0]


def _branch(tensor, private):
    """``(_Branch, source tensor, stride)`` of one input of an ``Add``, or ``(None, None, None)`` when it is not
    a linear branch that can be merged. An identity branch is its own source (resolved in `_plan`)."""
    nothing = (None, None, None)
    layer = _producer(tensor)
    if isinstance(layer, keras.layers.Identity) and private(tensor):  # a BatchNorm folded into its conv
        inner = _input_of(layer)
        if inner is None or not private(inner):
            return nothing
        tensor, layer = inner, _producer(inner)
    if type(layer) is keras.layers.BatchNormalization and private(tensor):
        inner = _input_of(layer)
        if inner is not None and _mergeable_conv(_producer(inner)) and private(inner):
            tensor, layer = inner, _producer(inner)  # conv -> BN not yet folded (`has_parallel_branches`)
    if type(layer) is keras.layers.BatchNormalization and private(tensor):
        source = _input_of(layer)
        if source is None or len(source.shape) != 4 or layer.axis % 4 != 3:
            return nothing
        return _Branch("batchnorm", layer, layer.name), source, 1
    if not _mergeable_conv(layer) or not private(tensor):
        return (_Branch("identity"), tensor, 1)
    size = layer.kernel_size[0]
    stride = layer.strides[0]
    source = _input_of(layer)
    if source is None:
        return nothing
    reader = layer.name
    if size > 1 and layer.padding == "same":
        if stride != 1:  # TensorFlow's SAME pads the extra pixel on one side: not centred
            return nothing
    elif size > 1:  # "valid": centred only behind an explicit symmetric padding of size // 2
        padding = _producer(source)
        if (type(padding) is not keras.layers.ZeroPadding2D or not private(source)
                or tuple(map(tuple, padding.padding)) != ((size // 2,) * 2,) * 2):
            return nothing
        reader = padding.name
        source = _input_of(padding)
        if source is None:
            return nothing
    return _Branch("conv", layer, reader), source, stride


def _mergeable_conv(layer):
    if type(layer) not in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D) or len(layer._inbound_nodes) != 1:
        return False
    if layer.data_format != "channels_last" or not folding._is_linear_conv(layer):
        return False
    size = layer.kernel_size
    if size[0] != size[1] or size[0] % 2 == 0 or tuple(layer.dilation_rate) != (1, 1):
        return False
    if layer.strides[0] != layer.strides[1]:
        return False
    return not isinstance(layer, keras.layers.DepthwiseConv2D) or layer.depth_multiplier == 1


def _plan(branches):
    """The `_Merge` of an ``Add``'s `branches` (``(_Branch, source, stride)`` each), or None."""
    layered = [(branch, source, stride) for branch, source, stride in branches if branch.kind != "identity"]
    if not layered:
        return None
    source = layered[0][1]
    # an "identity" branch is x itself: its tensor must be the others' source
    if any(tensor is not source for _, tensor, _ in branches):  # x itself, or a branch of x
        return None
    convs = [branch.layer for branch, _, _ in layered if branch.kind == "conv"]
    if not convs:
        return None
    template = convs[0]
    def kind(conv):  # what must agree for two kernels to be summed: type, groups, channels in and out, dtype
        return (type(conv), getattr(conv, "groups", None), tuple(conv.kernel.shape[2:]),
                getattr(conv, "filters", None), conv.dtype_policy.name)

    if any(kind(conv) != kind(template) for conv in convs[1:]):
        return None
    strides = {stride for branch, _, stride in branches if branch.kind == "conv"}
    if len(strides) != 1:
        return None
    stride = strides.pop()
    identities = [branch for branch in (b for b, _, _ in branches) if branch.kind != "conv"]
    if identities:
        in_channels = int(source.shape[-1])
        out_channels = (in_channels if isinstance(template, keras.layers.DepthwiseConv2D) else template.filters)
        if stride != 1 or in_channels != out_channels:
            return None  # an identity needs stride 1 and as many channels out as in
    size = max(branch.layer.kernel_size[0] for branch in (b for b, _, _ in branches) if branch.kind == "conv")
    return _Merge([branch for branch, _, _ in branches], size, stride, template)
