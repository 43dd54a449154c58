"""The deployment runners in export/: each run as a user would, on real image files."""

import os

import keras
import numpy as np
import PIL.Image
import pytest
import timm

from export_models import small_model
from images import smooth_images
from keras_senet.export import export
from processes import run_script
from randomise import randomise_weights
from timm_reference import timm_eval_pixels

pytestmark = pytest.mark.xdist_group("export_runners")  # one worker builds the shared exports
RUNNERS = os.path.join(os.path.dirname(__file__), "..", "export")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A 1000-class model (ImageNet labels) exported three ways, and two JPEG/PNG files."""
    folder = tmp_path_factory.mktemp("runners")
    # random non-default weights: a fresh model's 1000 probabilities are all ~1/1000
    model = randomise_weights(small_model("seresnet18", size=32, classes=1000))
    export(model, folder / "m.tflite", "tflite")
    export(model, folder / "m.onnx", "onnx")
    (folder / "serving" / "se18").mkdir(parents=True)
    export(model, folder / "serving" / "se18" / "1", "saved_model", include_preprocessing="seresnet18")
    images = [folder / "a.jpg", folder / "b.png"]
    for seed, (path, (height, width)) in enumerate(zip(images, [(48, 40), (37, 61)])):
        PIL.Image.fromarray(smooth_images(1, height, width, seed=seed)[0]).save(path, quality=95)
    return folder, model, [str(p) for p in images]


def _expected_probabilities(model, images):
    """Keras' probabilities for the image files through timm's own eval transform (PIL decode, resize,
    centre crop; timm's seresnet18 config) and float64 normalisation: independent of the runners' code."""
    config = timm.models.get_pretrained_cfg("seresnet18")
    pixels = timm_eval_pixels(config, [np.asarray(PIL.Image.open(p).convert("RGB")) for p in images], input_size=32)
    batch = ((pixels / 255.0 - np.array(config.mean)) / np.array(config.std)).astype("float32")
    return keras.ops.convert_to_numpy(model(batch, training=False))


# PIL and TensorFlow resample slightly differently (measured: 1.8e-4 on these probabilities of ~0.015);
# a wrong crop (crop_pct 1.0 or 0.95 for seresnet18's 0.875) moves them by 2e-3.
TOLERANCE = 5e-4


@pytest.mark.parametrize("runner, file, extra", [
    ("litert_run.py", "m.tflite", ["--threads", "2"]),
    ("onnxruntime_run.py", "m.onnx", ["--provider", "cpu"]),
])
def test_runner_classifies_like_keras(exports, runner, file, extra):
    """The runner prints, per image file, the top-5 ImageNet classes with the probabilities that Keras
    gives the same file through timm's eval transform."""
    import keras_senet as ks

    folder, model, images = exports
    result = run_script(os.path.join(RUNNERS, runner), folder / file, *images, "--model", "seresnet18", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("LiteRT" if file.endswith("tflite") else "CPUExecutionProvider") in result.stdout
    names = [row[0][1] for row in ks.decode_predictions(np.eye(1000), top=1)]
    lines = result.stdout.splitlines()
    for path, expected in zip(images, _expected_probabilities(model, images)):
        printed = [line.split() for line in lines[lines.index(path) + 1:lines.index(path) + 6]]
        assert len(printed) == 5 and float(printed[0][0]) == pytest.approx(expected.max(), abs=TOLERANCE)
        for score, name in printed:  # each printed class has Keras' probability (names can repeat)
            assert min(abs(expected[i] - float(score)) for i in range(1000) if names[i] == name) <= TOLERANCE


def test_onnxruntime_runner_refuses_missing_gpu_provider(exports):
    folder, _, images = exports
    result = run_script(os.path.join(RUNNERS, "onnxruntime_run.py"), folder / "m.onnx", *images, "--provider", "cuda")
    assert result.returncode != 0
    assert "CUDAExecutionProvider is not available" in result.stderr and "onnxruntime-gpu" in result.stderr


def test_tf_serving_runner_checks_signatures(exports):
    folder, _, images = exports
    result = run_script(os.path.join(RUNNERS, "tf_serving.py"), folder / "serving" / "se18", *images)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "serving_default: pixels uint8 [None, None, None, 3]" in result.stdout
    assert "serve: pixels float32 [None, 32, 32, 3]" in result.stdout
    assert f"-v {folder / 'serving' / 'se18'}:/models/se18 -e MODEL_NAME=se18 tensorflow/serving" in result.stdout
    assert "POST http://localhost:8501/v1/models/se18:predict" in result.stdout
    empty = folder / "empty"
    empty.mkdir()
    result = run_script(os.path.join(RUNNERS, "tf_serving.py"), empty)
    assert result.returncode != 0 and "no version folder with a SavedModel" in result.stderr
