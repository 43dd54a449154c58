"""Fast inference: `compile_predict(model)` compiles a model's forward pass once for repeated calls.

Measured on a 2-core AVX-512 CPU (TensorFlow 2.21, oneDNN; `python -m benchmarks.run`,
`python -m benchmarks.fastpath_memory`, see `benchmarks/NOTES.md`): SE-ResNet-50 with its BatchNorms
folded into the convolutions is ~10% faster than a plain ``tf.function`` at batch 16 and ~2x faster
than ``model.predict`` at batch 1; XLA (``jit_compile=True``) is slower on CPU, so it is off by default.
"""

from __future__ import annotations

import keras
import numpy as np

PRECISIONS = ("float32", "bfloat16")
FREEZE_MODES = (True, False, "fold", "graph")


def compile_predict(model, *, freeze=True, jit_compile=False, precision="float32", fused_se=False):
    """Return ``predict(images) -> np.ndarray``, equal to ``model(images, training=False)``, compiled once.

    The returned function takes a batch of any size (NumPy array or backend tensor of the model's
    input shape and dtype) and returns the model's output as NumPy. It is traced once, for an unknown
    batch size, so calls with different batch sizes do not recompile.

    TensorFlow backend: the forward pass is a ``tf.function``; `freeze` picks what it runs over.

    - ``"fold"``: a copy of the model with every ``Conv -> BatchNormalization`` pair folded into one
      biased convolution and parallel linear branches merged into one convolution (GhostNetV3's
      re-parameterisable branches; `keras_senet.reparameterize`), weights copied: a snapshot.
      Costs about one more copy of the weights (SE-ResNet-50: +0.05-0.1 GB over a plain
      ``tf.function``), as fast as ``"graph"`` within benchmark noise (``"graph"`` can be a few per
      cent faster where a call takes a few ms: oneDNN caches its constant filters).
    - ``"graph"``: the forward pass frozen into a graph with the weights as constants
      (``convert_variables_to_constants_v2``), where Grappler folds BatchNorm itself: a snapshot, the
      same speed, but the frozen GraphDef, its import and Grappler's rewrites make the process peak at
      about 17-20x the weight bytes above a plain ``tf.function`` (SE-ResNet-50: +1.8-2.1 GB;
      SE-ResNeXt-101 32x8d: +6.8 GB in issue 17). Kept for models the fold cannot copy.
    - ``True`` (default): ``"fold"`` for a functional or Sequential model with a foldable pair
      (every keras-senet model), else ``"graph"``.
    - ``False``: the model's live variables, nothing folded (~10% slower at batch 16); weights
      changed later (training, `load_weights`) are seen.

    A snapshot does not see weights changed after the call -- call `compile_predict` again.
    ``jit_compile=True`` compiles with XLA instead (only with ``freeze=False``; slower than oneDNN on
    CPU, may help on GPU). ``precision="bfloat16"`` runs a folded copy under Keras'
    ``"mixed_bfloat16"`` policy (bfloat16 arithmetic, float32 weights; the layers that make the
    outputs stay float32) and returns float32: TensorFlow on a CPU with AVX512_BF16 or AMX only
    (refused elsewhere, where bfloat16 would be emulated and slower); see the README for its speed and
    accuracy.

    ``fused_se=True`` (TensorFlow, float32, ``freeze=True`` or ``"fold"``) also runs each SE-ResNet block's
    tail -- squeeze, excitation, scale, residual add, ReLU -- as one C++ op
    (`keras_senet.fused_se.fuse_se_residual`): SE-ResNet-50 then costs 1.00-1.04x ResNet-50's time instead
    of 1.07-1.09x (README, "Performance"). The op is compiled on first use with the C++ compiler in ``$CXX``
    (default ``g++``; about 15 s, then cached); without one it raises RuntimeError. ``predict.fused_se``
    lists the SE layers fused (blocks of another shape run as before). The op has a CPU kernel only: on a
    machine with a GPU it runs on the CPU, so use it for CPU inference.

    JAX backend: ``jax.jit`` of the stateless forward pass with the current weights (a snapshot as
    well). PyTorch backend: the model under ``torch.inference_mode()`` (the weights are live).

    Args:
        model: a built `keras.Model` with one input.
        freeze: TensorFlow only: ``True`` (default), ``"fold"``, ``"graph"`` or ``False`` (see above).
        jit_compile: TensorFlow only: compile with XLA. Default False.
        precision: ``"float32"`` (default) or ``"bfloat16"`` (TensorFlow, CPU with BF16; see above).
        fused_se: TensorFlow only: fuse each SE block's tail into one op (see above). Default False.

    Returns:
        A function ``predict(images)`` returning NumPy (a structure of arrays for multi-output models).
    """
    if not (freeze is True or freeze is False or freeze in ("fold", "graph")):
        raise ValueError(f"freeze must be one of {FREEZE_MODES}; got {freeze!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    if len(model.inputs) != 1:
        raise ValueError(f"compile_predict supports models with one input; {model.name!r} has "
                         f"{len(model.inputs)}")
    if jit_compile and freeze is not False:
        raise ValueError("jit_compile=True needs freeze=False (XLA compiles the live-variable function)")
    backend = keras.backend.backend()
    if precision == "bfloat16":
        _check_bfloat16(backend, freeze)
    if fused_se:
        _check_fused_se(backend, freeze, precision)
    if backend == "tensorflow":
        return _tensorflow_predict(model, freeze, jit_compile, precision, fused_se)
    if backend == "jax":
        return _jax_predict(model)
    if backend == "torch":
        return _torch_predict(model)
    return lambda images: keras.tree.map_structure(
        keras.ops.convert_to_numpy, model(images, training=False))


def cpu_has_bfloat16():
    """True where the CPU computes bfloat16 dot products natively (x86 flags ``avx512_bf16`` or
    ``amx_bf16`` in /proc/cpuinfo); False elsewhere, including where /proc/cpuinfo is absent."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def _check_bfloat16(backend, freeze):
    if backend != "tensorflow":
        raise ValueError(f"precision='bfloat16' is implemented for the TensorFlow backend; the backend is "
                         f"{backend!r} (use precision='float32')")
    if freeze not in (True, "fold"):
        raise ValueError(f"precision='bfloat16' runs a folded copy of the model: it needs freeze=True or "
                         f"'fold'; got freeze={freeze!r}")
    if not cpu_has_bfloat16():
        raise ValueError("precision='bfloat16' needs a CPU with native bfloat16 (the avx512_bf16 or amx_bf16 "
                         "flag in /proc/cpuinfo); this CPU has neither, so bfloat16 would be emulated and "
                         "slower than float32 (use precision='float32')")


def _check_fused_se(backend, freeze, precision):
    if backend != "tensorflow":
        raise ValueError(f"fused_se=True runs a TensorFlow op; the Keras backend is {backend!r} (use the "
                         f"TensorFlow backend, or leave fused_se off)")
    if freeze not in (True, "fold"):
        raise ValueError(f"fused_se=True runs over the folded copy: it needs freeze=True or 'fold', not {freeze!r}")
    if precision != "float32":
        raise ValueError(f"fused_se=True computes in float32; it cannot be combined with precision={precision!r}")


def _tensorflow_predict(model, freeze, jit_compile, precision, fused_se=False):
    import tensorflow as tf

    from keras_senet import folding
    from keras_senet.reparameterization import reparameterize

    spec = tf.TensorSpec(tuple(model.inputs[0].shape), model.inputs[0].dtype)
    mode = freeze
    if precision == "bfloat16":
        model, mode = reparameterize(model, dtype="mixed_bfloat16")[0], "fold"
    elif freeze == "fold":
        model = reparameterize(model)[0]
    elif freeze is True:
        mode = "graph"
        if folding.foldable_pairs(model):
            try:
                model, mode = reparameterize(model)[0], "fold"
            except ValueError:  # a model Keras cannot copy (e.g. subclassed): freeze its graph instead
                pass
    fused = []
    if fused_se:
        from keras_senet.fused_se import fuse_se_residual

        if mode != "fold":
            raise ValueError(f"fused_se=True needs a model Keras can copy (a functional or Sequential model with a "
                             f"Conv -> BatchNorm pair); {model.name!r} is not one")
        model, fused = fuse_se_residual(model)
        if fused:
            from keras_senet import kernels

            kernels.load()  # built now, before tracing: a missing compiler is said here

    def forward(x):
        outputs = model(x, training=False)
        return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32) if t.dtype == tf.bfloat16 else t, outputs)

    concrete = tf.function(forward, jit_compile=jit_compile, autograph=False).get_concrete_function(spec)
    frozen = None
    if mode == "graph":
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

    predict.model = model  # what runs: the folded copy, or `model` itself
    predict.fused_se = fused
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
