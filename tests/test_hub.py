"""keras-hub interop: `SEBackbone` satisfies the ``pyramid_outputs`` contract and drops into keras-hub's
RetinaNet and DeepLabV3, which train and survive a ``.keras`` round trip."""

import sys

import pytest

if sys.version_info < (3, 11):  # setup.cfg's [hub] / [test] extras install keras-hub on Python >= 3.11 only
    pytest.skip("keras-hub 0.32 needs Python >= 3.11", allow_module_level=True)

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import keras_senet as ks  # noqa: E402
from images import normal_images  # noqa: E402
from keras_senet.hub import SEBackbone  # noqa: E402
from keras_senet.segmentation import UNet  # noqa: E402

SIZE = 64
MOBILE = "mobilenetv3_small_050"


def _numpy(tree):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, tree)


@pytest.fixture(scope="module")
def detection_data():
    """Four shapes images with their boxes ("xyxy" pixels) and labels, -1 padded."""
    from keras_senet.shapes import make_shapes

    data = make_shapes(4, size=SIZE, seed=0)
    images = ks.preprocess_input(data.images.astype("float32"), model=MOBILE)
    return images, {"boxes": data.boxes, "labels": data.labels.astype("float32")}, data.masks


def test_pyramid_outputs_are_the_registered_feature_levels():
    backbone = SEBackbone(MOBILE, out_indices=(0, 2, 4))
    assert isinstance(backbone, keras_hub.models.FeaturePyramidBackbone)
    infos = {f.index: f for f in ks.zoo.get_entry(MOBILE).feature_info}
    assert sorted(backbone.pyramid_outputs) == ["P1", "P3", "P5"]
    out = backbone(normal_images(1, SIZE), training=False)
    for index in (0, 2, 4):
        info = infos[index]
        assert backbone.pyramid_outputs[info.level] is backbone.get_layer(info.layer).output
        assert tuple(out[info.level].shape) == (1, SIZE // info.stride, SIZE // info.stride, info.channels)
    assert backbone.preprocessing.model == MOBILE and backbone.name == MOBILE


def test_weights_load_into_the_backbone(tmp_path):
    """weights= goes to create_model: a checkpoint saved from a model loads, and the pyramid returns that
    model's own intermediate feature maps."""
    keras.utils.set_random_seed(1)
    source = ks.create_model("seresnet18", include_top=False, input_shape=(None, None, 3))
    path = tmp_path / "seresnet18.weights.h5"
    source.save_weights(path)
    backbone = SEBackbone("seresnet18", weights=str(path))
    x = normal_images(2, SIZE, seed=4)
    taps = {f.level: source.get_layer(f.layer).output for f in ks.zoo.get_entry("seresnet18").feature_info[1:]}
    expected = _numpy(keras.Model(source.input, taps)(x, training=False))
    actual = _numpy(backbone(x, training=False))
    assert sorted(actual) == ["P2", "P3", "P4", "P5"]
    for level in expected:
        np.testing.assert_array_equal(actual[level], expected[level])


def test_config_round_trip_rebuilds_the_architecture():
    backbone = SEBackbone(MOBILE, out_indices=(1, 2, 3, 4), image_shape=(SIZE, SIZE, 3), name="encoder")
    config = backbone.get_config()
    assert config["model"] == MOBILE and config["out_indices"] == [1, 2, 3, 4] and "weights" not in config
    rebuilt = SEBackbone.from_config(config)
    assert rebuilt.get_config() == config
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in backbone.weights]
    assert keras.saving.get_registered_name(SEBackbone) == "keras_senet>SEBackbone"


def test_retinanet_trains_and_round_trips(detection_data, tmp_path):
    images, targets, _ = detection_data
    encoder = SEBackbone(MOBILE)
    backbone = keras_hub.models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=5, use_p5=False,
                                                  image_shape=(SIZE, SIZE, 3))
    detector = keras_hub.models.RetinaNetObjectDetector(backbone=backbone, num_classes=5,
                                                        bounding_box_format="xyxy")
    detector.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # tracing costs more than the step
    before = [w.copy() for w in _numpy([w.value for w in encoder.trainable_weights[:3]])]
    history = detector.fit(images, targets, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = _numpy([w.value for w in encoder.trainable_weights[:3]])
    assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before))  # gradients reach the SE backbone
    path = tmp_path / "retinanet.keras"
    detector.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.backbone.image_encoder, SEBackbone)
    expected, actual = _numpy(detector(images, training=False)), _numpy(loaded(images, training=False))
    assert sorted(actual) == ["bbox_regression", "cls_logits"]
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name])


def test_deeplab_v3_trains_and_round_trips(detection_data, tmp_path):
    images, _, masks = detection_data
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=SEBackbone(MOBILE), spatial_pyramid_pooling_key="P5", upsampling_size=8,
        dilation_rates=[2, 4], low_level_feature_key="P2", image_shape=(SIZE, SIZE, 3))
    segmenter = keras_hub.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=6)
    segmenter.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    losses = [segmenter.train_on_batch(images, masks[..., None], return_dict=True)["loss"] for _ in range(3)]
    assert losses[-1] < losses[0]
    path = tmp_path / "deeplab.keras"
    segmenter.save(path)
    loaded = keras.saving.load_model(path)
    expected = _numpy(segmenter(images, training=False))
    assert expected.shape == (4, SIZE, SIZE, 6)
    np.testing.assert_array_equal(_numpy(loaded(images, training=False)), expected)


def test_unet_over_a_keras_hub_backbone():
    """The U-Net reads keras-hub's pyramid_outputs too (here our own adapter)."""
    model = UNet(SEBackbone(MOBILE), classes=2, decoder_channels=(16, 8, 8, 8, 8))
    assert tuple(model(normal_images(1, SIZE), training=False).shape) == (1, SIZE, SIZE, 2)


def test_a_non_name_model_argument_is_refused():
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match=r"model must be a registry name .* got Functional"):
        SEBackbone(keras.Model(inputs, keras.layers.Dense(2)(inputs)))


def test_readme_example_runs():
    from readme import run_python_block

    namespace = run_python_block("ks.segmentation.UNet(", {})
    assert tuple(namespace["masks"].shape) == (2, 128, 128, 6)
    x = namespace["x"]
    boxes = namespace["detector"](x)
    assert boxes["cls_logits"].shape[-1] == 5 and boxes["bbox_regression"].shape[-1] == 4
    assert tuple(namespace["segmenter"](x).shape) == (2, 128, 128, 6)
