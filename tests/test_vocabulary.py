"""One vocabulary: `model` for the model argument, `input_size` for the square side, `"imagenet"` as the
weights of a registry name everywhere; 0.1's spellings still work for one release, with a warning."""

import numpy as np
import pytest

import keras_senet as ks


def test_create_model_and_model_info_take_model():
    assert ks.create_model(model="seresnet18", input_shape=(32, 32, 3)).preprocessing.model == "seresnet18"
    with pytest.warns(DeprecationWarning, match=r"create_model\(model_name=...\) is deprecated"):
        old = ks.create_model(model_name="seresnet18", input_shape=(32, 32, 3))
    assert old.preprocessing.model == "seresnet18"
    with pytest.warns(DeprecationWarning, match=r"model_info\(model_name=...\)"):
        assert ks.model_info(model_name="seresnet18")["name"] == "seresnet18"
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        ks.model_info("seresnet18", size=3)


def test_build_classifier_input_size_and_old_spelling():
    from keras_senet.training import build_classifier

    new = build_classifier("seresnet18", 3, weights=None, input_size=40)
    with pytest.warns(DeprecationWarning, match=r"build_classifier\(image_size=...\)"):
        old = build_classifier(model_name="seresnet18", num_classes=3, weights=None, image_size=40)
    assert new.input_shape == old.input_shape == (None, 40, 40, 3)
    assert new.preprocessing.input_size == 40 and new.preprocessing.model == "seresnet18"


def test_load_dataset_input_size_and_old_spelling(tmp_path):
    import PIL.Image

    from keras_senet.data import load_dataset

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        PIL.Image.fromarray(np.full((20, 24, 3), 100, "uint8")).save(tmp_path / label / "x.png")
    new = load_dataset(tmp_path, None, model="seresnet18", input_size=16, batch_size=2)
    with pytest.warns(DeprecationWarning, match=r"load_dataset\(image_size=...\)"):
        old = load_dataset(tmp_path, None, model="seresnet18", image_size=16, batch_size=2)
    assert new.element_spec[0].shape[1:] == old.element_spec[0].shape[1:] == (16, 16, 3)


def test_registry_names_mean_pretrained_weights_in_evaluate_and_export(monkeypatch):
    """`keras-senet evaluate NAME` and `keras-senet export NAME` load the same model: one load_model,
    weights="imagenet" by default (here resolved against the tag table, then refused offline)."""
    from keras_senet.export import from_source
    from keras_senet.training import evaluation

    monkeypatch.setenv("KERAS_SENET_OFFLINE", "1")
    for load in (evaluation.load_model, from_source.load_model):
        with pytest.raises(ks.weights.OfflineError, match=r"legacy_seresnet18\.in1k"):
            load("legacy_seresnet18")
    random = from_source.load_model("legacy_seresnet18", weights=None)
    assert random.preprocessing.weights is None and random.input_shape == (None, 224, 224, 3)
    assert from_source.load_model("legacy_seresnet18", weights=None, input_size=40).input_shape == (None, 40, 40, 3)


def test_cli_input_size_and_its_old_spelling():
    from keras_senet.cli import build_parser

    parser = build_parser()
    for flag in ("--input-size", "--image-size"):
        assert parser.parse_args(["train", "--data", "d", flag, "48"]).input_size == 48
        assert parser.parse_args(["evaluate", "m", "--data", "d", flag, "48"]).input_size == 48
        assert parser.parse_args(["export", "m", "--format", "onnx", "--out", "o", flag, "48"]).input_size == 48
    assert parser.parse_args(["export", "m", "--format", "onnx", "--out", "o"]).weights == "imagenet"
