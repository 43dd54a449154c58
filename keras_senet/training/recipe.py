"""The fine-tuning recipe: a new head, AdamW with warm-up and cosine decay, label smoothing, the
callbacks, and `finetune`'s two phases around `model.fit`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from typing import Optional

from keras_senet import _compat
from keras_senet.training.distribution import _AverageBatchNormStatistics, _is_chief, make_strategy
from keras_senet._deprecation import reject_unknown, renamed
from keras_senet.training.freezing import _stages, set_trainable
from keras_senet.training.pictures import write_pictures
from keras_senet.training.rundir import (_atomic_json, _atomic_save, _AtomicBackup, _EpochCheckpoint,
                                         _EpochLog, _prepare_workdir, _read_history)

HEAD_NAME = "head"


@dataclasses.dataclass
class FinetuneResult:
    """What `finetune` returns.

    Attributes:
        model: the trained `keras.Model` (softmax outputs ``(batch, num_classes)``).
        history: ``{"epoch": [1, 2, ...], "phase": [1, 2, ...], "loss": [...], "accuracy": [...],
            "val_accuracy": [...], ...}`` over every epoch of both phases, resumed runs included.
        model_path: the saved ``.keras`` file (None on non-chief workers), uncompiled; next to it
            the model carries the training data's `PreprocessingConfig` (``model.preprocessing``).
        history_path: the history JSON (None on non-chief workers).
    """

    model: object
    history: dict
    model_path: Optional[str]
    history_path: Optional[str]


def build_classifier(model=None, num_classes=None, *, weights="imagenet", input_size=None, dropout=0.0,
                     **deprecated):
    """Backbone of registry model `model` (global average pooling) + a new ``num_classes``-way softmax
    head, on ``input_size`` x ``input_size`` images (default: any size). ``model_name=`` and
    ``image_size=`` are the deprecated 0.1 spellings.

    The head (``"head"``, float32 even under mixed precision) follows the pooled features
    ``(batch, num_features)``. The model carries the backbone's preprocessing config (registry
    name, weights tag, input size, crop, mean/std: ``model.preprocessing``).
    """
    import keras

    from keras_senet.factory import create_model
    from keras_senet.models import ZooModel

    model = renamed("build_classifier", deprecated, "model_name", "model", model)
    input_size = renamed("build_classifier", deprecated, "image_size", "input_size", input_size)
    reject_unknown("build_classifier", deprecated)
    name = str(model).partition(".")[0]
    shape = None if input_size is None else (input_size, input_size, 3)
    if shape and keras.config.image_data_format() == "channels_first":
        shape = (3, input_size, input_size)
    backbone = create_model(model, weights=weights, include_top=False, pooling="avg", input_shape=shape)
    x = backbone.output
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name=HEAD_NAME)(x)
    return ZooModel(backbone.input, outputs, name=name, preprocessing=backbone.preprocessing)


def _label_mapper(data, num_classes):
    """Map sparse int labels to one-hot (label smoothing needs them); check one-hot widths. None: no map."""
    import tensorflow as tf

    if data is None:
        return None
    spec = data.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError("Datasets must yield (images, labels) batches, e.g. from keras_senet.data.load_dataset;"
                         f" got element_spec {spec}.")
    label_spec = spec[1]
    if label_spec.shape.rank == 1:
        return lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), num_classes))
    if label_spec.shape.rank == 2 and label_spec.shape[-1] not in (None, num_classes):
        raise ValueError(f"One-hot labels have {label_spec.shape[-1]} classes but num_classes={num_classes}.")
    if label_spec.shape.rank != 2:
        raise ValueError(f"Labels must be batched class indices (batch,) or one-hot (batch, classes); got "
                         f"shape {label_spec.shape}.")
    return None


def _steps(data, what):
    import tensorflow as tf

    steps = int(data.cardinality())
    if steps == tf.data.INFINITE_CARDINALITY or steps == tf.data.UNKNOWN_CARDINALITY:
        raise ValueError(f"The number of {what} batches is unknown (cardinality {steps}); pass steps_per_epoch "
                         "or a dataset of known length (load_dataset with verify=True).")
    if steps < 1:
        raise ValueError(f"The {what} dataset is empty (0 batches).")
    return steps


def _optimizer(lr, steps, warmup, weight_decay):
    import keras

    warmup_steps = int(round(steps * warmup))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else lr, decay_steps=max(1, steps - warmup_steps),
        alpha=0.01, warmup_target=lr if warmup_steps else None, warmup_steps=warmup_steps)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def finetune(model=None, train_data=None, val_data=None, num_classes=None, *, weights="imagenet",
             workdir="finetune_run", head_epochs=1, epochs=5, head_lr=1e-3, lr=1e-4, warmup=0.1,
             weight_decay=0.05, label_smoothing=0.1, unfreeze="all", freeze_batchnorm=False, dropout=0.0,
             mixed_precision=False, jit_compile=False, strategy=None, steps_per_epoch=None,
             validation_steps=None, callbacks=(), tensorboard="auto", keep_checkpoints=3, overwrite=False,
             verbose="auto", **deprecated):
    """Fine-tune a classifier on `train_data`; resumes a killed run in the same `workdir`.

    Args:
        model: registry name (``"seresnet50"``, ``"seresnet50.a1_in1k"``): its backbone with
            `weights` and a new ``num_classes``-way head; or a `keras.Model` classifier whose output
            already has ``num_classes`` units (its head = the layers after global pooling).
        train_data: `tf.data.Dataset` of ``(images, labels)`` batches, labels int ``(batch,)`` or
            one-hot ``(batch, num_classes)`` (e.g. `keras_senet.data.load_dataset`). With a strategy
            the batch is global: per-replica size times ``strategy.num_replicas_in_sync``.
        val_data: optional dataset like `train_data`, evaluated after each epoch.
        num_classes: classes of the head; default ``train_data.num_classes``. Must match the data
            and a given model's head.
        weights: backbone weights for a registry name: ``"imagenet"`` (default), a tag, a file, None.
        workdir: directory of checkpoints, logs, backup state, ``model.keras`` and ``history.json``, and
            (with matplotlib) ``learning_curves.png`` and, with `val_data`, ``confusion_matrix.png``.
        head_epochs: phase 1 epochs (backbone frozen); 0 skips it (e.g. random initialisation).
        epochs: phase 2 epochs (unfrozen); 0 skips it.
        head_lr, lr: peak learning rates of phase 1 and phase 2.
        warmup: fraction of each phase's steps with a linear warm-up (then cosine decay to 1%).
        weight_decay: AdamW decoupled weight decay (not applied to biases and BatchNorm).
        label_smoothing: of the categorical cross-entropy.
        unfreeze: phase 2 trains ``"all"`` layers or the top N stages (``layer4``, ``layer3``...) + head.
        freeze_batchnorm: keep all BatchNorm layers in inference mode in phase 2 too.
        dropout: dropout before a new head.
        mixed_precision: False, True / ``"mixed_float16"`` or ``"mixed_bfloat16"`` (registry names only:
            layers take their dtype policy when built). The head computes in float32.
        jit_compile: XLA-compile the train step.
        strategy: None / ``"default"``, ``"mirrored"``, ``"multi_worker"`` or a `tf.distribute.Strategy`
            (create ``"multi_worker"`` with `make_strategy` before making datasets).
        steps_per_epoch, validation_steps: needed only for datasets of unknown length.
        callbacks: extra Keras callbacks (run after the built-in ones).
        keep_checkpoints: per-epoch ``workdir/checkpoints/epochNNN.weights.h5`` files to keep (the newest;
            None keeps all, 0 writes none).
        tensorboard: write TensorBoard logs to ``workdir/logs``: True (needs the ``tensorboard`` package;
            ``pip install 'keras-senet[train]'``), False, or ``"auto"`` (default: when it is installed).
        overwrite: start afresh in a `workdir` that holds a finished run (else ValueError).
        verbose: `model.fit` verbosity: ``"auto"`` (default) is progress bars on a terminal and one line
            per epoch otherwise (logs, CI), 0, 1 or 2.

    Returns:
        `FinetuneResult`.
    """
    import keras
    import tensorflow as tf

    model_or_name = renamed("finetune", deprecated, "model_or_name", "model", model)
    reject_unknown("finetune", deprecated)
    num_classes, mixed_precision = _check_arguments(
        model_or_name, train_data, val_data, num_classes, head_epochs, epochs, warmup, unfreeze, mixed_precision)
    if keep_checkpoints is not None and (isinstance(keep_checkpoints, bool) or not isinstance(keep_checkpoints, int)
                                         or keep_checkpoints < 0):
        raise ValueError(f"keep_checkpoints must be None or a non-negative integer, got {keep_checkpoints!r}")
    to_one_hot, val_to_one_hot = _label_mapper(train_data, num_classes), _label_mapper(val_data, num_classes)
    steps = steps_per_epoch or _steps(train_data, "training")
    tensorboard = _check_tensorboard(tensorboard)
    if isinstance(strategy, str) or strategy is None:
        strategy = make_strategy(strategy)
    distributed = strategy is not tf.distribute.get_strategy()
    chief = _is_chief(strategy)
    workdir = os.path.abspath(os.fspath(workdir))
    model_path, history_path = os.path.join(workdir, "model.keras"), os.path.join(workdir, "history.json")
    settings = dict(model=model_or_name if isinstance(model_or_name, str) else model_or_name.name,
                    num_classes=num_classes, head_epochs=head_epochs, epochs=epochs, unfreeze=unfreeze,
                    mixed_precision=mixed_precision or False, input_shape=list(train_data.element_spec[0].shape[1:]))
    statedir = _prepare_workdir(workdir, strategy, chief, settings, overwrite)
    log_path = os.path.join(statedir, "history.jsonl")
    train = train_data.map(to_one_hot) if to_one_hot else train_data
    val = val_data.map(val_to_one_hot) if val_to_one_hot else val_data

    with strategy.scope():
        if isinstance(model_or_name, keras.Model):
            model = model_or_name
            if distributed:  # variables must be created in the strategy's scope
                model = keras.models.clone_model(model_or_name)
                model.set_weights(model_or_name.get_weights())
        else:
            previous = keras.config.dtype_policy()
            if mixed_precision:
                keras.config.set_dtype_policy(mixed_precision)
            try:
                model = build_classifier(model_or_name, num_classes, weights=weights,
                                         input_size=_input_size(train_data), dropout=dropout)
            finally:
                keras.config.set_dtype_policy(previous)

        for phase, phase_epochs, phase_lr, initial in ((1, head_epochs, head_lr, 0), (2, epochs, lr, head_epochs)):
            if not phase_epochs:
                continue
            set_trainable(model, phase, unfreeze=unfreeze, freeze_batchnorm=freeze_batchnorm)
            model.compile(optimizer=_optimizer(phase_lr, steps * phase_epochs, warmup, weight_decay),
                          loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
                          metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"),
                                   keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top5")],
                          jit_compile=jit_compile)
            phase_callbacks = [_AverageBatchNormStatistics(strategy)] if strategy.num_replicas_in_sync > 1 else []
            # The epoch is logged before its backup: a kill between the two reruns a logged epoch (its
            # record is replaced) instead of resuming after an epoch that was never logged.
            phase_callbacks.append(_EpochLog(log_path, phase))
            phase_callbacks.append(_AtomicBackup(os.path.join(statedir, "backup", f"phase{phase}")))
            if chief and keep_checkpoints != 0:
                phase_callbacks.append(_EpochCheckpoint(os.path.join(statedir, "checkpoints"), keep_checkpoints))
            if tensorboard:
                phase_callbacks.append(keras.callbacks.TensorBoard(os.path.join(statedir, "logs")))
            phase_callbacks += list(callbacks)
            _compat.reset_initial_epoch(model)  # Keras never resets what BackupAndRestore set in an earlier fit
            multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            with _compat.multi_worker_fit(model, strategy) if multi_worker else contextlib.nullcontext():
                model.fit(train, validation_data=val, epochs=initial + phase_epochs, initial_epoch=initial,
                          steps_per_epoch=steps_per_epoch, validation_steps=validation_steps, shuffle=False,
                          callbacks=phase_callbacks, verbose=_fit_verbosity(verbose))

    set_trainable(model, 2, unfreeze="all")
    history = _read_history(log_path)
    if not chief:
        return FinetuneResult(model, history, None, None)
    _atomic_json(history, history_path)
    model = _with_training_preprocessing(model, getattr(train_data, "preprocessing", None))
    _atomic_save(model, model_path)
    write_pictures(workdir, history, model, val_data, num_classes, getattr(train_data, "class_names", None))
    shutil.rmtree(os.path.join(statedir, "backup"), ignore_errors=True)  # the run is complete
    return FinetuneResult(model, history, model_path, history_path)


def _fit_verbosity(verbose):
    """Keras' "auto" draws progress bars into log files too (one line of bars per epoch)."""
    import sys

    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return verbose


