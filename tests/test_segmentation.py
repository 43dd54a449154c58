"""The U-Net decoder over keras-senet backbones: shapes and wiring, learning, saving, export."""

import keras
import numpy as np
import pytest

import keras_senet as ks
from images import normal_images
from keras_senet.export import export, load_exported
from keras_senet.layers import SpatialChannelSqueezeExcite, SqueezeExcite
from keras_senet.segmentation import UNet, feature_pyramid

SIZE = 64
MOBILE = "mobilenetv3_small_050"


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def resnet_unet():
    """seresnet18's P1..P5 (the default out_indices) under the default five-block decoder with scSE."""
    keras.utils.set_random_seed(0)
    return UNet("seresnet18", classes=3, decoder_attention="scse")


@pytest.fixture(scope="module")
def mobile_unet():
    """A mobile backbone whose first feature is at stride 4 (P2..P5), small decoder, fixed input size."""
    keras.utils.set_random_seed(0)
    return UNet(MOBILE, classes=6, out_indices=(1, 2, 3, 4), decoder_channels=(32, 24, 16, 8, 8),
                input_shape=(SIZE, SIZE, 3))


def test_resnet_unet_output_shape_and_skip_wiring(resnet_unet):
    out = resnet_unet(normal_images(2, SIZE), training=False)
    assert tuple(out.shape) == (2, SIZE, SIZE, 3)
    assert isinstance(resnet_unet, ks.models.ZooModel) and resnet_unet.preprocessing.mean is not None
    info = {f.level: f for f in ks.zoo.get_entry("seresnet18").feature_info}
    # block i upsamples and concatenates the backbone's feature of level 5 - i (P4, P3, P2, P1), then
    # its 64 / 2**(5-i) pixels carry decoder_channels[i - 1] channels
    for block, level, channels in zip(range(1, 6), (4, 3, 2, 1, 0), (256, 128, 64, 32, 16)):
        if level:
            skip = resnet_unet.get_layer(f"decoder_block{block}_concat").input[1]
            assert skip is resnet_unet.get_layer(info[f"P{level}"].layer).output
            assert isinstance(resnet_unet.get_layer(f"decoder_block{block}_attention1"), SpatialChannelSqueezeExcite)
        else:  # stride 1: no backbone feature to join
            assert f"decoder_block{block}_concat" not in [layer.name for layer in resnet_unet.layers]
        assert resnet_unet.get_layer(f"decoder_block{block}_2_relu").output.shape[1:] == (
            None, None, channels)
    assert resnet_unet.get_layer("decoder_block1_upsample").input is resnet_unet.get_layer(info["P5"].layer).output


def test_any_input_size_with_an_unfixed_input_shape(resnet_unet):
    assert tuple(resnet_unet.input.shape) == (None, None, None, 3)
    assert tuple(resnet_unet(normal_images(1, 96)[:, :, :64], training=False).shape) == (1, 96, 64, 3)


def test_mobile_unet_from_stride_4_output_shape(mobile_unet):
    out = mobile_unet(normal_images(2, SIZE), training=False)
    assert tuple(out.shape) == (2, SIZE, SIZE, 6)
    names = [layer.name for layer in mobile_unet.layers]
    assert "decoder_block3_concat" in names and "decoder_block4_concat" not in names  # P2 is the last skip


def test_fewer_blocks_than_levels_upsample_to_the_input_size():
    """A decoder from P5 with three blocks ends at stride 4; a bilinear x4 restores the input size."""
    image = keras.Input((SIZE, SIZE, 3))
    p4 = keras.layers.Conv2D(8, 3, strides=16, padding="same")(image)
    p5 = keras.layers.Conv2D(8, 3, strides=2, padding="same")(p4)
    toy = keras.Model(image, {"P4": p4, "P5": p5}, name="toy")
    model = UNet(toy, classes=2, decoder_channels=(8, 8, 8), decoder_attention="se", activation="softmax")
    out = _numpy(model(normal_images(1, SIZE), training=False))
    assert out.shape == (1, SIZE, SIZE, 2)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    assert model.get_layer("decoder_upsample").size == (4, 4)
    assert isinstance(model.get_layer("decoder_block3_attention2"), SqueezeExcite)
    assert model.preprocessing is None


def test_training_steps_reduce_the_loss(mobile_unet):
    """Three Adam steps on eight shapes images lower the softmax cross-entropy of those images (eager
    steps: tracing a training graph of the whole network would cost more than the steps)."""
    from keras_senet.shapes import make_shapes

    data = make_shapes(8, size=SIZE, seed=0)
    images = ks.preprocess_input(data.images.astype("float32"), model=MOBILE)
    model = keras.models.clone_model(mobile_unet)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)
    losses = [float(model.train_on_batch(images, data.masks)) for _ in range(4)]
    assert losses[-1] < losses[0] and np.isfinite(losses).all(), losses


