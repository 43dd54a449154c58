"""`keras-senet quickstart`, the README's main job, run as its command line runs it (default recipe: 12
epochs, every export format): the digits are learnt through load_dataset/finetune, every export is scored
in its own runtime, and the saved model carries its preprocessing. CI runs the main job here (once)."""

import json
import os
import re

import pytest

from keras_senet import cli
from keras_senet.data import load_dataset
from keras_senet.training import finetune
from images import assert_picture


def _table(out):
    """{format: (size MiB, accuracy %)} from the quickstart's printed table."""
    rows = re.findall(r"^(\S+ \([^)]*\)|saved_model|onnx)\s+([\d.]+) MiB\s+([\d.]+)%", out, flags=re.M)
    return {name: (float(size), float(accuracy)) for name, size, accuracy in rows}


def test_quickstart_main_job_learns_digits_and_scores_every_export(tmp_path, capsys):
    assert cli.main(["quickstart", "--workdir", str(tmp_path), "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "[1/4]" in out and "[4/4]" in out, out[-3000:]
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    # A randomly initialised SE-ResNet-18 after 12 epochs: 98.3-99.2% measured (chance is 10%).
    assert accuracy >= 95.0, out[-3000:]
    rows = _table(out)
    assert list(rows) == ["keras (.keras)", "saved_model", "tflite (int8)", "onnx"], out[-3000:]
    for name, (size, scored) in rows.items():
        # float exports are proven equal to Keras in their runtimes; int8 may move a little
        assert abs(scored - accuracy) <= (3.0 if "int8" in name else 0.3), (name, out[-3000:])
        assert size > 1.0, name
    assert rows["tflite (int8)"][0] < rows["keras (.keras)"][0] / 3  # int8 weights: a quarter of float32

    run = tmp_path / "run"  # the quickstart's training is a plain finetune run
    history = json.load(open(run / "history.json"))
    assert history["epoch"] == list(range(1, 13))
    assert history["val_accuracy"][-1] * 100 == pytest.approx(accuracy, abs=0.006)  # printed to 0.01%
    assert history["loss"][-1] < history["loss"][0]
    assert sorted(os.listdir(run / "checkpoints")) == [f"epoch0{i}.weights.h5" for i in (10, 11, 12)]
    assert os.listdir(run / "logs")  # TensorBoard event files
    assert not os.path.exists(run / "backup")  # a finished run leaves no resume state
    # The run's pictures beside history.json, opened: real PNGs with content.
    assert_picture(run / "learning_curves.png")
    assert_picture(run / "confusion_matrix.png")
    assert "learning_curves.png" in out

    # The SE paper's Fig. 6 on the trained model: per-class gates of the 8 SE blocks, table, JSON, figure.
    figure, numbers = tmp_path / "excitations.png", tmp_path / "excitations.json"
    assert cli.main(["excitations", str(run / "model.keras"), "--data", str(tmp_path / "digits"),
                     "--out", str(figure), "--json", str(numbers)]) == 0
    table = capsys.readouterr().out
    stats = json.load(open(numbers))
    names = [f"layer{stage}_{block}_se" for stage in (1, 2, 3, 4) for block in (0, 1)]
    assert [layer["name"] for layer in stats["layers"]] == names
    assert sum(stats["counts"]) == 360 and stats["class_names"] == [str(d) for d in range(10)]
    assert all(name in table for name in names)
    assert_picture(figure)

    # The saved model carries the preprocessing it was trained with (32 px, no crop): `evaluate` uses it.
    assert cli.main(["evaluate", str(run / "model.keras"), "--data", str(tmp_path / "digits"), "--split", "test"]) == 0
    assert f"top-1 {accuracy:.2f}%" in capsys.readouterr().out

    train = load_dataset(tmp_path / "digits", "train[:5%]", model="seresnet18", input_size=32, batch_size=16)
    with pytest.raises(ValueError, match="holds a finished run"):
        finetune("seresnet18", train, None, weights=None, workdir=run, head_epochs=0, epochs=1)
