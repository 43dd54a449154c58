"""Convert a timm state dict (NumPy arrays, e.g. read from ``model.safetensors``) into a Keras model.

The mapping is declarative and strict. A timm tensor ``<module path>.<param>`` belongs to the Keras
layer whose name is the longest prefix of the module path with ``.`` replaced by ``_`` (our builders
name layers that way); the rest of the path walks the layer's sublayers by attribute (``se.fc1`` ->
``layer.fc1``). The parameter name then maps by the Keras layer's class (`_PARAMETERS`). Every
upstream tensor must be used exactly once (BatchNorm's ``num_batches_tracked`` counter is the one
declared exception) and every Keras weight filled, with identical shapes after the layout change:
conv ``(out, in/groups, *k)`` -> ``(*k, in/groups, out)``, depthwise conv ``(in*m, 1, *k)`` ->
``(*k, in, m)``, linear ``(out, in)`` -> ``(in, out)``, 1x1 conv -> dense. Anything else raises `CheckpointMismatchError` naming the tensor and both shapes.
No torch is needed.
"""

from __future__ import annotations

import keras
import numpy as np

# Keras layer class -> {timm parameter name: Keras variable attribute}
_PARAMETERS = {
    keras.layers.DepthwiseConv2D: {"weight": "kernel", "bias": "bias"},
    keras.layers.Conv1D: {"weight": "kernel", "bias": "bias"},
    keras.layers.Conv2D: {"weight": "kernel", "bias": "bias"},
    keras.layers.Dense: {"weight": "kernel", "bias": "bias"},
    keras.layers.BatchNormalization: {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
                                      "running_var": "moving_variance"},
    keras.layers.LayerNormalization: {"weight": "gamma", "bias": "beta"},
}
# timm submodule names that differ from our layers' sublayer names: EfficientNet/MobileNetV3's
# SqueezeExcite names its 1x1 convs conv_reduce/conv_expand where SEModule (and our SqueezeExcite) has fc1/fc2.
_SUBLAYER_ALIASES = {"conv_reduce": "fc1", "conv_expand": "fc2"}
# Upstream tensors with no Keras counterpart by design.
_IGNORED_PARAMETERS = ("num_batches_tracked",)


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the model: a tensor unmatched, missing, or of another shape."""


def _parameter_table(layer):
    for cls, table in _PARAMETERS.items():
        if isinstance(layer, cls):
            return table
    return None


def _resolve(model_layers, key):
    """timm key -> (Keras variable, transposes kernel) or None when nothing in the model matches."""
    parts = key.split(".")
    module, param = parts[:-1], parts[-1]
    for cut in range(len(module), 0, -1):
        layer = model_layers.get("_".join(module[:cut]))
        if layer is None:
            continue
        for attribute in module[cut:]:  # walk into the attention layer's sublayers (``paths.0`` indexes a list)
            if isinstance(layer, (list, tuple)):
                layer = layer[int(attribute)] if attribute.isdigit() and int(attribute) < len(layer) else None
            else:
                layer = getattr(layer, _SUBLAYER_ALIASES.get(attribute, attribute), None)
            if not isinstance(layer, (keras.layers.Layer, list, tuple)):
                return None
        table = _parameter_table(layer)
        if table is None or param not in table or getattr(layer, table[param], None) is None:
            return None
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        return getattr(layer, table[param]), table[param] == "kernel", depthwise
    return None


def _to_keras_layout(array, variable_shape, is_kernel, depthwise=False):
    """torch (out, in, *k) / (out, in) -> Keras (*k, in, out) / (in, out); 1x1 conv -> dense;
    depthwise torch (in*m, 1, kh, kw) -> Keras (kh, kw, in, m)."""
    if is_kernel and depthwise:
        kh, kw, channels, multiplier = variable_shape
        if array.shape != (channels * multiplier, 1, kh, kw):
            return array  # the caller reports the shape mismatch
        return np.transpose(array.reshape(channels, multiplier, kh, kw), (2, 3, 0, 1))
    if is_kernel:
        array = np.transpose(array, tuple(range(2, array.ndim)) + (1, 0))
        if array.ndim > len(variable_shape) and all(d == 1 for d in array.shape[:-2]):
            array = array.reshape(array.shape[-2:])
    return array


def load_timm_state_dict(model, state_dict, source="checkpoint"):
    """Assign a timm state dict to `model` in place; raise before assigning anything if it does not fit.

    Args:
        model: a Keras model built by keras-senet (timm layer names).
        state_dict: mapping of timm tensor names to NumPy arrays.
        source: how to name the checkpoint in error messages (a path or URL).

    Returns:
        The number of Keras variables assigned.

    Raises:
        CheckpointMismatchError: a tensor without a Keras weight, a Keras weight without a tensor, or
            a shape mismatch; the message names the first offender and both shapes.
    """
    model_layers = {layer.name: layer for layer in model.layers}
    assignments = {}
    for key in sorted(state_dict):
        if key.rsplit(".", 1)[-1] in _IGNORED_PARAMETERS:
            continue
        resolved = _resolve(model_layers, key)
        if resolved is None:
            raise CheckpointMismatchError(
                f"{source}: tensor {key!r} (shape {tuple(np.shape(state_dict[key]))}) has no counterpart "
                f"in model {model.name!r}. Is the checkpoint for another architecture?")
        variable, is_kernel, depthwise = resolved
        array = _to_keras_layout(np.asarray(state_dict[key]), tuple(variable.shape), is_kernel, depthwise)
        if tuple(array.shape) != tuple(variable.shape):
            raise CheckpointMismatchError(
                f"{source}: tensor {key!r} has shape {tuple(np.shape(state_dict[key]))} (Keras layout "
                f"{tuple(array.shape)}) but {variable.path!r} in model {model.name!r} has shape "
                f"{tuple(variable.shape)}")
        if id(variable) in assignments:
            raise CheckpointMismatchError(f"{source}: tensors {assignments[id(variable)][0]!r} and "
                                          f"{key!r} both map to {variable.path!r}")
        assignments[id(variable)] = (key, variable, array)
    missing = [v.path for v in model.weights if id(v) not in assignments]
    if missing:
        raise CheckpointMismatchError(
            f"{source}: {len(missing)} weight(s) of model {model.name!r} have no tensor in the checkpoint, "
            f"first {missing[0]!r}. Is the checkpoint for another architecture (or truncated)?")
    for _, variable, array in assignments.values():
        variable.assign(array.astype(variable.dtype))
    return len(assignments)
