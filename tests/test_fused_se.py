"""``compile_predict(model, fused_se=True)``: each SE residual block's tail as one C++ TensorFlow op (issue 17).

The op is checked against float64 NumPy arithmetic; the fused model against the unfused fast path. Its speed is
a benchmark (`python -m benchmarks.run`), not asserted here.
"""

import os

import keras
import numpy as np
import pytest

import keras_senet as ks
from keras_senet import kernels
from keras_senet.fused_se import SqueezeExciteResidual, fuse_se_residual
from keras_senet.inference import compile_predict
from keras_senet.layers import SqueezeExcite
from randomise import randomise_batchnorm, randomise_weights

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fused op is TensorFlow's"),
    pytest.mark.xdist_group("fused_se"),  # the kernel is built once per process
]


def _reference(y, shortcut, w1, b1, w2, b2):
    """relu(y * sigmoid(relu(mean(y) @ w1 + b1) @ w2 + b2) + shortcut) in float64."""
    y, shortcut, w1, b1, w2, b2 = (np.asarray(a, np.float64) for a in (y, shortcut, w1, b1, w2, b2))
    hidden = np.maximum(y.mean(axis=(1, 2)) @ w1 + b1, 0.0)
    gate = 1.0 / (1.0 + np.exp(-(hidden @ w2 + b2)))
    return np.maximum(y * gate[:, None, None, :] + shortcut, 0.0)


@pytest.mark.parametrize("shape, reduced", [((3, 7, 5, 24), 8), ((1, 1, 1, 40), 3), ((2, 28, 28, 256), 16)])
def test_op_equals_float64_arithmetic(shape, reduced):
    """Odd spatial sizes, one pixel, one image, channels not a multiple of 16: the float64 formula."""
    rng = np.random.default_rng(sum(shape))
    y, shortcut = (rng.standard_normal(shape).astype("float32") for _ in range(2))
    channels = shape[-1]
    w1, w2 = (rng.standard_normal(s).astype("float32") / np.sqrt(s[0]) for s in ((channels, reduced), (reduced, channels)))
    b1, b2 = rng.standard_normal(reduced).astype("float32"), rng.standard_normal(channels).astype("float32")
    actual = np.asarray(kernels.load().keras_senet_squeeze_excite_residual(y, shortcut, w1, b1, w2, b2))
    expected = _reference(y, shortcut, w1, b1, w2, b2)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_op_refuses_mismatched_shapes():
    import tensorflow as tf

    y = np.zeros((1, 4, 4, 8), "float32")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"one \(N, H, W, C\) shape; got \[1,4,4,8\] and \[1,2,4,8\]"):
        kernels.load().keras_senet_squeeze_excite_residual(y, y[:, :2], np.zeros((8, 2), "float32"),
                                                            np.zeros(2, "float32"), np.zeros((2, 8), "float32"),
                                                            np.zeros(8, "float32"))


