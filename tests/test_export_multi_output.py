"""Models with several outputs (a dict of feature maps) export to every target, and every output is
verified in the target's runtime under its own name."""

import dataclasses
import os

import keras
import numpy as np
import pytest

import keras_senet as ks
from keras_senet.export import TARGETS, ExportError, ExportReport, export, load_exported
from images import normal_images
from keras_senet.models import build_model, family_of
from keras_senet.models.features import pyramid_outputs, select_features

SIZE = 64
# every (format, quantize) the table offers
CASES = [(name, q) for name, target in TARGETS.items() for q in target.quantize]


def _path(tmp_path, stem, format):
    return tmp_path / f"{stem}{TARGETS[format].suffix or ''}"


def _entries(folder):
    return sorted(os.listdir(folder))


@pytest.fixture(scope="module")
def pyramid():
    """Three stride-2 convolutions, returning levels 2 and 3 (P2: stride 4, P3: stride 8); P2 also
    feeds the next convolution (an output read inside the graph)."""
    keras.utils.set_random_seed(0)
    image = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(image)
    p2 = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="level2")(x)
    p3 = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="level3")(p2)
    return keras.Model(image, {"P2": p2, "P3": p3}, name="pyramid")


@pytest.fixture(scope="module")
def tapped():
    """seresnet18's layout (one block per stage) as `create_model(..., features_only=True,
    out_indices=(3, 4))` builds it: the P4 and P5 levels of its feature_info."""
    keras.utils.set_random_seed(0)
    entry = ks.zoo.get_entry("seresnet18")
    spec = dataclasses.replace(entry.spec, depths=(1, 1, 1, 1))
    backbone = build_model(spec, (SIZE, SIZE, 3), include_top=False, name="seresnet18")
    features = select_features(family_of(spec).feature_info(spec), (3, 4), "seresnet18")
    return keras.Model(backbone.input, pyramid_outputs(backbone, features), name="seresnet18_p4p5")


def _assert_matches_keras(model, path, quantize, tolerance):
    """The export, loaded afresh in its runtime, returns every output under its name, close to Keras
    (other inputs than verification's, batch 3)."""
    images = normal_images(3, SIZE, seed=5)
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in model(images, training=False).items()}
    actual = load_exported(path)(images)
    assert isinstance(actual, dict) and sorted(actual) == sorted(expected)
    for name, want in expected.items():
        got = actual[name]
        assert got.shape == want.shape, name
        if quantize in (None, "float16"):
            np.testing.assert_allclose(got, want, atol=tolerance * np.abs(want).max() + 1e-6, err_msg=name)
        else:  # quantised: the feature map as a whole, relative RMS
            assert np.sqrt(np.mean((got - want) ** 2)) <= tolerance * np.sqrt(np.mean(want**2)), name


@pytest.mark.parametrize("format, quantize", CASES)
def test_feature_pyramid_exports_and_verifies_every_output(pyramid, format, quantize, tmp_path):
    path = _path(tmp_path, "pyramid", format)
    data = normal_images(32, SIZE) if quantize == "int8" else None
    report = export(pyramid, path, format, quantize=quantize, representative_data=data)
    assert report.passed and _entries(tmp_path) == [path.name]
    assert sorted(report.outputs) == ["P2", "P3"]
    assert report.outputs["P2"]["shape"] == (len(data) if data is not None else 16, 16, 16, 8)
    assert report.outputs["P3"]["shape"][1:] == (8, 8, 16)
    assert report.top1_agreement is None  # no 2-D output: no class to agree on
    assert report.rel_diff == max(f["rel_diff"] for f in report.outputs.values())
    assert "output P2" in report.table() and "output P3" in report.table()
    _assert_matches_keras(pyramid, path, quantize, {None: 1e-5, "float16": 1e-2}.get(quantize, 0.1))


@pytest.mark.parametrize("format, quantize", [("saved_model", None), ("tflite", None), ("onnx", None),
                                              ("tflite", "int8")])
def test_tapped_seresnet_stages_export(tapped, format, quantize, tmp_path):
    path = _path(tmp_path, "backbone", format)
    data = normal_images(32, SIZE) if quantize == "int8" else None
    report = export(tapped, path, format, quantize=quantize, representative_data=data)
    assert report.passed and sorted(report.outputs) == ["P4", "P5"]
    assert report.outputs["P4"]["shape"][1:] == (4, 4, 256) and report.outputs["P5"]["shape"][1:] == (2, 2, 512)
    _assert_matches_keras(tapped, path, quantize, {None: 1e-4}.get(quantize, 0.1))
    assert load_exported(path).output_names in (("P4", "P5"), ("P5", "P4"))


