"""The export targets table: everything that names a format derives from it, and a new format is one entry."""

import os

import keras
import numpy as np
import pytest

from export_models import small_model
from keras_senet.export import FORMATS, QUANTIZE, TARGETS, ExportTarget, export, load_exported
from keras_senet.export import targets as targets_module
from keras_senet.export.runtimes import single_or_named
from keras_senet.export.targets import detect_format


def test_table_is_well_formed():
    assert FORMATS == tuple(TARGETS) == ("saved_model", "tflite", "onnx")  # the public tuple, as before
    assert QUANTIZE == {name: target.quantize for name, target in TARGETS.items()}
    for name, target in TARGETS.items():
        assert target.format == name and target.quantize[0] is None and callable(target.write)
        assert (target.suffix is None) == (target.detect is not None)  # a folder needs its own rule
        assert set(target.load_options) <= {"endpoint", "providers", "num_threads", "delegate"}
        assert all(q in target.quantize for q in target.quantize_packages)


def test_cli_choices_derive_from_the_table():
    from keras_senet.cli import build_parser

    parser = build_parser()
    export_parser = parser._subparsers._group_actions[0].choices["export"]
    actions = {a.dest: a for a in export_parser._actions}
    assert actions["format"].choices == list(TARGETS)
    assert set(actions["quantize"].choices) == {q for t in TARGETS.values() for q in t.quantize if q}
    assert "tflite: float16 | dynamic | int8; onnx: float16" in actions["quantize"].help
    quickstart = parser._subparsers._group_actions[0].choices["quickstart"]
    assert {a.dest: a for a in quickstart._actions}["formats"].default == ",".join(TARGETS)


def test_detect_format(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    assert detect_format(tmp_path / "sm") == "saved_model"
    assert detect_format("m.tflite") == "tflite" and detect_format("m.onnx") == "onnx"
    with pytest.raises(ValueError, match=r"expected a SavedModel folder \(with saved_model.pb\), a .tflite file "
                                         r"or a .onnx file"):
        detect_format(tmp_path / "m.pt")


def test_missing_runtime_package_is_a_clear_error_before_any_work(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime"
                        else find_spec(name, *a))
    with pytest.raises(ImportError, match=r"format='onnx' needs onnxruntime: pip install 'keras-senet\[export\]'"):
        export(small_model("seresnet18"), tmp_path / "m.onnx", "onnx")
    assert os.listdir(tmp_path) == []
    assert TARGETS["onnx"].missing_packages(verify=False) == []  # writing alone needs no runtime


def _write_keras(model, path, job):
    """A toy format: the served model as a .keras file."""
    from keras_senet.export.serving import serving_model

    served = serving_model(model, job.input_shape, job.config)
    served.save(path)
    return served


class _KerasPredictor:
    runtime = "Keras (toy)"

    def __init__(self, path):
        self._model = keras.saving.load_model(os.fspath(path))

    def __call__(self, images):
        outputs = self._model(np.asarray(images, "float32"), training=False)
        if isinstance(outputs, dict):
            return single_or_named({k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()})
        return keras.ops.convert_to_numpy(outputs)


def test_a_new_format_is_one_entry(tmp_path, monkeypatch):
    """Registering a target makes export(), its verification, load_exported() and the CLI know it."""
    monkeypatch.setitem(TARGETS, "keras", ExportTarget(format="keras", title="Keras file (toy)", suffix=".keras",
                                                       quantize=(None,), write=_write_keras, predictor=_KerasPredictor))
    model = small_model("seresnet18")
    report = export(model, tmp_path / "m.keras", "keras")
    assert report.passed and report.rel_diff <= 1e-6 and os.listdir(tmp_path) == ["m.keras"]
    assert load_exported(tmp_path / "m.keras")(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 10)
    with pytest.raises(ValueError, match="quantize='int8' is not available for keras; allowed: None"):
        export(model, tmp_path / "q.keras", "keras", quantize="int8", representative_data=np.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="opset applies to format='onnx' only, not 'keras'"):
        export(model, tmp_path / "o.keras", "keras", opset=17)
    from keras_senet.cli import build_parser

    export_parser = build_parser()._subparsers._group_actions[0].choices["export"]
    assert "keras" in {a.dest: a for a in export_parser._actions}["format"].choices
    assert targets_module.get_target("keras").title == "Keras file (toy)"
