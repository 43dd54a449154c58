"""An SE-ResNet block's tail as one TensorFlow op, for inference: ``compile_predict(model, fused_se=True)``.

In an SE residual block the SE layer's output goes to the residual ``Add`` and then a ``ReLU``::

    y (the last BatchNorm, folded) -> SqueezeExcite -> Add(., shortcut) -> ReLU

`fuse_se_residual` returns a copy of a model in which each such chain is one `SqueezeExciteResidual` layer: the
squeeze, the excitation's two small matrix products, the scale, the residual add and the ReLU in one C++ op
(`keras_senet/kernels/se_residual.cc`). TensorFlow runs them as eight ops, three of them passes over the block's
output; on the 2-core AVX-512 machine SE-ResNet-50's time over ResNet-50's falls from 1.07-1.09 to 1.00-1.04
(README, "Performance"). The fused chain must be the plain SE of SENet and timm's SE-ResNets: average squeeze,
ReLU, sigmoid gate, biases, no BatchNorm, channels last, float32; any other layer is copied as it is.
"""

from __future__ import annotations

import keras

from keras_senet import folding
from keras_senet.reparameterization import _keep_attributes
from keras_senet.layers.squeeze_excite import SqueezeExcite


@keras.saving.register_keras_serializable(package="keras_senet")
class SqueezeExciteResidual(keras.layers.Layer):
    """``relu(se(y) + shortcut)`` for an SE layer `se`, as one TensorFlow CPU op (inference only).

    Args:
        se: a built `SqueezeExcite` that `fusable` accepts; its weights are this layer's.
        **kwargs: base `keras.layers.Layer` arguments (name, ...).

    Call: ``layer(y, shortcut)``, both ``(batch, height, width, channels)`` float32; returns the same shape.
    TensorFlow backend only; the kernel is built on first use (`keras_senet.kernels`).
    """

    def __init__(self, se, **kwargs):
        super().__init__(**kwargs)
        if isinstance(se, dict):  # from get_config
            se = keras.layers.deserialize(se)
        if not _plain_form(se):
            raise ValueError(f"SqueezeExciteResidual fuses a plain SqueezeExcite (squeeze='avg', activation='relu', "
                             f"gate='sigmoid', use_bias=True, use_norm=False, channels_last, float32); got "
                             f"{getattr(se, 'name', se)!r}")
        self.se = se

    def build(self, y_shape, shortcut_shape=None):
        if not self.se.built:
            self.se.build(y_shape)

    def call(self, y, shortcut):
        from keras_senet import kernels

        se = self.se
        return kernels.load().keras_senet_squeeze_excite_residual(y, shortcut, se.fc1.kernel, se.fc1.bias,
                                                                   se.fc2.kernel, se.fc2.bias)

    def compute_output_shape(self, y_shape, shortcut_shape=None):
        return tuple(y_shape)

    def get_config(self):
        return dict(super().get_config(), se=keras.layers.serialize(self.se))


def fusable(layer):
    """Whether `layer` is a built SqueezeExcite that the fused op computes exactly."""
    return _plain_form(layer) and layer.built


def _plain_form(layer):
    return (type(layer) is SqueezeExcite and layer.squeeze == "avg" and layer.activation == "relu"
            and layer.gate == "sigmoid" and layer.use_bias and not layer.use_norm
            and layer.data_format == "channels_last" and layer.compute_dtype == "float32")


