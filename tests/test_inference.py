"""The fast inference path: BatchNorm folding (exact in float64), compile_predict's paths, bfloat16.

Memory and speed are benchmarks (`python -m benchmarks.fastpath_memory`), not asserted here.
"""

import keras
import numpy as np
import pytest

import keras_senet as ks
from keras_senet import inference
from keras_senet.folding import fold_batchnorm, foldable_pairs
from keras_senet.inference import compile_predict
from randomise import randomise_batchnorm, randomise_weights

tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                     reason="freezing, folding paths and bfloat16 are TensorFlow's")


def _pairs_model(dtype):
    """Every foldable kind (Conv2D without / with bias, depthwise with multiplier 2, a grouped conv,
    a BatchNorm without scale and center) and four that must not fold (a conv with an activation,
    a conv read twice, a conv read by a `keras.ops` call too, a BatchNorm after an Add)."""
    layers = keras.layers
    x = inputs = keras.Input((9, 9, 4), dtype=dtype)
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv_a", dtype=dtype)(x)
    x = layers.BatchNormalization(name="bn_a", dtype=dtype)(x)
    x = layers.ReLU(dtype=dtype)(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw", dtype=dtype)(x)
    x = layers.BatchNormalization(name="bn_dw", dtype=dtype)(x)
    x = layers.Conv2D(16, 3, groups=4, use_bias=False, name="grouped", dtype=dtype)(x)
    x = layers.BatchNormalization(name="bn_grouped", scale=False, center=False, dtype=dtype)(x)
    act = layers.Conv2D(16, 1, activation="relu", name="conv_act", dtype=dtype)(x)
    act = layers.BatchNormalization(name="bn_act", dtype=dtype)(act)
    shared = layers.Conv2D(16, 1, name="conv_shared", dtype=dtype)(act)
    x = layers.Add(dtype=dtype)([layers.BatchNormalization(name="bn_shared", dtype=dtype)(shared), shared])
    conv_op = layers.Conv2D(16, 1, name="conv_op", dtype=dtype)(x)
    x = keras.ops.add(layers.BatchNormalization(name="bn_op", dtype=dtype)(conv_op), conv_op)  # read by an op
    x = layers.BatchNormalization(name="bn_add", dtype=dtype)(x)
    x = layers.GlobalAveragePooling2D(dtype=dtype)(x)
    return keras.Model(inputs, layers.Dense(5, name="head", dtype=dtype)(x))


def test_fold_batchnorm_is_exact_in_float64():
    """The folded copy equals the original in float64 (the algebra), and folds exactly the foldable pairs."""
    model = randomise_weights(_pairs_model("float64"), seed=3)
    folded, pairs = fold_batchnorm(model)
    assert pairs == [("conv_a", "bn_a"), ("dw", "bn_dw"), ("grouped", "bn_grouped")]
    assert not any(isinstance(layer, keras.layers.BatchNormalization) and layer.name in dict(pairs).values()
                   for layer in folded.layers)
    x = np.random.default_rng(0).uniform(-2, 2, (3, 9, 9, 4))
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    got = keras.ops.convert_to_numpy(folded(x, training=False))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def test_fold_batchnorm_copies_weights():
    """The folded model is a snapshot: changing the original afterwards does not change it."""
    model = randomise_weights(_pairs_model("float32"), seed=1)
    folded, _ = fold_batchnorm(model)
    x = np.random.default_rng(0).uniform(-2, 2, (2, 9, 9, 4)).astype("float32")
    before = keras.ops.convert_to_numpy(folded(x))
    randomise_weights(model, seed=2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(folded(x)), before)


def test_fold_batchnorm_rejects_what_it_cannot_copy():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="not built|could not copy|keras.Model"):
        fold_batchnorm(Subclassed())


@tensorflow_only
@pytest.mark.parametrize("name", ["seresnet18", "mobilenetv3_large_100"])
def test_fast_path_folds_and_equals_model_call(name):
    """Default compile_predict runs a copy with no foldable BatchNorm left, equal to model(x), for a
    ResNet and a mobile network (depthwise convs, hard-swish, SE)."""
    model = ks.create_model(name, weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None)
    randomise_batchnorm(model)
    assert foldable_pairs(model)
    predict = compile_predict(model)
    assert predict.model is not model and not foldable_pairs(predict.model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in predict.model.layers)
    graph = compile_predict(model, freeze="graph")
    for batch in (1, 3):
        x = np.random.default_rng(batch).uniform(-2, 2, (batch, 64, 64, 3)).astype("float32")
        expected = keras.ops.convert_to_numpy(model(x, training=False))
        tolerance = dict(rtol=1e-4, atol=1e-5 * np.abs(expected).max())
        np.testing.assert_allclose(predict(x), expected, **tolerance)
        np.testing.assert_allclose(graph(x), expected, **tolerance)


@tensorflow_only
def test_model_without_foldable_pair_is_graph_frozen():
    """A model with nothing to fold (a BatchNorm after a Dense) keeps the graph freeze: same outputs."""
    model = randomise_weights(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                                                keras.layers.BatchNormalization(), keras.layers.Dense(2)]))
    predict = compile_predict(model)
    assert predict.model is model
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(predict(x), model(x, training=False), rtol=1e-5, atol=1e-6)


def test_compile_predict_rejects_bad_freeze_and_precision():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"freeze must be one of .*'fold', 'graph'.*got 'yes'"):
        compile_predict(model, freeze="yes")
    with pytest.raises(ValueError, match=r"precision must be one of \('float32', 'bfloat16'\); got 'float16'"):
        compile_predict(model, precision="float16")
    with pytest.raises(ValueError, match="jit_compile=True needs freeze=False"):
        compile_predict(model, freeze="fold", jit_compile=True)


@tensorflow_only
def test_bfloat16_refused_without_hardware_or_with_live_weights(monkeypatch):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    monkeypatch.setattr(inference, "cpu_has_bfloat16", lambda: False)
    with pytest.raises(ValueError, match="precision='bfloat16' needs a CPU with native bfloat16.*avx512_bf16"):
        compile_predict(model, precision="bfloat16")
    monkeypatch.setattr(inference, "cpu_has_bfloat16", lambda: True)
    for freeze in (False, "graph"):
        with pytest.raises(ValueError, match=f"needs freeze=True or 'fold'; got freeze={freeze!r}"):
            compile_predict(model, precision="bfloat16", freeze=freeze)


@tensorflow_only
@pytest.mark.skipif(not inference.cpu_has_bfloat16(), reason="CPU without avx512_bf16/amx_bf16")
def test_bfloat16_path_agrees_with_float32():
    """bfloat16 (8-bit mantissa) logits of a randomised SE-ResNet-18 stay within 3% of the largest
    float32 logit and keep the float32 top-1 (measured 0.5-0.8% and 8/8 over three seeds; the README
    states the trained-model figures)."""
    model = ks.create_model("seresnet18", weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None)
    randomise_batchnorm(model)
    predict = compile_predict(model, precision="bfloat16")
    assert {layer.compute_dtype for layer in predict.model.layers[1:-1]} == {"bfloat16"}
    x = np.random.default_rng(0).uniform(-2, 2, (8, 64, 64, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    got = predict(x)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.abs(got - expected).max() <= 0.03 * np.abs(expected).max()
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 7 / 8
