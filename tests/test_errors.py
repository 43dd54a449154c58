"""Clear errors: the confusing messages a new user met (issue 16, item 9), each as the input that caused
it and what the message must now say -- the file or argument, what was wrong, what is allowed -- raised
before any work. The `.weights.h5` of another architecture is in
test_weights.py::test_failed_keras_load_leaves_weights_bit_identical."""

import os
import re

import numpy as np
import pytest

import keras_senet as ks
from export_models import small_model
from keras_senet.cli import main
from keras_senet.conversion import convert_checkpoint
from keras_senet.data import load_dataset
from keras_senet.export import export
from keras_senet.weights import CheckpointMismatchError, DownloadError
from keras_senet.weights.download import download


def _model_weights(name, content):
    def case(tmp_path, server):
        path = tmp_path / name
        path.write_bytes(content)
        ks.create_model("seresnet18", weights=str(path), input_shape=(32, 32, 3))
    return case


def _export(path, format, **kwargs):
    def case(tmp_path, server):
        export(small_model("seresnet18"), tmp_path / path, format, verify=False, **kwargs)
    return case


def _nan_calibration(tmp_path, server):
    images = np.zeros((4, 32, 32, 3), "float32")
    images[2, 5, 5, 1] = np.nan
    export(small_model("seresnet18"), tmp_path / "m.tflite", "tflite", quantize="int8",
           representative_data=images)


def _tfds(download, data_dir):
    def case(tmp_path, server):
        load_dataset("tfds:mnist", "train", model="seresnet18", download=download,
                     data_dir=data_dir or str(tmp_path / "tfds"))
    return case


def _cli(*argv):
    def case(tmp_path, server):
        code = main([str(a).replace("TMP", str(tmp_path)) for a in argv])
        raise SystemExit(code)
    return case


def _convert(name, content=None):
    def case(tmp_path, server):
        if content is not None:
            (tmp_path / name).write_bytes(content)
        convert_checkpoint("seresnet18", str(tmp_path / name), str(tmp_path / "out.weights.h5"))
    return case


def _stalled(tmp_path, server):
    url = server.add("stalled/model.safetensors", b"x" * 100)
    server.behaviour["stalled/model.safetensors"] = "stall"
    download(url, tmp_path / "model.safetensors", timeout=0.5)


def _corrupt_download(tmp_path, server):
    url = server.add("short/model.safetensors", os.urandom(4096))
    ks.create_model("seresnet18", weights=url, input_shape=(32, 32, 3))


# (id, case(tmp_path, server), exception, the message -- or the CLI's stderr -- must match)
CLEAR_ERRORS = [
    ("empty .keras", _model_weights("empty.keras", b""), CheckpointMismatchError,
     r"empty\.keras: not a readable \.keras file \(a zip archive; this one is 0 bytes\)"),
    ("empty .weights.h5", _model_weights("empty.weights.h5", b""), CheckpointMismatchError,
     r"empty\.weights\.h5: not a readable Keras \.weights\.h5 \(HDF5\) file \(0 bytes"),
    ("non-HDF5 .weights.h5", _model_weights("text.weights.h5", b"text " * 100), CheckpointMismatchError,
     r"text\.weights\.h5: not a readable Keras \.weights\.h5 .*model\.save_weights"),
    ("tflite path without suffix", _export("model_noext", "tflite"), ValueError,
     r"model_noext': format='tflite' writes a \.tflite file; end the path in '\.tflite'"),
    (".tflite path for onnx", _export("model.tflite", "onnx"), ValueError,
     r"model\.tflite' ends in '\.tflite', the suffix of format='tflite', but format='onnx'"),
    ("int8 with NaN calibration", _nan_calibration, ValueError,
     r"representative_data has NaN or infinite values in 1 of 4 images \(the first: image 2\)"),
    ("tfds download failing", _tfds(True, "/proc/no_tfds_here"), RuntimeError,
     r"TFDS dataset 'mnist' could not be downloaded and prepared into /proc/no_tfds_here.*data_dir"),
    ("tfds not prepared, download=False", _tfds(False, None), ValueError,
     r"TFDS dataset 'mnist' is not prepared in .*tfds.* and download=False; pass download=True"),
    ("CLI train --unfreeze foo", _cli("train", "--model", "seresnet18", "--data", "TMP", "--unfreeze", "foo"),
     SystemExit, r"argument --unfreeze: --unfreeze must be 'all' or a number of top stages .*got 'foo'"),
    ("convert a .keras file", _convert("model.keras", b"PK"), ValueError,
     r"model\.keras: convert reads timm checkpoints .*pass it as weights="),
    ("convert a missing file", _convert("missing.safetensors"), FileNotFoundError,
     r"missing\.safetensors: no such checkpoint file"),
    ("stalled server", _stalled, DownloadError, r"stalled/model\.safetensors: no answer within 0\.5 s"),
    ("CLI int8 without --calibration",
     _cli("export", "seresnet18", "--weights", "none", "--format", "tflite", "--quantize", "int8",
          "--out", "TMP/m.tflite"),
     SystemExit, r"keras-senet export: error: quantize='int8' needs calibration images.*--calibration"),
    ("corrupt download named by URL", _corrupt_download, CheckpointMismatchError,
     r"^http://127\.0\.0\.1:\d+/short/model\.safetensors: not a readable safetensors file"),
]


@pytest.mark.parametrize("case, error, message", [c[1:] for c in CLEAR_ERRORS], ids=[c[0] for c in CLEAR_ERRORS])
def test_clear_errors(case, error, message, tmp_path, checkpoint_server, capsys):
    with pytest.raises(error) as raised:
        case(tmp_path, checkpoint_server)
    text = capsys.readouterr().err if error is SystemExit else str(raised.value)
    if error is SystemExit:
        assert raised.value.code == 2
    assert re.search(message, text, re.S), text
    assert ".download-" not in text and ".partial-" not in text  # never a temporary path
    assert not [n for n in os.listdir(tmp_path) if n.endswith((".tflite", ".onnx", ".weights.h5"))
                and n not in ("empty.weights.h5", "text.weights.h5")]  # raised before any work


def test_a_stray_onnx_data_file_is_not_replaced(tmp_path):
    """``m.onnx.data`` is where an ONNX export over 2 GiB keeps its weights: a file of that name that no
    export at ``m.onnx`` reads (none there, or a single-file one) is someone else's, refused before any
    work even with overwrite=True, and left as it is."""
    model = small_model("seresnet18", size=32)
    stray = tmp_path / "m.onnx.data"
    stray.write_bytes(b"not ours")
    refusal = (r"m\.onnx\.data exists: a onnx export to .*m\.onnx may write part of itself there \(the weights of a "
               r"model over 2 GiB as float32, ONNX's external data\); overwrite=True replaces it only together with "
               r"the earlier export at .*m\.onnx that reads it")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=refusal):
            export(model, tmp_path / "m.onnx", "onnx", overwrite=overwrite)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx.data"]
    assert export(model, tmp_path / "other.onnx", "onnx").passed  # a single-file export
    os.replace(tmp_path / "other.onnx", tmp_path / "m.onnx")
    with pytest.raises(FileExistsError, match=refusal):
        export(model, tmp_path / "m.onnx", "onnx", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"] and stray.read_bytes() == b"not ours"
