"""The model's preprocessing: one eval transform equal to timm's, and a config that travels with the model."""

import json

import keras
import numpy as np
import pytest

import keras_senet as ks
from images import smooth_images
from keras_senet.preprocessing import PreprocessingConfig, eval_transform, normalize, preprocessing_of
from timm_reference import timm_eval_pixels


@pytest.mark.parametrize("size, crop_pct, interpolation, shapes", [
    (64, 0.875, "bicubic", [(90, 120), (121, 77)]),   # landscape / portrait, odd sides
    (48, 0.95, "bilinear", [(50, 333), (48, 48)]),    # extreme aspect, already at size
    (32, 1.0, "bicubic", [(101, 99), (33, 250)]),     # no crop margin: the short side is the crop
])
def test_eval_transform_equals_timm_pil_transform(size, crop_pct, interpolation, shapes):
    config = PreprocessingConfig(input_size=size, crop_pct=crop_pct, interpolation=interpolation)
    transform = eval_transform(config)
    for height, width in shapes:
        pixels = smooth_images(2, height, width, seed=height + width)
        expected = timm_eval_pixels(config, list(pixels))
        batched = transform(pixels).numpy()
        single = np.stack([transform(p).numpy() for p in pixels])
        assert batched.shape == expected.shape == (2, size, size, 3)
        np.testing.assert_allclose(single, batched, atol=1e-3)
        # PIL and TF resample with slightly different filters: about one grey level on smooth images.
        assert np.abs(batched - expected).mean() < 1.0, (height, width)
        assert np.abs(batched - expected).max() < 12.0, (height, width)


def test_normalize_is_timm_normalisation():
    config = PreprocessingConfig(input_size=8, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3))
    expected = (pixels / 255.0 - np.array(config.mean)) / np.array(config.std)
    np.testing.assert_allclose(normalize(pixels, config), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ks.preprocess_input(pixels, model=config), expected, rtol=1e-5, atol=1e-5)


def test_model_carries_its_preprocessing_through_keras_save_and_load(tmp_path):
    model = ks.create_model("ecaresnet26t", input_shape=(64, 64, 3))
    config = model.preprocessing
    entry = ks.zoo.get_entry("ecaresnet26t").preprocessing
    assert (config.model, config.weights, config.input_size) == ("ecaresnet26t", None, 64)
    assert (config.crop_pct, config.interpolation, config.mean) == (entry.crop_pct, entry.interpolation, entry.mean)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, ks.models.ZooModel) and loaded.preprocessing == config
    assert preprocessing_of(loaded) == config


def test_tag_config_is_the_checkpoints():
    import timm

    config = ks.preprocessing.for_model("seresnet50.a1_in1k")
    upstream = timm.models.get_pretrained_cfg("seresnet50.a1_in1k")
    assert (config.input_size, config.crop_pct, config.interpolation) == (
        upstream.input_size[-1], upstream.crop_pct, upstream.interpolation)
    assert config.weights == "seresnet50.a1_in1k"


def test_unknown_provenance_is_a_clear_error_not_a_default():
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)], name="mine")
    with pytest.raises(ValueError, match="'mine' carries no preprocessing config"):
        preprocessing_of(plain)
    with pytest.raises(ValueError, match="carries no preprocessing config"):
        ks.data.preprocessing_config(plain)
    explicit = preprocessing_of("seresnet18", input_size=40)
    assert explicit.input_size == 40 and explicit.model == "seresnet18"


@pytest.mark.parametrize("bad, message", [
    (dict(input_size=0), "input_size must be a positive integer"),
    (dict(input_size=32, crop_pct=1.5), r"crop_pct must be in \(0, 1\]"),
    (dict(input_size=32, interpolation="cubic"), "interpolation='cubic' is not one of"),
    (dict(input_size=32, std=(0.2, 0.0, 0.2)), "mean and std need 3 values"),
])
def test_bad_config_is_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        PreprocessingConfig(**bad)


def test_config_round_trips_through_json():
    config = ks.preprocessing.for_model("seresnet50.a1_in1k")
    assert PreprocessingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown preprocessing field"):
        PreprocessingConfig.from_dict(dict(config.to_dict(), size=3))


def test_readme_preprocessing_example_runs(checkpoint_server, monkeypatch):
    """The README's "model knows its preprocessing" block, as written, against a loopback hub serving a
    seresnet50 checkpoint (a timm model with random weights)."""
    import os
    import re

    import safetensors.numpy

    from timm_reference import timm_model_with_statistics

    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "model.preprocessing" in b]
    monkeypatch.setenv("HF_ENDPOINT", checkpoint_server.url)
    state = timm_model_with_statistics("seresnet50").state_dict()
    checkpoint_server.add("timm/seresnet50.a1_in1k/resolve/main/model.safetensors",
                          safetensors.numpy.save({k: v.numpy() for k, v in state.items()}))
    namespace = {"ks": ks, "uint8_image": smooth_images(1, 300, 260)[0]}  # the README imports ks above
    exec(compile(block, "README.md", "exec"), namespace)
    config = namespace["model"].preprocessing
    assert (config.weights, config.input_size, config.crop_pct) == ("seresnet50.a1_in1k", 224, 0.95)
    assert namespace["pixels"].shape == (224, 224, 3) and namespace["x"].shape == (224, 224, 3)
