"""The benchmark runs (quick mode, no speed asserted) and the fast inference path is exact."""

import sys

import keras
import numpy as np
import pytest

import keras_senet as ks
from keras_senet.inference import compile_predict
from processes import run
from randomise import randomise_batchnorm
from readme import ROOT, run_python_block


@pytest.fixture(scope="module")
def small_model():
    return ks.create_model("seresnet18", weights=None, input_shape=(64, 64, 3), classes=10)


@pytest.mark.parametrize("freeze", [True, False])
def test_compile_predict_equals_model_call(small_model, freeze):
    randomise_batchnorm(small_model)
    predict = compile_predict(small_model, freeze=freeze)
    for batch in (1, 3):  # one trace serves every batch size
        x = np.random.default_rng(batch).uniform(-2, 2, (batch, 64, 64, 3)).astype("float32")
        expected = keras.ops.convert_to_numpy(small_model(x, training=False))
        got = predict(x)
        assert isinstance(got, np.ndarray) and got.shape == expected.shape == (batch, 10)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="XLA option is TensorFlow's")
def test_compile_predict_xla_equals_model_call(small_model):
    x = np.random.default_rng(0).uniform(-2, 2, (2, 64, 64, 3)).astype("float32")
    got = compile_predict(small_model, freeze=False, jit_compile=True)(x)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(small_model(x, training=False)),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="freezing is TensorFlow's")
def test_frozen_predict_is_a_snapshot(small_model):
    x = np.random.default_rng(0).uniform(-2, 2, (2, 64, 64, 3)).astype("float32")
    frozen, live = compile_predict(small_model), compile_predict(small_model, freeze=False)
    before = frozen(x)
    randomise_batchnorm(small_model, seed=1)
    np.testing.assert_array_equal(frozen(x), before)
    np.testing.assert_allclose(live(x), keras.ops.convert_to_numpy(small_model(x, training=False)),
                               rtol=1e-4, atol=1e-5)


def test_compile_predict_rejects_bad_arguments(small_model):
    with pytest.raises(ValueError, match="jit_compile=True needs freeze=False"):
        compile_predict(small_model, jit_compile=True)
    a, b = keras.Input((4,)), keras.Input((4,))
    two_inputs = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="one input"):
        compile_predict(two_inputs)


def test_profile_workers_report_ops():
    from benchmarks import workers

    case = dict(model="seresnet18", batch=1, size=32, threads=None, warmup=1, repeats=1, seconds=0)
    for run in (workers.run_keras_profile, workers.run_timm_profile):
        result = run(case)
        assert result["times"][0] > 0 and result["ops"] and all(t >= 0 for _, t in result["ops"])


def test_quick_benchmark_runs(tmp_path):
    """CI smoke of `python -m benchmarks.run --quick`: it runs every case and prints the ratios."""
    out = tmp_path / "bench.json"
    proc = run([sys.executable, "-m", "benchmarks.run", "--quick", "--profile", "never", "--json", out], cwd=ROOT,
               timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in ("1. throughput", "2. SE overhead b1", "3. latency b1", "4. GFLOP/s", "5. training"):
        assert row in proc.stdout
    assert "failed" not in proc.stdout and out.exists()


def test_readme_performance_example_runs(small_model):
    images = np.random.default_rng(0).uniform(-2, 2, (2, 64, 64, 3)).astype("float32")
    namespace = run_python_block("compile_predict", {"ks": ks, "model": small_model, "images": images})
    np.testing.assert_allclose(namespace["probs"], keras.ops.convert_to_numpy(small_model(images, training=False)),
                               rtol=1e-4, atol=1e-5)


def test_merge_pools_runs(tmp_path):
    """`--merge` pools earlier runs' timings per case (min over all) without measuring anything."""
    import json

    from benchmarks import run

    case = {"kind": "keras", "batch": 16}
    for i, times in enumerate(([2.0, 3.0], [1.0])):
        (tmp_path / f"r{i}.json").write_text(json.dumps({"cases": {"keras x b16 fast": {"case": case, "times": times}}}))
    pooled = run.merge([str(tmp_path / "r0.json"), str(tmp_path / "r1.json")])
    assert pooled["keras x b16 fast"]["min"] == 1.0 and pooled["keras x b16 fast"]["times"] == [2.0, 3.0, 1.0]
