"""The deployment runners in export/: each run as a user would, on real image files."""

import os
import subprocess
import sys

import keras
import numpy as np
import PIL.Image
import pytest

from export_models import small_model
from keras_senet.export import export

pytestmark = pytest.mark.xdist_group("export_runners")  # one worker builds the shared exports
RUNNERS = os.path.join(os.path.dirname(__file__), "..", "export")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A 1000-class model (ImageNet labels) exported three ways, and two JPEG/PNG files."""
    folder = tmp_path_factory.mktemp("runners")
    model = small_model("seresnet18", size=32, classes=1000)
    export(model, folder / "m.tflite", "tflite")
    export(model, folder / "m.onnx", "onnx")
    (folder / "serving" / "se18").mkdir(parents=True)
    export(model, folder / "serving" / "se18" / "1", "saved_model", include_preprocessing="seresnet18")
    rng = np.random.default_rng(0)
    images = [folder / "a.jpg", folder / "b.png"]
    for path, shape in zip(images, [(48, 40, 3), (37, 61, 3)]):
        PIL.Image.fromarray(rng.integers(0, 256, shape).astype("uint8")).save(path)
    return folder, model, [str(p) for p in images]


def _run(*args):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    return result


def _keras_top1(model, images):
    sys.path.insert(0, RUNNERS)
    from common import load_images

    batch = load_images(images, 32, model="seresnet18")
    return keras.ops.convert_to_numpy(model(batch, training=False)).argmax(-1)


@pytest.mark.parametrize("runner, file, extra", [
    ("litert_run.py", "m.tflite", ["--threads", "2"]),
    ("onnxruntime_run.py", "m.onnx", ["--provider", "cpu"]),
])
def test_runner_classifies_like_keras(exports, runner, file, extra):
    import keras_senet as ks

    folder, model, images = exports
    result = _run(os.path.join(RUNNERS, runner), folder / file, *images, "--model", "seresnet18", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = [ks.decode_predictions(np.eye(1000)[[i]], top=1)[0][0][1] for i in _keras_top1(model, images)]
    lines = result.stdout.splitlines()
    printed = [lines[lines.index(path) + 1].split()[-1] for path in images]
    assert printed == expected
    assert ("LiteRT" if file.endswith("tflite") else "CPUExecutionProvider") in result.stdout


def test_onnxruntime_runner_refuses_missing_gpu_provider(exports):
    folder, _, images = exports
    result = _run(os.path.join(RUNNERS, "onnxruntime_run.py"), folder / "m.onnx", *images, "--provider", "cuda")
    assert result.returncode != 0
    assert "CUDAExecutionProvider is not available" in result.stderr and "onnxruntime-gpu" in result.stderr


def test_tf_serving_runner_checks_signatures(exports):
    folder, _, images = exports
    result = _run(os.path.join(RUNNERS, "tf_serving.py"), folder / "serving" / "se18", *images)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "serving_default: pixels uint8 [None, None, None, 3]" in result.stdout
    assert "serve: pixels float32 [None, 32, 32, 3]" in result.stdout
    assert f"-v {folder / 'serving' / 'se18'}:/models/se18 -e MODEL_NAME=se18 tensorflow/serving" in result.stdout
    assert "POST http://localhost:8501/v1/models/se18:predict" in result.stdout
    empty = folder / "empty"
    empty.mkdir()
    result = _run(os.path.join(RUNNERS, "tf_serving.py"), empty)
    assert result.returncode != 0 and "no version folder with a SavedModel" in result.stderr
