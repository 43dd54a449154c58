"""Every use of a private Keras / TensorFlow internal, in one place.

Each entry says why public API is not enough, links the upstream issue and names the versions it
was verified on. Outside those versions, or when the internal is gone, it raises a `RuntimeError`
that names the feature and the installed version, or falls back to public API where a safe fallback
exists. `tests/test_compat.py` fails loudly when an internal moves or changes its signature.
Patches are scoped: a context manager installs them and undoes them when its block ends, error or not.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings

# --- training ---
# Run-tested on Keras 3.15.1 + TensorFlow 2.21 (tests/test_training.py, tests/test_compat.py); the
# Keras 3.10.0 source (setup.cfg's floor) was read for the same names, signatures and call sites.
TRAINING_KERAS_VERIFIED = ("3.10", "3.15")
# Set to 1 to run the training internals on a Keras release newer than TRAINING_KERAS_VERIFIED.
UNVERIFIED_ENV = "KERAS_SENET_UNVERIFIED_INTERNALS"


def _major_minor(version):
    return tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", version).groups())


def check_training_keras(feature):
    """Raise `RuntimeError` unless the installed Keras is one `feature`'s private internals were verified on."""
    import keras

    low, high = TRAINING_KERAS_VERIFIED
    if _major_minor(low) <= _major_minor(keras.__version__) <= _major_minor(high):
        return
    if _major_minor(keras.__version__) > _major_minor(high) and os.environ.get(UNVERIFIED_ENV) == "1":
        return
    major, minor = _major_minor(high)
    raise RuntimeError(
        f"{feature} relies on private Keras internals verified on Keras {low} to {high}.x; Keras "
        f"{keras.__version__} is installed. Install 'keras>={low},<{major}.{minor + 1}', or set "
        f"{UNVERIFIED_ENV}=1 to try a newer Keras (python -m pytest tests/test_compat.py says what moved).")


def _private(owner, name, feature, where):
    """`owner.name`, or a RuntimeError naming the feature and the Keras version when it is gone."""
    import keras

    if not hasattr(owner, name):
        raise RuntimeError(f"{feature} needs the private Keras internal {where}.{name}, which Keras "
                           f"{keras.__version__} no longer has; see keras_senet/_compat.py.")
    return getattr(owner, name)


def reset_initial_epoch(model):
    """Make the next `model.fit` start at its own ``initial_epoch`` argument.

    `keras.callbacks.BackupAndRestore` resumes at the backed-up epoch (keras-team/keras#19179) by
    setting ``model._initial_epoch``, which `fit` prefers over its ``initial_epoch`` argument
    (``initial_epoch = self._initial_epoch or initial_epoch`` in every backend's trainer) and which
    Keras sets to None only in ``Trainer.__init__``. A second `fit` of the same model (finetune's
    phase 2 after a resumed phase 1) would start at phase 1's restored epoch. No upstream issue
    tracks the missing reset yet.
    """
    feature = "Resuming a multi-phase fit (BackupAndRestore)"
    check_training_keras(feature)
    _private(model, "_initial_epoch", feature, "Trainer")
    model._initial_epoch = None


def flatten_layers(model):
    """Every layer of `model`, nested ones included (custom layers' sublayers too).

    ``Layer._flatten_layers()`` (private, Keras 3.0-3.15 at least) is the only walk that reaches
    sublayers tracked as attributes of custom layers; no upstream issue proposes a public one.
    Fallback where it is missing: the public ``.layers`` of nested models, recursively (misses
    sublayers of non-model custom layers), with a warning.
    """
    walk = getattr(model, "_flatten_layers", None)
    if walk is not None:
        return list(walk(include_self=False, recursive=True))
    warnings.warn("keras.Layer._flatten_layers is gone in this Keras; BatchNorm layers nested inside custom "
                  "(non-Model) layers are not found. See keras_senet/_compat.py.", RuntimeWarning, stacklevel=2)
    layers, queue = [], list(model.layers)
    while queue:
        layer = queue.pop(0)
        layers.append(layer)
        queue.extend(getattr(layer, "layers", ()))
    return layers


