"""Fine-tuning: freezing, resume after a kill, mixed precision, tf.distribute strategies (2 logical
CPUs; 2 worker processes on 127.0.0.1), the CLI, and bad input. The learning check on the digits is
tests/test_quickstart.py.

Models are SE-ResNet-18 at 32x32 on scikit-learn's 8x8 digits written as PNG folders, to stay fast.
"""

import json
import os
import signal
import socket
import time

import keras
import numpy as np
import pytest

from keras_senet import cli
from keras_senet.data import load_dataset
from keras_senet.quickstart import write_digits
from keras_senet.training import finetune
from processes import quiet_env, run_cli, start_cli, start_python

SMALL = dict(model="seresnet18", input_size=32, crop_pct=1.0, flip=False)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits") / "digits")


class _Snapshots(keras.callbacks.Callback):
    """Weights at the start and end of each fit (= each phase)."""

    def __init__(self):
        super().__init__()
        self.taken = []

    def _take(self):
        self.taken.append({w.path: np.array(w.numpy()) for w in self.model.weights})

    on_train_begin = lambda self, logs=None: self._take()  # noqa: E731
    on_train_end = lambda self, logs=None: self._take()  # noqa: E731


def test_phase_one_freezes_backbone_and_batchnorm_phase_two_unfreezes_top_stage(digits, tmp_path):
    train = load_dataset(digits, "train[:10%]", batch_size=16, seed=0, **SMALL)
    snapshots = _Snapshots()
    finetune("seresnet18", train, None, weights=None, workdir=tmp_path, head_epochs=1, epochs=1, unfreeze=1,
             head_lr=1e-2, lr=1e-2, callbacks=[snapshots], keep_checkpoints=0, tensorboard=False, verbose=0)
    start1, end1, start2, end2 = snapshots.taken

    def changed(before, after, pattern):
        keys = [k for k in before if k.startswith(pattern)]
        assert keys, pattern
        return [not np.array_equal(before[k], after[k]) for k in keys]

    # Phase 1: only the head moves; frozen BatchNorm runs in inference mode (moving statistics untouched).
    assert all(changed(start1, end1, "head/"))
    for part in ("conv1/", "layer1_0_bn1/moving_mean", "layer4_1_bn2/moving_variance", "layer4_1_bn2/gamma",
                 "layer3_0_conv1/kernel"):
        assert not any(changed(start1, end1, part)), part
    # Phase 2 with unfreeze=1: the top stage (layer4) and head train, lower stages stay frozen.
    for part in ("layer4_1_conv2/kernel", "layer4_1_bn2/moving_mean", "layer4_0_se", "head/"):
        assert all(changed(start2, end2, part)), part
    for part in ("layer3_", "layer1_0_bn1/moving_mean", "conv1/"):
        assert not any(changed(start2, end2, part)), part


def test_mixed_precision_trains_and_reloads(digits, tmp_path):
    train = load_dataset(digits, "train[:3%]", batch_size=16, seed=0, **SMALL)
    policy = keras.config.dtype_policy().name
    result = finetune("seresnet18", train, None, weights=None, workdir=tmp_path, head_epochs=0, epochs=1,
                      mixed_precision=True, keep_checkpoints=0, tensorboard=False, verbose=0)
    assert keras.config.dtype_policy().name == policy  # the global policy is restored
    model = result.model
    assert model.get_layer("layer1_0_conv1").compute_dtype == "float16"
    assert model.get_layer("layer1_0_conv1").variable_dtype == "float32"
    assert model.get_layer("head").compute_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(result.history["loss"][0])
    images = next(iter(train))[0]
    reloaded = keras.saving.load_model(result.model_path)
    assert reloaded.get_layer("layer1_0_conv1").compute_dtype == "float16"
    out = reloaded.predict_on_batch(images)
    assert out.dtype == np.float32 and np.allclose(out.sum(-1), 1, atol=1e-3)
    np.testing.assert_allclose(out, model.predict_on_batch(images), atol=1e-3)