def test_list_outputs_are_named_and_classifier_outputs_keep_top1(tmp_path):
    """A list of outputs is named by the output layers; top-1 agreement is measured on the 2-D one only."""
    image = keras.Input((SIZE, SIZE, 3), name="image")
    features = keras.layers.Conv2D(4, 3, strides=4, padding="same", name="features")(image)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    logits = keras.layers.Dense(5, activation="softmax", name="classes")(pooled)
    model = keras.Model(image, [logits, features])
    report = export(model, tmp_path / "m.onnx", "onnx")
    assert report.passed and sorted(report.outputs) == ["classes", "features"]
    assert report.outputs["classes"]["top1_agreement"] == 1.0 and report.outputs["features"]["top1_agreement"] is None
    assert report.top1_agreement == 1.0
    outputs = load_exported(tmp_path / "m.onnx")(normal_images(2, SIZE))
    assert outputs["classes"].shape == (2, 5) and outputs["features"].shape == (2, 16, 16, 4)


def test_single_output_predictors_still_return_an_array(tmp_path):
    image = keras.Input((SIZE, SIZE, 3), name="image")
    model = keras.Model(image, keras.layers.Conv2D(4, 3, strides=2, name="only")(image))
    for format in TARGETS:
        path = _path(tmp_path, "single", format)
        report = export(model, path, format)
        assert report.passed and list(report.outputs) == ["output"] and report.top1_agreement is None
        out = load_exported(path)(normal_images(2, SIZE))
        assert isinstance(out, np.ndarray) and out.shape == (2, 31, 31, 4)


def test_pixel_endpoint_of_a_multi_output_model_is_refused_before_any_work(pyramid, tmp_path):
    with pytest.raises(ValueError, match=r"include_preprocessing with format='saved_model' .* 'pyramid' has "
                                         r"2 outputs \(P2, P3\).*'tflite', 'onnx'"):
        export(pyramid, tmp_path / "sm", "saved_model", include_preprocessing="seresnet18")
    assert _entries(tmp_path) == []


def test_preprocessing_built_into_a_multi_output_onnx(pyramid, tmp_path):
    """Without the softmax endpoint, built-in normalisation applies to any outputs."""
    report = export(pyramid, tmp_path / "m.onnx", "onnx", include_preprocessing="seresnet18")
    assert report.passed and sorted(report.outputs) == ["P2", "P3"]
    pixels = np.random.default_rng(2).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    expected = pyramid(ks.preprocess_input(pixels, model="seresnet18"), training=False)
    actual = load_exported(tmp_path / "m.onnx")(pixels)
    for name in ("P2", "P3"):
        np.testing.assert_allclose(actual[name], keras.ops.convert_to_numpy(expected[name]), atol=1e-4)


def test_a_missing_output_fails_verification_and_writes_nothing(pyramid, tmp_path, monkeypatch):
    """An export whose runtime loses an output (here: the predictor drops P3) is refused."""
    from keras_senet.export import targets

    original = targets.load_exported

    def losing_p3(path, **kwargs):
        predict = original(path, **kwargs)
        dropped = lambda images: {"P2": predict(images)["P2"]}  # noqa: E731
        dropped.runtime = predict.runtime
        return dropped

    monkeypatch.setattr(targets, "load_exported", losing_p3)
    with pytest.raises(ExportError, match=r"outputs \['P3'\] missing from the export") as caught:
        export(pyramid, tmp_path / "m.tflite", "tflite")
    assert not caught.value.report.passed
    assert _entries(tmp_path) == []


def test_report_compare_names_missing_extra_and_reshaped_outputs():
    report = ExportReport(path="x", format="onnx", tolerances={"rel_diff": 1e-4})
    a, b = np.ones((2, 4, 4, 3)), np.ones((2, 2, 2, 3))
    report.compare({"P2": a, "P3": b}, {"P2": a, "P4": b})
    assert not report.check()
    assert any("['P3'] missing" in f for f in report.failures) and any("['P4'] in the export" in f
                                                                      for f in report.failures)
    report.compare({"P2": a, "P3": b}, {"P2": a, "P3": a})
    assert not report.check() and any("'P3' shape (2, 4, 4, 3) != Keras (2, 2, 2, 3)" in f for f in report.failures)
    report.compare({"P2": a, "P3": b}, {"P2": a, "P3": b * 1.01})
    assert not report.check() and report.failures == ["relative difference 0.01 > 0.0001 (P3)"]
    report.tolerances = {"feature_rel_rms": 0.005}
    assert not report.check() and report.failures == ["relative RMS difference 0.01 > 0.005 (P3)"]
