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


def test_mobile_latency_rows_and_targets():
    """The rows per architecture (keras.applications only where it has the architecture) and the ratios
    of issue 11 from given timings: nothing is run or timed."""
    from benchmarks import mobile_latency as mobile

    models = ["mobilenetv3_large_100", "lcnet_100"]
    exports, cases = mobile.plan(models, "/exports", dict(size=32, batch=1, threads=2, warmup=1, repeats=1,
                                                          seconds=0))
    labels = [label for label, _ in cases]
    rows = [row for row, _, _ in mobile.ROWS]
    assert labels == [mobile.label("mobilenetv3_large_100", row) for row in rows] + [
        mobile.label("lcnet_100", row) for row in rows if not row.startswith("keras.applications")]
    by_label = dict(cases)
    apps = by_label["mobilenetv3_large_100: keras.applications Keras compile_predict"]
    assert apps["application"] == "MobileNetV3Large" and apps["path"] == "fast"
    assert by_label["lcnet_100: timm ONNX"]["channels_first"]
    kinds = {model: sorted(case["kind"] for _, case in pairs) for model, pairs in exports.items()}
    assert kinds == {"mobilenetv3_large_100": ["keras_export", "keras_export", "timm_export"],
                     "lcnet_100": ["keras_export", "timm_export"]}

    ms = {"ours Keras compile_predict": 8, "ours LiteRT fp32": 10, "ours LiteRT int8": 4, "ours ONNX": 6,
          "timm eager": 16, "timm ONNX": 5, "keras.applications Keras compile_predict": 9,
          "keras.applications LiteRT fp32": 10, "keras.applications ONNX": 6}
    pooled = {label: {"min": ms[label.split(": ", 1)[1]] / 2000, "median": ms[label.split(": ", 1)[1]] / 1000}
              for label in labels}
    pooled["lcnet_100: ours LiteRT int8"] = {"error": "exit code 1"}
    results = {(r["target"], r["model"]): r for r in mobile.targets(pooled, models)}
    onnx = results["ours ONNX / timm ONNX", "mobilenetv3_large_100"]
    assert onnx["median"] == pytest.approx(1.2) and onnx["min"] == pytest.approx(1.2) and onnx["met"] is False
    assert results["int8 speed-up: ours LiteRT fp32 / ours LiteRT int8", "mobilenetv3_large_100"]["met"] is True
    assert results["ours Keras / timm eager", "lcnet_100"]["median"] == pytest.approx(0.5)
    for missing in ("ours LiteRT fp32 / keras.applications LiteRT fp32", "int8 speed-up: ours LiteRT fp32 / "
                    "ours LiteRT int8"):
        assert results[missing, "lcnet_100"]["median"] is None and results[missing, "lcnet_100"]["met"] is None
    table = mobile.latency_table(pooled, models) + "\n" + mobile.targets_table(list(results.values()), models)
    assert "| ours LiteRT int8 | 4.00 (2.00) | failed |" in table
    assert "| keras.applications ONNX | 6.00 (3.00) | n/a |" in table
    assert "| ours ONNX / timm ONNX | <= 1.05 | 1.20 (1.20) **no** | 1.20 (1.20) **no** |" in table


def test_missing_export_is_a_failed_row(tmp_path):
    """A case reading an export that was not written is reported failed, without starting a process."""
    from benchmarks import export_latency

    timing = dict(size=32, batch=1, threads=2, warmup=1, repeats=1, seconds=0)
    case = export_latency.runtime_case("tflite_fp32", "lcnet_100", str(tmp_path), timing)
    pooled = export_latency.measure([("lcnet_100 fp32", case)], quick=True, rounds=1, log=lambda line: None)
    assert "fp32.tflite was not written" in pooled["lcnet_100 fp32"]["error"]


def test_mobile_latency_runs(tmp_path):
    """Smoke run of `python -m benchmarks.mobile_latency` on one model at 32x32 (exports, every runtime, one
    process per framework): every row timed, every ratio printed. Asserts nothing about speed."""
    import json

    from benchmarks import mobile_latency as mobile

    out = tmp_path / "mobile.json"
    proc = run([sys.executable, "-m", "benchmarks.mobile_latency", "--models", "mobilenetv3_large_100", "--size", 32,
                "--warmup", 1, "--repeats", 1, "--seconds", 0, "--quick", "--json", out], cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    for row, _, _ in mobile.ROWS:
        assert result["cases"][mobile.label("mobilenetv3_large_100", row)]["median"] > 0
        assert f"| {row} | " in proc.stdout
    assert len(result["targets"]) == len(mobile.TARGETS)
    assert all(r["median"] > 0 and r["min"] > 0 for r in result["targets"])
    for name, _, _, goal in mobile.TARGETS:
        assert f"| {name} | {' '.join(map(str, goal)) if goal else ''} | " in proc.stdout
