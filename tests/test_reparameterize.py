"""`keras_senet.reparameterize`: parallel linear branches merged into one convolution (GhostNetV3's
training form into its inference form, as timm's ``reparameterize_model``)."""

import keras
import numpy as np
import pytest
from timm.models._manipulate import reparameterize_model
from timm.models.ghostnet import GhostBottleneckV3, GhostModuleV3

import keras_senet as ks
from images import normal_images
from keras_senet.reparameterization import has_parallel_branches
from randomise import randomise_weights
from timm_reference import timm_logits, timm_model_with_statistics

layers = keras.layers


def _conv_bn(x, filters, kernel, stride, name, depthwise=False, groups=1):
    """A conv + BN branch with PyTorch's padding, as the builders make it (explicit padding when strided)."""
    padding = "same"
    if stride > 1 and kernel > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad", dtype="float64")(x)
        padding = "valid"
    elif stride > 1:
        padding = "valid"
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding=padding, use_bias=False, name=f"{name}_conv",
                                   dtype="float64")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, padding=padding, groups=groups, use_bias=False,
                          name=f"{name}_conv", dtype="float64")(x)
    return layers.BatchNormalization(name=f"{name}_bn", dtype="float64")(x)


def _rep_model():
    """Every kind of branch `reparameterize` merges, in float64 (so the merged model must agree to ~1e-12):
    RepVGG (3x3 + 1x1 + BN-only, stride 1), a grouped version with the input itself as a branch, a strided
    depthwise sum (3x3 behind ZeroPadding2D + 1x1), a 5x5 + 3x3 depthwise sum; plus sums it must leave
    alone: a residual addition of two different tensors and branches of different strides."""
    image = keras.Input((13, 11, 8), dtype="float64")
    x = layers.Add(name="repvgg", dtype="float64")(
        [_conv_bn(image, 8, 3, 1, "repvgg_3x3"), _conv_bn(image, 8, 1, 1, "repvgg_1x1"),
         layers.BatchNormalization(name="repvgg_skip", dtype="float64")(image)])
    x = layers.ReLU(dtype="float64")(x)
    y = layers.Add(name="grouped", dtype="float64")(
        [_conv_bn(x, 8, 3, 1, "grouped_3x3", groups=2), _conv_bn(x, 8, 1, 1, "grouped_1x1", groups=2), x])
    y = layers.ReLU(dtype="float64")(y)
    z = layers.Add(name="strided_dw", dtype="float64")(
        [_conv_bn(y, 8, 3, 2, "strided_dw_3x3", depthwise=True), _conv_bn(y, 8, 1, 2, "strided_dw_1x1", depthwise=True)])
    w = layers.Add(name="dw_5x5_3x3", dtype="float64")(
        [_conv_bn(z, 8, 5, 1, "dw_5x5", depthwise=True), _conv_bn(z, 8, 3, 1, "dw_3x3", depthwise=True)])
    residual = layers.Add(name="residual", dtype="float64")([_conv_bn(w, 8, 3, 1, "res_conv"), z])
    mixed_strides = layers.Add(name="mixed_strides", dtype="float64")(
        [_conv_bn(residual, 8, 3, 2, "half_3x3"), layers.AveragePooling2D(2, padding="same", dtype="float64")(
            _conv_bn(residual, 8, 1, 1, "full_1x1"))])
    return keras.Model(image, [w, mixed_strides], name="branches")


def test_every_branch_kind_merges_exactly_in_float64():
    model = randomise_weights(_rep_model(), seed=3)
    copy, merged = ks.reparameterize(model)
    assert merged == ["dw_5x5_3x3", "grouped", "repvgg", "strided_dw"]
    assert has_parallel_branches(model) and not has_parallel_branches(copy)
    for name in merged:  # one convolution in place of each sum, of the largest branch kernel
        kernel = {"dw_5x5_3x3": 5}.get(name, 3)
        assert isinstance(copy.get_layer(name), (layers.Conv2D, layers.DepthwiseConv2D))
        assert copy.get_layer(name).kernel_size == (kernel, kernel)
    assert isinstance(copy.get_layer("residual"), layers.Add)
    assert isinstance(copy.get_layer("mixed_strides"), layers.Add)
    assert not [layer for layer in copy.layers if "_1x1" in layer.name and "full" not in layer.name]
    images = np.random.default_rng(0).normal(size=(2, 13, 11, 8))
    expected = [keras.ops.convert_to_numpy(t) for t in model(images, training=False)]
    actual = [keras.ops.convert_to_numpy(t) for t in copy(images, training=False)]
    for want, got in zip(expected, actual):
        assert want.shape == got.shape
        assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()


def test_a_model_without_branches_is_only_folded():
    model = ks.create_model("seresnet18", weights=None, input_shape=(64, 64, 3))
    assert not has_parallel_branches(model)
    copy, merged = ks.reparameterize(model)
    assert merged == []
    assert not any(isinstance(layer, layers.BatchNormalization) for layer in copy.layers)  # folded
    assert copy.preprocessing == model.preprocessing


def test_ghostnetv3_equals_timms_reparameterised_model(tmp_path):
    """timm's ghostnetv3_100 (non-trivial BatchNorm statistics) converted, re-parameterised by keras-senet
    and by timm: same logits; one convolution per sum timm merges; the copy saves and reloads."""
    reference = timm_model_with_statistics("ghostnetv3_100")
    model = ks.create_model("ghostnetv3_100", weights=None, classifier_activation=None)
    ks.weights.load_timm_state_dict(model, {k: v.numpy() for k, v in reference.state_dict().items()},
                                    source="timm ghostnetv3_100")
    copy, merged = ks.reparameterize(model)
    # timm merges two sums per GhostModuleV3 (primary, cheap) and the depthwise sum of a strided bottleneck
    modules = list(reference.modules())
    sums = (2 * sum(isinstance(m, GhostModuleV3) for m in modules)
            + sum(isinstance(m, GhostBottleneckV3) and m.stride > 1 for m in modules))
    assert len(merged) == sums
    assert not [layer.name for layer in copy.layers if "_rpr_" in layer.name]
    assert len(copy.layers) < len(model.layers) / 2
    assert copy.preprocessing == model.preprocessing

    deployed = reparameterize_model(reference, inplace=False)
    images = normal_images(2, 224, seed=1)
    expected = timm_logits(deployed, images)
    out = keras.ops.convert_to_numpy(copy(images, training=False))
    assert np.abs(out - expected).max() <= 1e-4 * np.abs(expected).max()
    np.testing.assert_array_equal(out.argmax(-1), expected.argmax(-1))

    path = tmp_path / "deployed.keras"
    copy.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(images, training=False)), out)


def test_compile_predict_runs_the_merged_form():
    model = ks.create_model("ghostnetv3_100", weights=None, input_shape=(64, 64, 3))
    predict = ks.compile_predict(model)
    assert len(predict.model.layers) < len(model.layers) / 2
    images = normal_images(2, 64, seed=2)
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    np.testing.assert_allclose(predict(images), expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("bad", ["subclassed", "not a model"])
def test_what_it_cannot_copy_is_a_clear_error(bad):
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    model = Subclassed() if bad == "subclassed" else "seresnet18"
    if bad == "subclassed":
        model(np.zeros((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="needs a"):
        ks.reparameterize(model)