@contextlib.contextmanager
def multi_worker_fit(model, strategy):
    """Within the block, ``model.fit`` works under `tf.distribute.MultiWorkerMirroredStrategy`.

    Works around keras-team/keras#20585 / tensorflow/tensorflow#72388: Keras 3's TensorFlow trainer
    fails under MultiWorkerMirroredStrategy in two places.

    1. Before training, ``TensorFlowTrainer._maybe_symbolic_build`` averages one distributed batch
       across replicas with ``strategy.reduce`` only to learn its shapes; that eager cross-worker
       reduce of a `PerReplica` fails. This replica's local batch has the same shapes (patched on
       `model` only, as an instance attribute deleted when the block ends).
    2. Each step's logs (scalar losses and metrics) are averaged by
       ``keras.src.backend.tensorflow.trainer.reduce_per_replica`` with ``strategy.reduce("MEAN", v,
       axis=0)``, which fails on scalars ("Invalid reduction dimension 0"); ``axis=None`` is the mean
       over replicas that was meant. The module function is replaced for the block only (the train
       and test functions are traced inside `fit`) and acts only for multi-worker strategies.
    """
    import tensorflow as tf

    feature = "fit under MultiWorkerMirroredStrategy"
    check_training_keras(feature)
    from keras.src.backend.tensorflow import trainer as tf_trainer

    where = "keras.src.backend.tensorflow.trainer"
    original = _private(tf_trainer, "reduce_per_replica", feature, where)
    is_multi_worker = _private(tf_trainer, "_collective_all_reduce_multi_worker", feature, where)
    _private(type(model), "_maybe_symbolic_build", feature, "TensorFlowTrainer")
    symbolic_build = _private(model, "_symbolic_build", feature, "Trainer")

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0), values)
        return original(values, strategy, reduction)

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            # Keras 3.10 yields (step, iterator), later releases (begin_step, end_step, iterator).
            for *_, it in iterator:
                data_batch = tf.nest.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues) else x, next(it))
                break
        with strategy.scope():
            symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    model._maybe_symbolic_build = maybe_symbolic_build
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original
        if "_maybe_symbolic_build" in vars(model):
            del model._maybe_symbolic_build


# --- inference ---
# Run-tested on TensorFlow 2.21 (tests/test_compat.py, tests/test_api.py); the function has had
# this name, module and first argument since TensorFlow 2.0.
INFERENCE_TF_VERIFIED = ("2.16", "2.21")


def freeze_concrete_function(concrete):
    """`concrete` (a `tf.function` concrete function) with its variables baked in as constants.

    ``tensorflow.python.framework.convert_to_constants.convert_variables_to_constants_v2`` is the
    only TF2 way to freeze a function (no public API: tensorflow/tensorflow#27614, #48639); frozen,
    Grappler folds inference BatchNorm into convolutions. Fallback on a TensorFlow outside
    INFERENCE_TF_VERIFIED or without the function: None with a warning, and the caller runs the
    unfrozen function (same outputs, slower).
    """
    import tensorflow as tf

    def major_minor(version):
        return tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", version).groups())

    low, high = INFERENCE_TF_VERIFIED
    convert = None
    if major_minor(low) <= major_minor(tf.__version__) <= major_minor(high):
        try:
            from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2 as convert
        except ImportError:
            pass
    if convert is None:
        warnings.warn(f"Freezing the forward pass uses a private TensorFlow function verified on TensorFlow {low} "
                      f"to {high}; TensorFlow {tf.__version__} is installed, so it runs unfrozen (same outputs, "
                      "slower). See keras_senet/_compat.py.", RuntimeWarning, stacklevel=2)
        return None
    return convert(concrete)