def _with_training_preprocessing(model, data_config):
    """`model` carrying the preprocessing its training images had (size, crop, mean/std), so the saved
    ``.keras`` file is evaluated and exported as it was trained; the architecture and weights fields
    stay the model's own."""
    from keras_senet.models import ZooModel

    own = getattr(model, "preprocessing", None)
    if data_config is None:
        return model
    config = data_config.replace(model=getattr(own, "model", None), weights=getattr(own, "weights", None))
    if isinstance(model, ZooModel):
        model.preprocessing = config
        return model
    return ZooModel.wrap(model, config)


def _check_arguments(model_or_name, train_data, val_data, num_classes, head_epochs, epochs, warmup, unfreeze,
                     mixed_precision):
    """Validate `finetune`'s arguments before any work. Returns (num_classes, mixed_precision policy)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"finetune runs on the TensorFlow backend (tf.data, tf.distribute); KERAS_BACKEND is "
                           f"{keras.backend.backend()!r}.")
    _compat.check_training_keras("finetune")
    if model_or_name is None or train_data is None:
        raise TypeError("finetune() needs a model (registry name or keras.Model) and train_data")
    for name, value in (("head_epochs", head_epochs), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if head_epochs + epochs == 0:
        raise ValueError("head_epochs and epochs are both 0: nothing to train.")
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must be a fraction in [0, 1), got {warmup!r}")
    if unfreeze != "all" and (isinstance(unfreeze, bool) or not isinstance(unfreeze, int) or unfreeze < 0):
        raise ValueError(f"unfreeze must be 'all' or a non-negative number of stages, got {unfreeze!r}")
    mixed_precision = "mixed_float16" if mixed_precision is True else mixed_precision
    if mixed_precision not in (False, None, "mixed_float16", "mixed_bfloat16"):
        raise ValueError(f"mixed_precision={mixed_precision!r}: use False, True, 'mixed_float16' or "
                         "'mixed_bfloat16'.")
    if num_classes is None:
        num_classes = getattr(train_data, "num_classes", None)
        if num_classes is None:
            raise ValueError("num_classes is needed: the training data does not say how many classes it has.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    for what, data in (("training", train_data), ("validation", val_data)):
        classes = getattr(data, "num_classes", None)
        if classes is not None and classes != num_classes:
            raise ValueError(f"num_classes={num_classes} but the {what} data has {classes} classes "
                             f"({', '.join(map(str, data.class_names[:10]))}...).")
    if isinstance(model_or_name, keras.Model):
        outputs = model_or_name.output_shape[-1]
        if outputs != num_classes:
            raise ValueError(f"The given model's head has {outputs} outputs but num_classes={num_classes}. Pass a "
                             "registry name to get a new head of num_classes, or a model with a matching head.")
        if mixed_precision:
            raise ValueError("mixed_precision needs a registry name (layers take their dtype policy when built); "
                             "build your model under keras.mixed_precision.set_global_policy('mixed_float16').")
        if unfreeze not in ("all", 0) and _stages(model_or_name) is None:
            raise ValueError(f"unfreeze={unfreeze}: model {model_or_name.name!r} carries no keras-senet architecture "
                             "(its stages are unknown); use unfreeze='all'.")
    else:
        from keras_senet import zoo

        zoo.get_entry(str(model_or_name).partition(".")[0])
    return num_classes, mixed_precision


def _check_tensorboard(tensorboard):
    import importlib.util

    if tensorboard not in (True, False, "auto"):
        raise ValueError(f"tensorboard must be True, False or 'auto', got {tensorboard!r}")
    installed = importlib.util.find_spec("tensorboard") is not None
    if tensorboard is True and not installed:
        raise ImportError("tensorboard=True needs the tensorboard package: pip install 'keras-senet[train]' "
                          "(or tensorboard=False).")
    return bool(tensorboard) and installed


def _input_size(data):
    """Square input side of a dataset's images (channels-last or -first), or None if not static."""
    shape = data.element_spec[0].shape
    if shape.rank != 4:
        raise ValueError(f"Images must be batched (batch, height, width, 3); got shape {shape}.")
    spatial = shape[1:3] if shape[-1] == 3 else shape[2:4]
    if spatial[0] is None or spatial[0] != spatial[1]:
        return None
    return int(spatial[0])