@pytest.mark.parametrize("name", ["seresnet18", "seresnext26d_32x4d", "legacy_seresnet18"])
def test_fused_fast_path_equals_the_unfused_one(name):
    """A basic-block, a grouped-bottleneck and a legacy (SENet layout) SE-ResNet: every SE block fused, the outputs those of the fast path."""
    model = ks.create_model(name, weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None)
    randomise_batchnorm(model)
    se_layers = [layer.name for layer in model.layers if isinstance(layer, SqueezeExcite)]
    fused = compile_predict(model, fused_se=True)
    plain = compile_predict(model)
    assert fused.fused_se == se_layers and len(se_layers) >= 8
    assert sum(isinstance(layer, SqueezeExciteResidual) for layer in fused.model.layers) == len(se_layers)
    assert not any(isinstance(layer, (SqueezeExcite, keras.layers.Add)) for layer in fused.model.layers)
    for batch in (1, 3):
        x = np.random.default_rng(batch).uniform(-2, 2, (batch, 64, 64, 3)).astype("float32")
        expected = plain(x)
        np.testing.assert_allclose(fused(x), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def _chains_model():
    """SE -> Add -> ReLU chains, two in the plain form the op computes (a ReLU layer, an Activation("relu")), the
    others not: a hard-sigmoid gate, the sum read again, a leaky ReLU, the SE output read again, a 3-way sum."""
    layers = keras.layers
    x = inputs = keras.Input((6, 6, 16))
    x = layers.Conv2D(16, 3, padding="same", name="conv")(x)
    for name in ("plain", "hard_gate", "read_twice", "leaky", "activation", "se_read_twice", "three_way"):
        se = SqueezeExcite(gate="hard_sigmoid" if name == "hard_gate" else "sigmoid", name=f"se_{name}")
        scaled = se(x)
        summed = layers.Add(name=f"add_{name}")([scaled, x, x] if name == "three_way" else [scaled, x])
        if name == "activation":
            relu = layers.Activation("relu", name=f"relu_{name}")(summed)
        else:
            relu = layers.ReLU(negative_slope=0.1 if name == "leaky" else 0.0, name=f"relu_{name}")(summed)
        if name in ("read_twice", "se_read_twice"):
            tapped = summed if name == "read_twice" else scaled
            relu = layers.Concatenate(name=f"tap_{name}")([relu, tapped])[..., :16]
        x = relu
    return keras.Model(inputs, layers.GlobalAveragePooling2D(name="pool")(x))


def test_only_the_plain_chains_are_fused_and_the_model_is_unchanged():
    model = randomise_weights(_chains_model())
    copy, fused = fuse_se_residual(model)
    assert fused == ["se_plain", "se_activation"]
    fused_layers = [layer.name for layer in copy.layers if isinstance(layer, SqueezeExciteResidual)]
    assert fused_layers == ["relu_plain", "relu_activation"]
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 16)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(copy(x)), expected, rtol=1e-5, atol=1e-6)


def test_the_fused_copy_saves_and_loads(tmp_path):
    """The copy is a Keras model like any other: `.keras` save and a safe-mode load give the same outputs."""
    copy, fused = fuse_se_residual(randomise_weights(_chains_model()))
    copy.save(tmp_path / "fused.keras")
    loaded = keras.models.load_model(tmp_path / "fused.keras", safe_mode=True)
    assert [layer.name for layer in loaded.layers if isinstance(layer, SqueezeExciteResidual)] == [
        "relu_plain", "relu_activation"]
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 16)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(copy(x)))


def test_a_pyramid_keeps_its_output_names_when_a_fused_block_ends_a_level():
    backbone = ks.create_model("seresnet18", weights=None, input_shape=(64, 64, 3), features_only=True)
    predict = compile_predict(backbone, fused_se=True)
    x = np.random.default_rng(0).uniform(-2, 2, (2, 64, 64, 3)).astype("float32")
    actual, expected = predict(x), compile_predict(backbone)(x)
    se_layers = [layer.name for layer in backbone.layers if isinstance(layer, SqueezeExcite)]
    assert predict.fused_se == se_layers and sorted(actual) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-5, atol=1e-5 * np.abs(expected[key]).max())


@pytest.mark.parametrize("options, message", [
    ({"freeze": False}, "needs freeze=True or 'fold'"),
    ({"freeze": "graph"}, "needs freeze=True or 'fold'"),
    ({"precision": "bfloat16"}, "cannot be combined with precision='bfloat16'"),
])
def test_fused_se_refuses_what_it_cannot_run(options, message):
    model = ks.create_model("seresnet18", weights=None, input_shape=(32, 32, 3), classes=4)
    with pytest.raises(ValueError, match=message):
        compile_predict(model, fused_se=True, **options)


def test_without_a_compiler_it_says_so_and_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(kernels, "_loaded", {})
    with pytest.raises(RuntimeError, match="needs a compiler: .*no-such-compiler.* was not found"):
        kernels.load()
    folder = kernels.kernels_dir()
    assert not os.path.exists(folder) or os.listdir(folder) == []


def test_a_failed_build_says_why_and_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CXX", "g++ -DKERAS_SENET_TEST_NO_SUCH_HEADER -include no_such_header.h")
    monkeypatch.setattr(kernels, "_loaded", {})
    with pytest.raises(RuntimeError, match="building the fused SE kernel failed"):
        kernels.load()
    assert os.listdir(kernels.kernels_dir()) == []
