"""`keras-senet quickstart`: the digits are learnt through load_dataset/finetune, and every export is
scored in its own runtime. The real learning check of the fine-tuning path."""

import json
import os

import pytest

from keras_senet import cli
from keras_senet.data import load_dataset
from keras_senet.quickstart import quickstart
from keras_senet.training import finetune


def test_quickstart_learns_digits_and_scores_every_export(tmp_path, capsys):
    # SavedModel and float ONNX exports are proven equal to Keras by tests/test_export.py; here the int8
    # TFLite model, the one whose accuracy can move, is scored in LiteRT.
    result = quickstart(tmp_path, epochs=3, formats=("tflite",), verbose=0)
    out = capsys.readouterr().out
    # A randomly initialised SE-ResNet-18 after 3 short epochs (measured 96%; chance is 10%); the default
    # 12 epochs reach ~98%.
    assert result["accuracy"] >= 0.90, out[-3000:]
    rows = {name: (size, accuracy, latency) for name, size, accuracy, latency in result["rows"]}
    assert list(rows) == ["keras (.keras)", "tflite (int8)"]
    for name, (size, accuracy, latency) in rows.items():
        assert size > 2**20 and latency > 0 and name in out, name
    assert abs(rows["tflite (int8)"][1] - result["accuracy"]) <= 0.03, out[-3000:]
    assert rows["tflite (int8)"][0] < rows["keras (.keras)"][0] / 3  # int8 weights: a quarter of float32
    assert "[1/4]" in out and "[4/4]" in out and "test accuracy" in out

    run = tmp_path / "run"  # the quickstart's training is a plain finetune run
    history = json.load(open(run / "history.json"))
    assert history["epoch"] == [1, 2, 3] and history["val_accuracy"][-1] == pytest.approx(result["accuracy"])
    assert history["loss"][-1] < history["loss"][0]
    assert sorted(os.listdir(run / "checkpoints")) == [f"epoch00{i}.weights.h5" for i in (1, 2, 3)]
    assert os.listdir(run / "logs")  # TensorBoard event files
    assert not os.path.exists(run / "backup")  # a finished run leaves no resume state

    # `keras-senet evaluate` on the saved model uses the preprocessing the run recorded (32 px, no crop).
    assert cli.main(["evaluate", str(run / "model.keras"), "--data", str(tmp_path / "digits"), "--split", "test"]) == 0
    assert f"top-1 {result['accuracy'] * 100:.2f}%" in capsys.readouterr().out

    train = load_dataset(tmp_path / "digits", "train[:5%]", model="seresnet18", input_size=32, batch_size=16)
    with pytest.raises(ValueError, match="holds a finished run"):
        finetune("seresnet18", train, None, weights=None, workdir=run, head_epochs=0, epochs=1)
