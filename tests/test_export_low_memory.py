"""Low-memory TFLite export (issue 17): the Keras model is loaded, and the SavedModel converted, in processes of
their own; the file that comes back equals the Keras model in LiteRT and is moved into place only then. (The
same in pieces, and ONNX: tests/test_export_pieces.py.)"""

import os
import re

import numpy as np
import pytest

from images import normal_images
from keras_senet.export import from_source, load_exported, to_tflite
from keras_senet.export.from_source import export_from_source
from low_memory_exports import SIZE, image_folder, saved_seresnet

pytestmark = pytest.mark.xdist_group("export_low_memory")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small SE-ResNet (random weights, logits out) saved as ``.keras``, and the model itself."""
    return saved_seresnet(tmp_path_factory.mktemp("low_memory"))


@pytest.fixture
def folder(tmp_path):
    """An empty folder to export to (tmp_path also holds the tests' KERAS_HOME)."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


def _not_in_this_process(*args, **kwargs):
    raise AssertionError("the low-memory export loaded the Keras model or ran the converter in the calling process")


def test_fp32_equals_keras_and_neither_model_nor_converter_is_in_this_process(saved, folder, monkeypatch):
    path, model = saved
    # the calling process must do neither: patched here, these would fail the export if it did
    monkeypatch.setattr(from_source, "load_model", _not_in_this_process)
    monkeypatch.setattr(to_tflite, "write_tflite", _not_in_this_process)
    out = folder / "m.tflite"
    report = export_from_source(path, out, "tflite", weights=None, low_memory=True)
    assert report.passed and report.runtime.startswith("LiteRT") and report.rel_diff <= 1e-4
    assert report.ops.get("CONV_2D", 0) > 0 and report.size_bytes == os.path.getsize(out)
    assert os.listdir(folder) == ["m.tflite"]  # no temporary left beside it
    images = normal_images(5, SIZE, seed=3)  # not the inputs the export was verified on
    expected = model.predict_on_batch(images)
    actual = load_exported(str(out))(images)
    assert np.abs(actual - expected).max() <= 1e-4 * np.abs(expected).max()


def test_cli_int8_calibrates_in_the_converting_process(saved, tmp_path, capsys):
    """`keras-senet export FILE.keras --low-memory --quantize int8 --calibration DIR`: the images read by the
    first process calibrate the converter in the second; the file is full-integer and verified."""
    from keras_senet.cli import main

    image_folder(tmp_path / "images", 6)
    out = tmp_path / "m.tflite"
    status = main(["export", saved[0], "--weights", "none", "--format", "tflite", "--low-memory", "--quantize",
                   "int8", "--calibration", str(tmp_path / "images"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0 and out.exists()
    assert re.search(r"compared on\s+12 representative images", printed) and re.search(r"result\s+PASSED", printed)
    assert re.search(r"non-int8 ops\s+none", printed)
    assert load_exported(str(out)).input_dtype == np.int8


@pytest.mark.parametrize("format, options, message", [
    ("saved_model", {}, "writes format 'tflite' or 'onnx', not 'saved_model'"),
    ("onnx", {"opset": 99}, "opset=99 is not supported"),
    ("tflite", {"opset": 17}, "opset applies to format='onnx' only"),
    ("tflite", {"keep_float": ("MEAN",)}, "takes none of keep_float"),
    ("tflite", {"target": "gpu"}, "takes none of target"),
    ("tflite", {"eval_data": "folder"}, "takes none of eval_data"),
    ("tflite", {"quantize": "int8"}, "needs calibration images"),
    ("tflite", {"quantize": "int8", "calibration": "x", "quantizer": "ai-edge-quantizer", "io_type": "uint8"},
     "not io_type=.uint8."),
])
def test_what_needs_the_keras_model_is_refused_before_any_work(saved, folder, format, options, message):
    with pytest.raises(ValueError, match=message):
        export_from_source(saved[0], folder / f"m.{format}", format, weights=None, low_memory=True, **options)
    assert os.listdir(folder) == []


def test_a_failing_step_raises_and_writes_nothing(folder):
    """The first process's error (here: no such model file) comes back as itself; no file, no temporary."""
    with pytest.raises(ValueError, match="missing.keras"):
        export_from_source(str(folder.parent / "missing.keras"), folder / "m.tflite", "tflite", weights=None,
                           low_memory=True)
    assert os.listdir(folder) == []


def test_ai_edge_quantizer_quantises_in_a_process_without_tensorflow(saved, folder):
    """``quantizer="ai-edge-quantizer"``: fp32 from the converter's process, int8 from a third one started with
    Keras on NumPy, which never loads TensorFlow; the file is full-integer and verified against Keras."""
    from keras_senet.export import low_memory

    path, model = saved
    calibration = image_folder(folder.parent / "images", 8)
    out = folder / "m.tflite"
    report = export_from_source(path, out, "tflite", weights=None, low_memory=True, quantize="int8",
                                quantizer="ai-edge-quantizer", calibration=str(calibration),
                                tolerances={"top1_agreement": 0.9})
    assert report.passed and report.quantizer == "ai-edge-quantizer" and report.non_int8_ops == {}
    assert load_exported(str(out)).input_dtype == np.int8 and os.listdir(folder) == ["m.tflite"]
    # the quantising step itself, as the export runs it: no TensorFlow in that process
    float_path, again = folder / "fp32.tflite", folder / "again.tflite"
    export_from_source(path, float_path, "tflite", weights=None, low_memory=True)
    notes = low_memory._in_own_process("quantise", low_memory._quantize_int8, str(float_path), str(again),
                                       normal_images(8, SIZE), "int8", environment=low_memory.WITHOUT_TENSORFLOW)
    assert notes["tensorflow_loaded"] is False and again.exists()
    assert "KERAS_BACKEND" not in os.environ or os.environ["KERAS_BACKEND"] != "numpy"  # restored here
