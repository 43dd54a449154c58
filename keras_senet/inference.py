"""Fast inference: `compile_predict(model)` compiles a model's forward pass once for repeated calls.

Measured on a 2-core AVX-512 CPU (TensorFlow 2.21, oneDNN; `python -m benchmarks.run`, see
`benchmarks/NOTES.md`): SE-ResNet-50 in a frozen graph is ~15% faster than a plain ``tf.function``
at batch 16 and ~2x faster than ``model.predict`` at batch 1; XLA (``jit_compile=True``) is slower
on CPU, so it is off by default.
"""

from __future__ import annotations

import keras
import numpy as np


def compile_predict(model, *, freeze=True, jit_compile=False):
    """Return ``predict(images) -> np.ndarray``, equal to ``model(images, training=False)``, compiled once.

    The returned function takes a batch of any size (NumPy array or backend tensor of the model's
    input shape and dtype) and returns the model's output as NumPy. It is traced once, for an unknown
    batch size, so calls with different batch sizes do not recompile.

    TensorFlow backend: the forward pass is a ``tf.function``. With ``freeze=True`` (default) the
    weights are baked into the graph as constants, which lets TensorFlow's graph optimiser (Grappler)
    fold every inference-mode BatchNormalization into the preceding convolution and fuse bias, add
    and ReLU into oneDNN convolutions. The frozen function is a snapshot: weights changed after the
    call (training, `load_weights`) are not seen -- call `compile_predict` again. ``freeze=False``
    reads the live variables (slower). ``jit_compile=True`` compiles with XLA instead (only with
    ``freeze=False``; slower than oneDNN on CPU, may help on GPU).

    JAX backend: ``jax.jit`` of the stateless forward pass with the current weights (a snapshot as
    well). PyTorch backend: the model under ``torch.inference_mode()`` (the weights are live).

    Args:
        model: a built `keras.Model` with one input.
        freeze: TensorFlow only: bake the weights into the graph (see above). Default True.
        jit_compile: TensorFlow only: compile with XLA. Default False.

    Returns:
        A function ``predict(images)`` returning NumPy (a structure of arrays for multi-output models).
    """
    if len(model.inputs) != 1:
        raise ValueError(f"compile_predict supports models with one input; {model.name!r} has "
                         f"{len(model.inputs)}")
    if jit_compile and freeze:
        raise ValueError("jit_compile=True needs freeze=False (XLA compiles the live-variable function)")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_predict(model, freeze, jit_compile)
    if backend == "jax":
        return _jax_predict(model)
    if backend == "torch":
        return _torch_predict(model)
    return lambda images: keras.tree.map_structure(
        keras.ops.convert_to_numpy, model(images, training=False))


def _tensorflow_predict(model, freeze, jit_compile):
    import tensorflow as tf

    spec = tf.TensorSpec(tuple(model.inputs[0].shape), model.inputs[0].dtype)
    forward = tf.function(lambda x: model(x, training=False), jit_compile=jit_compile, autograph=False)
    concrete = forward.get_concrete_function(spec)
    frozen = None
    if freeze:
        from keras_senet import _compat

        frozen = _compat.freeze_concrete_function(concrete)  # None: this TensorFlow runs it unfrozen
    if frozen is not None:
        structure = concrete.structured_outputs

        def run(x):
            return tf.nest.pack_sequence_as(structure, frozen(x))
    else:
        run = concrete

    def predict(images):
        outputs = run(tf.convert_to_tensor(images, dtype=spec.dtype))
        return tf.nest.map_structure(lambda t: t.numpy(), outputs)

    return predict


def _jax_predict(model):
    import jax

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    dtype = model.inputs[0].dtype

    @jax.jit
    def forward(trainable, non_trainable, x):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return outputs

    def predict(images):
        outputs = forward(trainable, non_trainable, jax.numpy.asarray(images, dtype=dtype))
        return jax.tree_util.tree_map(np.asarray, outputs)

    return predict


def _torch_predict(model):
    import torch

    def predict(images):
        with torch.inference_mode():
            outputs = model(keras.ops.convert_to_tensor(images, dtype=model.inputs[0].dtype),
                            training=False)
        return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)

    return predict