def test_killed_training_resumes_at_the_next_epoch(digits, tmp_path):
    workdir = tmp_path / "run"
    command = ["train", "--data", str(digits), "--train-split",
               "train[:15%]", "--model", "seresnet18", "--weights", "none", "--image-size", "32", "--head-epochs",
               "2", "--epochs", "1", "--batch-size", "16", "--no-flip", "--workdir", str(workdir), "--keep-checkpoints",
               "2", "--verbose", "2", "--seed", "0"]
    first = start_cli(*command)
    log, backup = workdir / "history.jsonl", workdir / "backup" / "phase1" / "training_metadata.json"
    deadline = time.time() + 240
    while not backup.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # right after epoch 1 is backed up (it is logged before)
    output = first.communicate()[0]
    assert first.returncode == -signal.SIGKILL, output[-3000:]
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1], output[-3000:]
    assert not (workdir / "model.keras").exists()

    changed = run_cli(*command[:-2], "--seed", "1", "--epochs", "3")
    assert changed.returncode == 2 and "unfinished run with other settings {'epochs': (1, 3)}" in changed.stderr, \
        changed.stderr[-3000:]

    second = run_cli(*command)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-3000:]
    # phase 1 (2 epochs) resumes at its epoch 2, then phase 2 runs epoch 3
    assert "Epoch 1/" not in output and "Epoch 2/2" in output and "Epoch 3/3" in output, output[-3000:]
    history = json.load(open(workdir / "history.json"))
    assert history["epoch"] == [1, 2, 3] and history["phase"] == [1, 1, 2]
    assert (workdir / "model.keras").exists()
    assert sorted(os.listdir(workdir / "checkpoints")) == ["epoch002.weights.h5", "epoch003.weights.h5"]


