"""`create_model(..., features_only=True)`: the feature pyramid as a model of its own.

The values of every level of every registered model are checked against timm's ``features_only=True``
model in test_models.py::test_same_function_as_timm; here: the API a backbone user relies on, on one
ResNet-style and one inverted-residual model (MobileNetV3, whose head has a layer after pooling), and a
ByobNet whose last level is a 1x1 conv after the last stage (gcresnet33ts's ``final_conv``, a feature in timm).
"""

import keras
import numpy as np
import pytest
import safetensors.numpy

import keras_senet as ks
from images import normal_images
from timm_reference import timm_features, timm_model_with_statistics

MODELS = ["seresnet18", "mobilenetv3_small_050", "gcresnet33ts"]


@pytest.fixture(scope="module", params=MODELS)
def served(request, checkpoint_server):
    """(name, timm reference, URL of its state dict as safetensors on the loopback server)."""
    name = request.param
    reference = timm_model_with_statistics(name)
    data = safetensors.numpy.save({k: v.numpy() for k, v in reference.state_dict().items()})
    return name, reference, checkpoint_server.add(f"features/{name}/model.safetensors", data)


def _numpy(outputs):
    return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


def test_pretrained_feature_pyramid_equals_timm(served, tmp_path):
    """Downloaded weights load into the feature model (classifier and head left out, nothing else
    skipped); the chosen levels, any input size, equal timm's features; `.keras` round trip identical."""
    name, reference, url = served
    model = ks.create_model(name, weights=url, features_only=True, out_indices=(1, 2, 3, -1))
    assert [f.level for f in model.feature_info] == ["P2", "P3", "P4", "P5"]
    assert [f.index for f in model.feature_info] == [1, 2, 3, 4]
    assert not any(layer.name in ("classifier", "conv_head") for layer in model.layers)
    for size in (64, 97):  # input_shape (None, None, 3) by default: any size
        images = normal_images(2, size, seed=size)
        info, expected = timm_features(name, reference, images)
        got = _numpy(model(images, training=False))
        assert list(got) == ["P2", "P3", "P4", "P5"]
        for (level, value), want, feature in zip(got.items(), expected[1:], model.feature_info):
            assert value.shape == want.shape and value.shape[-1] == feature.channels, level
            assert -(-size // feature.stride) == value.shape[1], level
            assert np.abs(value - want).max() <= 1e-4 * np.abs(want).max(), level
    path = tmp_path / "backbone.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.feature_info == model.feature_info
    assert loaded.preprocessing == model.preprocessing
    for level, value in _numpy(loaded(images, training=False)).items():
        np.testing.assert_array_equal(value, got[level])


def test_default_is_every_level_and_fixed_size_works():
    model = ks.create_model("seresnet18", features_only=True, input_shape=(64, 64, 3))
    entry = ks.zoo.get_entry("seresnet18")
    assert model.feature_info == entry.feature_info
    shapes = {k: tuple(v.shape) for k, v in model.output.items()}
    assert shapes == {"P1": (None, 32, 32, 64), "P2": (None, 16, 16, 64), "P3": (None, 8, 8, 128),
                      "P4": (None, 4, 4, 256), "P5": (None, 2, 2, 512)}
    assert ks.model_info("seresnet18")["feature_info"][4]["level"] == "P5"


@pytest.mark.parametrize("kwargs, message", [
    (dict(out_indices=(1, 5)), "5 is not a feature level; 'seresnet18' has 5 feature levels: indices 0..4"),
    (dict(out_indices=(1, 1)), "names a level twice"),
    (dict(out_indices=()), "out_indices is empty"),
    (dict(out_indices=(1.0,)), "1.0 is not a feature level"),
    (dict(pooling="avg"), "pooling='avg' does not apply with features_only=True"),
    (dict(features_only=False, out_indices=(1, 2)), "needs features_only=True"),
    (dict(features_only="yes"), "features_only must be True or False"),
])
def test_bad_arguments_are_refused_before_building(kwargs, message):
    arguments = dict(features_only=True) | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        ks.create_model("seresnet18", **arguments)
