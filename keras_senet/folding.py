"""Fold inference-mode BatchNormalization into the convolution before it, at the Keras level.

`fold_batchnorm(model)` returns a copy of a functional (or Sequential) model in which every
``Conv -> BatchNormalization`` pair (the convolution linear, its output read by that BatchNorm only,
normalising the channel axis) becomes one convolution with a bias::

    scale  = gamma / sqrt(moving_variance + epsilon)          # (C,)
    kernel = kernel * scale                                    # over the output-channel axis
    bias   = (bias - moving_mean) * scale + beta               # bias = 0 where the conv had none

computed in float64 and stored in the kernel's dtype (float32). The copy equals ``model(x, training=False)`` up to float32
round-off; it is for inference only (the folded BatchNorms are gone, so training it trains something
else). Every other layer is a copy of the original layer with its weights copied, so the copy is a
snapshot: later changes to `model`'s weights are not seen. Memory: one more set of weights (slightly
less than the model's: the folded BatchNorm statistics are dropped).

Why: TensorFlow's graph optimiser (Grappler) folds BatchNorm into a convolution only when the weights
are graph constants, i.e. after freezing the function, and freezing costs ~18x the weight bytes in
resident memory (`benchmarks/NOTES.md`, "Memory of the fast path"). Folding the Keras layers gives the
same arithmetic with live variables, as fast as the frozen graph in a side-by-side benchmark. Hand-written because Keras 3 has no BatchNorm-folding utility (TensorFlow's
lives in the frozen-graph optimiser only); it is a few lines of algebra over public layer attributes.
"""

from __future__ import annotations

import keras
import numpy as np

# Convolutions whose kernel's last axis is the output channel (grouped convolutions included).
_CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def fold_batchnorm(model, *, dtype=None):
    """A copy of `model` with each ``Conv -> BatchNormalization`` pair folded into one biased convolution.

    Args:
        model: a built functional or Sequential `keras.Model`. Nested models are
            copied as they are (their BatchNorms stay).
        dtype: None (default) keeps each layer's dtype policy; a dtype policy name (e.g.
            ``"mixed_bfloat16"``) gives that policy to every layer of the copy except the layers
            that make the model's outputs, which keep theirs (Keras' mixed-precision advice: a
            float32 classifier and softmax). Weights stay float32 under a ``mixed_*`` policy.

    Returns:
        `(folded_model, folded_pairs)`: the copy, and the list of ``(conv_name, batchnorm_name)``
        pairs that were folded (in the copy each BatchNorm is a `keras.layers.Identity` of that name).
    """
    check_graph_model(model, "fold_batchnorm")
    pairs = foldable_pairs(model)
    conv_of = {bn: conv for conv, bn in pairs}
    folded_convs = {conv for conv, _ in pairs}
    output_layers = {t._keras_history.operation.name for t in keras.tree.flatten(model.outputs)}

    def clone_layer(layer):
        if not isinstance(layer, keras.layers.Layer):  # a keras.ops call in the graph: no weights
            return layer
        policy = layer.dtype_policy if dtype is None or layer.name in output_layers else dtype
        if layer.name in conv_of:  # with the BatchNorm's policy, so that it casts nothing; by name, so
            # that the copy can be saved or cloned (Identity cannot serialise a DTypePolicy argument)
            return keras.layers.Identity(name=layer.name, dtype=getattr(policy, "name", policy))
        config = layer.get_config()
        if layer.name in folded_convs:
            config["use_bias"] = True
        if dtype is not None and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    def call_layer(layer, *args, **kwargs):
        if isinstance(layer, keras.layers.Identity):  # a folded BatchNorm: drop its `mask`/`training`
            return layer(args[0])
        return layer(*args, **kwargs)

    try:
        folded = keras.models.clone_model(model, clone_function=clone_layer, call_function=call_layer)
    except (NotImplementedError, TypeError, ValueError) as error:  # subclassed models, custom configs
        raise ValueError(f"fold_batchnorm could not copy {model.name!r} (a functional or Sequential model "
                         f"with serializable layers is needed): {error}") from error
    for layer in model.layers:
        if layer.name in conv_of or isinstance(layer, keras.layers.InputLayer):
            continue
        target = folded.get_layer(layer.name)
        if layer.name in folded_convs:
            target.set_weights(list(_folded_weights(layer, model.get_layer(_bn_of(pairs, layer.name)))))
        else:
            target.set_weights(layer.get_weights())
    return folded, pairs