def fuse_se_residual(model):
    """A copy of `model` with each ``SqueezeExcite -> Add -> ReLU`` chain one `SqueezeExciteResidual`.

    Args:
        model: a built functional or Sequential `keras.Model` (TensorFlow backend). A chain is fused where the
            SE layer is `fusable`, only the ``Add`` reads its output, the ``Add`` sums it and one other tensor of
            its shape, and only a plain ReLU (``keras.layers.ReLU()`` or ``Activation("relu")``) reads the sum;
            each layer called once.

    Returns:
        `(copy, fused)`: the copy (the same inputs, outputs and output names; weights copied: a snapshot; each
        fused layer named as the ReLU it replaces) and the names of the SE layers fused, in the model's order
        (empty: the copy computes what `model` does, unfused).
    """
    from keras_senet import _compat

    folding.check_graph_model(model, "fuse_se_residual")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"fuse_se_residual builds a TensorFlow op; the Keras backend is "
                         f"{keras.backend.backend()!r}")
    chains = _chains(model, _compat.functional_calls(model))  # ReLU name -> (SE name, Add name)
    roles = {name: (role, se) for se, add in chains.values() for name, role in ((se, "se"), (add, "add"))}
    seen = {}  # SE name -> (the copied SE layer, its input y, its output); Add name -> the shortcut

    def call_layer(layer, *args, **kwargs):
        role, se_name = roles.get(layer.name, (None, None))
        if role is None and layer.name not in chains:
            return layer(*args, **kwargs)
        if role == "se":
            output = layer(*args, **kwargs)
            seen[layer.name] = (layer, args[0], output)
            return output
        if role == "add":
            seen[layer.name] = next(t for t in args[0] if t is not seen[se_name][2])
            return layer(*args, **kwargs)
        se_name, add_name = chains[layer.name]
        se_layer, y, _ = seen[se_name]
        return SqueezeExciteResidual(se_layer, name=layer.name, dtype="float32")(y, seen[add_name])

    try:
        copy = keras.models.clone_model(model, call_function=call_layer)
    except (NotImplementedError, TypeError, ValueError) as error:  # subclassed models, custom configs
        raise ValueError(f"fuse_se_residual could not copy {model.name!r} (a functional or Sequential model with "
                         f"serializable layers is needed): {error}") from error
    se_names = {relu: se for relu, (se, _) in chains.items()}
    for layer in copy.layers:
        if isinstance(layer, SqueezeExciteResidual):
            layer.se.set_weights(model.get_layer(se_names[layer.name]).get_weights())
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return _keep_attributes(model, copy), [se for se, _ in sorted(chains.values(), key=lambda chain: _position(model, chain[0]))]


def _position(model, name):
    return next(i for i, operation in enumerate(model.operations) if operation.name == name)


def _chains(model, calls):
    """``{ReLU name: (SE name, Add name)}`` for each fusable chain of `model` (`fuse_se_residual`)."""
    readers = {}  # id(tensor) -> the operations whose calls read it
    for operation in model.operations:
        for node in calls.get(id(operation), []):
            for tensor in keras.tree.flatten(node.input_tensors):
                readers.setdefault(id(tensor), []).append(operation)
    outputs = {id(t) for t in keras.tree.flatten(model.outputs)}

    def only_reader(node):
        (tensor,) = keras.tree.flatten(node.output_tensors)
        found = readers.get(id(tensor), [])
        return found[0] if len(found) == 1 and id(tensor) not in outputs else None

    chains = {}
    for se in model.operations:
        if not fusable(se) or len(calls.get(id(se), [])) != 1:
            continue
        (se_node,) = calls[id(se)]
        add = only_reader(se_node)
        if type(add) is not keras.layers.Add or len(calls.get(id(add), [])) != 1:
            continue
        (add_node,) = calls[id(add)]
        summed = keras.tree.flatten(add_node.input_tensors)
        if len(summed) != 2 or any(tuple(t.shape) != tuple(summed[0].shape) or t.dtype != "float32" for t in summed):
            continue
        relu = only_reader(add_node)
        if (_plain_relu(relu) and len(calls.get(id(relu), [])) == 1
                and add.compute_dtype == relu.compute_dtype == "float32"):
            chains[relu.name] = (se.name, add.name)
    return chains


def _plain_relu(layer):
    if type(layer) is keras.layers.ReLU:
        config = layer.get_config()
        return config.get("max_value") is None and not config.get("negative_slope") and not config.get("threshold")
    return type(layer) is keras.layers.Activation and layer.get_config().get("activation") == "relu"