def test_mirrored_strategy_over_two_logical_cpus(digits, tmp_path):
    child = start_python(f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_senet.data import load_dataset
        from keras_senet.training import finetune, make_strategy
        strategy = make_strategy("mirrored")
        train = load_dataset({str(digits)!r}, "train[:5%]", model="seresnet18", input_size=32, flip=False,
                             batch_size=8 * strategy.num_replicas_in_sync, seed=0)
        result = finetune("seresnet18", train, None, weights=None, workdir={str(tmp_path)!r}, head_epochs=0,
                          epochs=1, strategy=strategy, keep_checkpoints=0, tensorboard=False, verbose=0)
        kernel = result.model.get_layer("head").kernel.value  # a MirroredVariable: one copy per device
        stats = result.model.get_layer("layer4_1_bn2").moving_mean.value
        spread = lambda v: float(abs(v.values[0].numpy() - v.values[1].numpy()).max())
        print("RESULT", json.dumps(dict(replicas=strategy.num_replicas_in_sync, batches=int(train.cardinality()),
              examples=train.num_examples,
              loss=result.history["loss"], devices=[str(v.device) for v in kernel.values],
              spread=[spread(kernel), spread(stats)])))
        """)
    output = child.communicate(timeout=300)[0]
    assert child.returncode == 0, output[-3000:]
    result = json.loads(output.split("RESULT ")[-1])
    assert result["replicas"] == 2 and len(set(result["devices"])) == 2
    assert result["batches"] == result["examples"] // 16 >= 3 and np.isfinite(result["loss"][0])
    assert result["spread"] == [0.0, 0.0]  # replicas agree, BatchNorm statistics included
    assert os.path.exists(tmp_path / "model.keras")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_strategy_two_processes_agree(digits, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    code = f"""
        import json, keras, numpy as np
        from keras.src.backend.tensorflow import trainer as tf_trainer
        from keras_senet.training import finetune, make_strategy
        strategy = make_strategy("multi_worker")  # first: TensorFlow configures collectives once
        from keras_senet.data import load_dataset
        train = load_dataset({str(digits)!r}, "train[:5%]", model="seresnet18", input_size=32, flip=False,
                             batch_size=8 * strategy.num_replicas_in_sync, seed=0)
        original = tf_trainer.reduce_per_replica

        class Start(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.weights_at_start = {{w.path: w.numpy() for w in self.model.weights}}
                self.patched = tf_trainer.reduce_per_replica is not original

        start = Start()
        result = finetune("seresnet18", train, None, weights=None, workdir={str(tmp_path)!r}, head_epochs=0,
                          epochs=1, strategy=strategy, keep_checkpoints=0, tensorboard=False, verbose=0,
                          callbacks=[start])
        task = strategy.cluster_resolver.task_id
        np.savez({str(tmp_path)!r} + f"/weights{{task}}.npz", **{{w.path: w.numpy() for w in result.model.weights}})
        np.savez({str(tmp_path)!r} + f"/start{{task}}.npz", **start.weights_at_start)
        print("RESULT", json.dumps(dict(replicas=strategy.num_replicas_in_sync, path=result.model_path,
                                        epochs=result.history["epoch"], patched_during_fit=start.patched,
                                        restored=tf_trainer.reduce_per_replica is original
                                        and "_maybe_symbolic_build" not in vars(result.model))))
        """
    children = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        children.append(start_python(code, env=quiet_env(TF_CONFIG=json.dumps(config))))
    outputs = []
    for child in children:
        try:
            outputs.append(child.communicate(timeout=300)[0])
        finally:
            if child.poll() is None:
                child.kill()
    for child, output in zip(children, outputs):
        assert child.returncode == 0, output[-3000:]
    chief, worker = (json.loads(output.split("RESULT ")[-1]) for output in outputs)
    assert chief["replicas"] == worker["replicas"] == 2
    assert chief["epochs"] == worker["epochs"] == [1]
    # Keras' trainer module was patched only while fit ran, and the model's own patch is gone.
    assert chief["patched_during_fit"] and worker["patched_during_fit"]
    assert chief["restored"] and worker["restored"]
    first, second = np.load(tmp_path / "weights0.npz"), np.load(tmp_path / "weights1.npz")
    start = np.load(tmp_path / "start0.npz")
    for name in first.files:
        np.testing.assert_allclose(first[name], second[name], rtol=1e-6, atol=1e-7, err_msg=name)
    # Training moved every kind of weight, the BatchNorm moving statistics included (averaged over workers).
    for name in ("head/kernel", "layer1_0_conv1/kernel", "layer4_1_bn2/gamma", "layer4_1_bn2/moving_mean",
                 "layer4_1_bn2/moving_variance"):
        assert not np.allclose(first[name], start[name]), name
    # The chief saved exactly these weights (all of them); the worker saved nothing.
    assert chief["path"] == str(tmp_path / "model.keras") and worker["path"] is None
    saved = {w.path: w.numpy() for w in keras.saving.load_model(chief["path"]).weights}
    assert sorted(saved) == sorted(first.files)
    for name in first.files:
        np.testing.assert_array_equal(saved[name], first[name], err_msg=name)


def test_bad_input_raises_before_training(digits, tmp_path):
    train = load_dataset(digits, "train[:5%]", batch_size=16, **SMALL)
    five_way = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(5, activation="softmax")])
    with pytest.raises(ValueError, match="head has 5 outputs but num_classes=10"):
        finetune(five_way, train, None, num_classes=10, workdir=tmp_path)
    with pytest.raises(ValueError, match="num_classes=7 but the training data has 10 classes"):
        finetune("seresnet18", train, None, num_classes=7, workdir=tmp_path)
    with pytest.raises(ValueError, match="Unknown model 'seresnet_nope'"):
        finetune("seresnet_nope", train, None, workdir=tmp_path)
    with pytest.raises(ValueError, match="nothing to train"):
        finetune("seresnet18", train, None, head_epochs=0, epochs=0, workdir=tmp_path)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        finetune("seresnet18", train, None, weights=None, strategy="multi_worker", workdir=tmp_path)
    ten_way = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="mixed_precision needs a registry name"):
        finetune(ten_way, train, None, mixed_precision=True, workdir=tmp_path)
    assert not os.listdir(tmp_path)  # nothing written
    # The CLI reports the same errors without a traceback.
    assert cli.main(["train", "--data", str(tmp_path / "missing"), "--workdir", str(tmp_path / "w")]) == 2
    assert not os.path.exists(tmp_path / "w")


# `keras-senet train`, killed (SIGKILL, by itself) right after a save in a folder whose path contains
# KILL_WHILE_SAVING's folder, on that folder's Nth save, with the file cut as a kill mid-write leaves it.
TRAIN_KILLED_WHILE_SAVING = """
import os, signal, sys
import keras
folder, nth = os.environ.get("KILL_WHILE_SAVING", "(never):0").rsplit(":", 1)
saves = []
def killing(original):  # the n-th save of a file whose path contains `folder` is cut short and killed
    def save(self, filepath, *args, **kwargs):
        original(self, filepath, *args, **kwargs)
        if folder in str(filepath):
            saves.append(filepath)
            if len(saves) == int(nth):
                os.truncate(filepath, 96)
                os.kill(os.getpid(), signal.SIGKILL)
    return save
keras.Model.save_weights = killing(keras.Model.save_weights)
keras.Model.save = killing(keras.Model.save)
from keras_senet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kills_while_saving_backups_and_checkpoints_resume_with_full_history(digits, tmp_path):
    """Killed during the first backup save of a phase, every rerun once failed on the truncated
    ``latest.weights.h5``; killed while the epoch-2 checkpoint was written, the run resumed at 3 and its
    history lost epoch 2 (logged after the backup), leaving a temporary in checkpoints/."""
    import sys

    from processes import run

    workdir = tmp_path / "run"
    args = ["train", "--data", str(digits), "--train-split", "train[:5%]", "--model", "seresnet18", "--weights",
            "none", "--image-size", "32", "--head-epochs", "2", "--epochs", "1", "--batch-size", "16", "--no-flip",
            "--workdir", str(workdir), "--keep-checkpoints", "2", "--verbose", "2", "--seed", "0"]

    def train(kill=None):
        env = quiet_env(**({"KILL_WHILE_SAVING": kill} if kill else {}))
        return run([sys.executable, "-c", TRAIN_KILLED_WHILE_SAVING, *args], env=env)

    def history():
        return [json.loads(line)["epoch"] for line in (workdir / "history.jsonl").read_text().splitlines()]

    first = train(kill=os.path.join("backup", "phase1") + ":1")  # epoch 1's backup, the phase's first
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert history() == [1]
    second = train(kill="checkpoints:2")  # resumes (at epoch 1 again), then killed writing epoch 2's checkpoint
    assert second.returncode == -signal.SIGKILL, (second.stdout + second.stderr)[-3000:]
    assert history()[-1] == 2
    third = train(kill="model.keras.tmp-:1")  # finishes training, killed writing the final model.keras
    assert third.returncode == -signal.SIGKILL and not (workdir / "model.keras").exists()
    assert [name for name in os.listdir(workdir) if ".tmp-" in name]
    fourth = train()
    assert fourth.returncode == 0, (fourth.stdout + fourth.stderr)[-3000:]
    assert not [name for name in os.listdir(workdir) if ".tmp-" in name]  # the killed save's temporary swept
    result = json.load(open(workdir / "history.json"))
    assert result["epoch"] == [1, 2, 3] and result["phase"] == [1, 1, 2]
    # epoch 2's checkpoint was never completed: its temporary is gone, epochs 1 and 3 are kept
    assert sorted(os.listdir(workdir / "checkpoints")) == ["epoch001.weights.h5", "epoch003.weights.h5"]