def test_keras_file_round_trip_is_identical(resnet_unet, tmp_path):
    path = tmp_path / "unet.keras"
    resnet_unet.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = normal_images(2, SIZE, seed=3)
    np.testing.assert_array_equal(_numpy(loaded(x, training=False)), _numpy(resnet_unet(x, training=False)))
    assert type(loaded) is ks.models.ZooModel and loaded.preprocessing == resnet_unet.preprocessing


@pytest.mark.parametrize("format, quantize", [("saved_model", None), ("tflite", None), ("tflite", "int8"),
                                              ("onnx", None)])
def test_unet_exports_and_verifies_in_the_runtime(mobile_unet, format, quantize, tmp_path):
    """Each export, verified by `export` in its runtime, then loaded afresh and run on other images: float
    formats equal Keras to 1e-4; full-integer int8 (calibrated on 32 images) within 10% relative RMS of the
    per-pixel logits, and the same class on >= 90% of the pixels."""
    path = tmp_path / ("unet" if format == "saved_model" else f"unet.{format}")
    data = normal_images(32, SIZE, seed=4) if quantize == "int8" else None
    report = export(mobile_unet, path, format, quantize=quantize, representative_data=data)
    assert report.passed and report.verification_inputs
    x = normal_images(2, SIZE, seed=9)
    want, got = _numpy(mobile_unet(x, training=False)), load_exported(path)(x)
    assert got.shape == want.shape == (2, SIZE, SIZE, 6)
    if quantize is None:
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    else:
        assert np.sqrt(np.mean((got - want) ** 2)) <= 0.1 * np.sqrt(np.mean(want ** 2))
        assert np.mean(got.argmax(-1) == want.argmax(-1)) >= 0.9


@pytest.mark.parametrize("kwargs, message", [
    ({"classes": 0}, r"classes must be a positive integer, got 0"),
    ({"decoder_channels": ()}, r"decoder_channels must be a non-empty tuple of positive integers .* got \(\)"),
    ({"decoder_channels": (8, 0)}, r"decoder_channels must be .* got \(8, 0\)"),
    ({"decoder_attention": "nope"}, r"name='nope' is not a known attention layer"),
    ({"attention_kwargs": {"rd_ratio": 0.5}}, r"attention_kwargs=\{'rd_ratio': 0.5\} given without decoder_attention"),
    ({"activation": "nope"}, r"nope"),
])
def test_bad_arguments_are_refused_before_the_backbone_is_built(kwargs, message, monkeypatch):
    from keras_senet.segmentation import unet

    def no_backbone(*args, **kw):
        raise AssertionError("the backbone was built before the arguments were checked")

    monkeypatch.setattr(unet, "feature_pyramid", no_backbone)
    with pytest.raises(ValueError, match=message):
        UNet("seresnet18", **kwargs)


def test_bad_backbones_and_sizes_are_refused():
    image = keras.Input((SIZE, SIZE, 3))
    p5 = keras.layers.Conv2D(4, 3, strides=32, padding="same")(image)
    with pytest.raises(ValueError, match=r"backbone 'plain' has no feature pyramid: pass a registry name"):
        UNet(keras.Model(image, p5, name="plain"))
    with pytest.raises(ValueError, match=r"pyramid output key 'stage5' is not 'P1'..'P9'"):
        UNet(keras.Model(image, {"stage5": p5}))
    toy = keras.Model(image, {"P5": p5})
    with pytest.raises(ValueError, match=r"weights='imagenet' applies to a registry name only"):
        UNet(toy, weights="imagenet")
    with pytest.raises(ValueError, match=r"has 6 blocks, but the deepest feature map \(P5\) is only 5 doublings"):
        UNet(toy, decoder_channels=(8,) * 6)
    p3 = keras.layers.Conv2D(4, 3, strides=8, padding="same")(image)
    with pytest.raises(ValueError, match=r"2 blocks from P5 stop at P3, so the backbone's P2 would be unused"):
        UNet(keras.Model(image, {"P2": p3, "P5": p5}), decoder_channels=(8, 8))
    with pytest.raises(ValueError, match=r"input size \(48, 48\): a U-Net over P5 needs .* multiples of 32"):
        UNet("seresnet18", input_shape=(48, 48, 3))
    with pytest.raises(ValueError, match=r"backbone must be a registry name .* got int"):
        feature_pyramid(3)