def check_graph_model(model, what):
    """Raise ValueError, naming `what`, unless `model` is a built functional or Sequential `keras.Model`."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"{what} needs a keras.Model; got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"{what} needs a built model; {model.name!r} is not built")
    if getattr(model, "outputs", None) is None:  # a subclassed model: no graph of layers to copy
        raise ValueError(f"{what} needs a functional or Sequential model (a graph of layers to copy); "
                         f"{model.name!r} is a subclassed {type(model).__name__}")


def _bn_of(pairs, conv_name):
    return next(bn for conv, bn in pairs if conv == conv_name)


def _folded_weights(conv, bn):
    """(kernel, bias) of `conv` followed by inference-mode `bn`, computed in float64."""
    kernel = np.asarray(keras.ops.convert_to_numpy(conv.kernel), dtype=np.float64)
    channels = conv.filters if not isinstance(conv, keras.layers.DepthwiseConv2D) else kernel.shape[-2] * kernel.shape[-1]
    mean = keras.ops.convert_to_numpy(bn.moving_mean).astype(np.float64)
    variance = keras.ops.convert_to_numpy(bn.moving_variance).astype(np.float64)
    gamma = keras.ops.convert_to_numpy(bn.gamma).astype(np.float64) if bn.scale else np.ones(channels)
    beta = keras.ops.convert_to_numpy(bn.beta).astype(np.float64) if bn.center else np.zeros(channels)
    bias = keras.ops.convert_to_numpy(conv.bias).astype(np.float64) if conv.use_bias else np.zeros(channels)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        # kernel (kh, kw, C_in, multiplier): output channel c * multiplier + m
        kernel = kernel * scale.reshape(kernel.shape[-2], kernel.shape[-1])
    else:
        kernel = kernel * scale  # output channel is the last axis
    dtype = conv.kernel.dtype  # float32 (or float64); the folded weights keep it
    return kernel.astype(dtype), ((bias - mean) * scale + beta).astype(dtype)


def foldable_pairs(model):
    """``(conv_name, batchnorm_name)`` for each BatchNorm of `model` that can be folded into its input conv.

    Foldable: the BatchNorm's only input is the output of a Conv1D/2D/3D or DepthwiseConv2D layer
    with no activation, no LoRA and float32 (or float64) weights, called once, whose output nothing else reads
    (and is not a model output); the BatchNorm normalises that convolution's channel axis.
    """
    readers = {}  # id(tensor) -> number of layer calls reading it
    for layer in getattr(model, "operations", model.layers):  # layers and keras.ops calls alike
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                readers[id(tensor)] = readers.get(id(tensor), 0) + 1
    outputs = {id(t) for t in keras.tree.flatten(getattr(model, "outputs", None) or [])}
    pairs = []
    for bn in model.layers:
        if type(bn) is not keras.layers.BatchNormalization or len(bn._inbound_nodes) != 1:
            continue
        inputs = bn._inbound_nodes[0].input_tensors
        if len(inputs) != 1:
            continue
        conv = inputs[0]._keras_history.operation
        if not _is_linear_conv(conv) or len(conv._inbound_nodes) != 1:
            continue
        if readers.get(id(inputs[0])) != 1 or id(inputs[0]) in outputs:
            continue
        rank = len(inputs[0].shape)
        channel_axis = rank - 1 if conv.data_format == "channels_last" else 1
        if bn.axis % rank != channel_axis:
            continue
        pairs.append((conv.name, bn.name))
    return pairs


def _is_linear_conv(layer):
    if not isinstance(layer, (*_CONV_TYPES, keras.layers.DepthwiseConv2D)):
        return False
    if getattr(layer, "lora_enabled", False) or layer.kernel.dtype not in ("float32", "float64"):
        return False
    return layer.activation is None or layer.activation is keras.activations.linear
