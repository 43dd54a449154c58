"""The run directory: settings check and resume state, per-epoch history and checkpoints, atomic saves.

    workdir/run.json                 settings of the run (a resume must match them)
    workdir/history.jsonl            one JSON line per finished epoch; history.json when the run ends
    workdir/checkpoints/epochNNN.weights.h5, workdir/logs/, workdir/backup/phaseN/ (`_AtomicBackup`)
    workdir/model.keras                               the finished run (it carries its preprocessing)

Non-chief workers of a multi-worker run keep their state in ``workdir/.workers/<task id>``.
"""

from __future__ import annotations

import json
import os
import re
import shutil

PREPROCESSING_FILE = "preprocessing.json"


def _prepare_workdir(workdir, strategy, chief, settings, overwrite):
    """Check `workdir` against a finished or different earlier run; returns this worker's state folder.

    Non-chief workers of a multi-worker run keep their state in ``workdir/.workers/<task id>``.
    """
    statedir = workdir if chief else os.path.join(workdir, ".workers", str(strategy.cluster_resolver.task_id))
    if chief:  # a run killed while writing model.keras / history.json / run.json left `<name>.tmp-<pid>`
        _remove_temporaries(workdir)
    if chief and os.path.exists(os.path.join(workdir, "model.keras")) and not overwrite:
        raise ValueError(f"{workdir} holds a finished run (model.keras); pass overwrite=True (CLI: --overwrite) "
                         "or use another workdir.")
    settings_path = os.path.join(statedir, "run.json")
    if not overwrite and os.path.exists(settings_path):
        with open(settings_path) as f:
            before = json.load(f)
        if before != json.loads(json.dumps(settings)):
            changed = {k: (before.get(k), v) for k, v in settings.items() if before.get(k) != v}
            raise ValueError(f"{workdir} holds an unfinished run with other settings {changed} (before, now); "
                             "resume with the same settings, or pass overwrite=True to start afresh.")
    if overwrite:
        for name in ("backup", "checkpoints", "logs", "history.jsonl", "run.json"):
            path = os.path.join(statedir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    os.makedirs(statedir, exist_ok=True)
    _atomic_json(settings, settings_path)
    return statedir


class _EpochLog:
    """Appends one JSON line per finished epoch (flushed), so resumed runs keep a complete history."""

    def __new__(cls, path, phase):
        import keras

        class EpochLog(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                record = {"epoch": epoch + 1, "phase": phase}
                record.update({k: float(v) for k, v in (logs or {}).items()})
                with open(path, "a") as f:
                    f.write(json.dumps(record) + "\n")
                    f.flush()
                    os.fsync(f.fileno())

        return EpochLog()


def _remove_temporaries(folder):
    """Remove what a killed save left in `folder` of this run (one run uses a workdir at a time)."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith((".partial-", ".tmp-")) or ".tmp-" in name:
                os.remove(os.path.join(folder, name))


def _save_weights_atomically(model, folder, name):
    """``model.save_weights`` to ``folder/name`` through a temporary file; returns its SHA-256."""
    from keras_senet import _temporary
    from keras_senet.weights.download import sha256_file

    os.makedirs(folder, exist_ok=True)
    partial = _temporary.make_file(".partial-", folder, suffix=".weights.h5")
    try:
        model.save_weights(partial, overwrite=True)
        digest = sha256_file(partial)
        os.replace(partial, os.path.join(folder, name))
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return digest


class _AtomicBackup:
    """`keras.callbacks.BackupAndRestore` whose every save can be killed at any moment.

    Keras rewrites ``latest.weights.h5`` in place: a kill during the first save of a phase left a
    truncated file that every resume failed on. Here each epoch's state is a new, complete
    ``epochNNN.weights.h5`` (written to a temporary and renamed), and ``training_metadata.json`` --
    replaced atomically, the one before kept as ``.bkp`` -- points at it with its SHA-256. A resume
    takes the newest pointer whose file is complete; with none, the phase starts from its beginning.
    """

    def __new__(cls, folder):
        import keras

        from keras_senet import _compat
        from keras_senet.weights.download import sha256_file

        pointer = os.path.join(folder, "training_metadata.json")
        previous = pointer + ".bkp"

        def saved_state(path):
            """(epoch, weights path) that `path` points at, if the weights are complete, else None."""
            try:
                with open(path) as f:
                    record = json.load(f)
                weights = os.path.join(folder, record.get("weights", "latest.weights.h5"))  # Keras' layout
                if "sha256" in record and sha256_file(weights) != record["sha256"]:
                    return None
                return int(record["epoch"]), weights
            except (OSError, ValueError, KeyError, TypeError):
                return None

        class AtomicBackup(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                _remove_temporaries(folder)
                for path in (pointer, previous):
                    state = saved_state(path)
                    if state is None:
                        continue
                    if self.model.optimizer is not None and not self.model.optimizer.built:
                        self.model.optimizer.build(self.model.trainable_variables)  # its state is saved too
                    try:
                        self.model.load_weights(state[1])
                    except (OSError, ValueError):
                        continue
                    _compat.set_initial_epoch(self.model, state[0])
                    return

            def on_epoch_end(self, epoch, logs=None):
                name = f"epoch{epoch + 1:03d}.weights.h5"
                digest = _save_weights_atomically(self.model, folder, name)
                if os.path.exists(pointer):
                    os.replace(pointer, previous)
                _atomic_json({"epoch": epoch + 1, "batch": 0, "weights": name, "sha256": digest}, pointer)
                wanted = {name}
                try:
                    with open(previous) as f:
                        wanted.add(json.load(f).get("weights"))
                except (OSError, ValueError, AttributeError):
                    pass
                for other in os.listdir(folder):
                    if other.endswith(".weights.h5") and other not in wanted and not other.startswith("."):
                        os.remove(os.path.join(folder, other))

        return AtomicBackup()


class _EpochCheckpoint:
    """Saves ``epochNNN.weights.h5`` (model and optimizer state) each epoch, keeping the last `keep`."""

    def __new__(cls, folder, keep):
        import keras

        class EpochCheckpoint(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                _remove_temporaries(folder)

            def on_epoch_end(self, epoch, logs=None):
                _save_weights_atomically(self.model, folder, f"epoch{epoch + 1:03d}.weights.h5")
                saved = sorted(f for f in os.listdir(folder) if re.fullmatch(r"epoch\d+\.weights\.h5", f))
                for name in saved[:-keep] if keep else []:
                    os.remove(os.path.join(folder, name))

        return EpochCheckpoint()


def _read_history(path):
    """Epoch records of the JSON-lines log, the last record of each epoch kept, as lists per key."""
    records = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:  # a line cut by a kill
                        continue
                    records[record["epoch"]] = record
    keys = []
    for record in records.values():
        keys += [k for k in record if k not in keys]
    ordered = [records[e] for e in sorted(records)]
    return {k: [r.get(k) for r in ordered] for k in keys}


def _atomic_save(model, path):
    """Save an uncompiled copy (no optimizer state: a third of the size) to `path`, atomically."""
    copy = type(model).from_config(model.get_config())  # a ZooModel keeps its preprocessing config
    copy.set_weights(model.get_weights())
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    copy.save(tmp)
    os.replace(tmp, path)


def _atomic_json(data, path):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def saved_preprocessing(model_file):
    """The `PreprocessingConfig` a ``.keras`` file saved by `finetune` carries, or None.

    Runs of keras-senet 0.1 wrote it beside the file as ``preprocessing.json``; that is read too.
    """
    import keras

    from keras_senet.preprocessing import PreprocessingConfig

    path = os.fspath(model_file)
    legacy = os.path.join(os.path.dirname(os.path.abspath(path)), PREPROCESSING_FILE)
    if os.path.isfile(legacy):
        with open(legacy) as f:
            return PreprocessingConfig.from_dict(json.load(f))
    import keras_senet  # noqa: F401  (registers ZooModel and the layers)

    return getattr(keras.saving.load_model(path, compile=False), "preprocessing", None)
