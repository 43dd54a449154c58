"""The private internals in keras_senet/_compat.py still exist and behave as relied on.

A failure here after an upgrade means an internal moved: fix `keras_senet/_compat.py` (or pin the
dependency) before anything else; the export tests would otherwise fail somewhere less obvious.
"""

import numpy as np
import pytest

from keras_senet import _compat

# --- export ---


def test_keras_tensorflow_nn_conv_is_what_keras_ops_conv_calls(monkeypatch):
    """to_onnx swaps `nn.conv` while tracing: keras.ops.conv must still dispatch through it."""
    import keras

    nn = _compat.keras_tensorflow_nn()
    calls = []
    original = nn.conv

    def spy(*args, **kwargs):
        calls.append(kwargs.get("data_format"))
        return original(*args, **kwargs)

    monkeypatch.setattr(nn, "conv", spy)
    keras.ops.conv(np.ones((1, 4, 4, 2), "float32"), np.ones((1, 1, 2, 3), "float32"))
    assert calls, "keras.ops.conv no longer calls keras.src.backend.tensorflow.nn.conv"


def test_keras_convert_data_format_matches_our_fallback():
    nn = _compat.keras_tensorflow_nn()
    assert callable(getattr(nn, "_convert_data_format", None)), "keras moved nn._convert_data_format"
    for (data_format, ndim), expected in _compat._DATA_FORMATS.items():
        assert nn._convert_data_format(data_format, ndim) == expected
        assert _compat.tf_conv_data_format(data_format, ndim) == expected


def test_tf_conv_data_format_falls_back_without_the_keras_helper(monkeypatch):
    monkeypatch.delattr(_compat.keras_tensorflow_nn(), "_convert_data_format")
    assert _compat.tf_conv_data_format("channels_last", 4) == "NHWC"
    assert _compat.tf_conv_data_format("channels_first", 4) == "NCHW"


def test_missing_keras_conv_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(_compat.keras_tensorflow_nn(), "conv")
    with pytest.raises(_compat.CompatError, match="nn.conv is gone .*verified on 3.10-3.15"):
        _compat.keras_tensorflow_nn()


def test_grouped_conv_patch_traces_a_plain_grouped_convolution():
    """The swapped conv computes what Keras' XLA grouped conv computes (so tracing with it is exact)."""
    import keras

    from keras_senet.export.to_onnx import grouped_conv_without_xla

    layer = keras.layers.Conv2D(4, 3, groups=2, padding="same")
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 4)).astype("float32")
    expected = keras.ops.convert_to_numpy(layer(x))
    nn = _compat.keras_tensorflow_nn()
    original = nn.conv
    with grouped_conv_without_xla():
        assert nn.conv is not original
        actual = keras.ops.convert_to_numpy(layer(x))
    assert nn.conv is original
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_litert_ops_details(tmp_path):
    """`Interpreter._get_ops_details()` lists op_name / inputs / outputs per operator."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
    def f(x):
        return tf.nn.relu(x) + 1.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path = tmp_path / "m.tflite"
    path.write_bytes(converter.convert())
    interpreter = Interpreter(model_path=str(path))
    assert hasattr(interpreter, "_get_ops_details"), "ai_edge_litert moved Interpreter._get_ops_details"
    ops = _compat.tflite_ops(interpreter)
    assert "ADD" in [op["op_name"] for op in ops]
    for op in ops:
        assert {"op_name", "inputs", "outputs"} <= set(op)
        assert all(isinstance(int(i), int) for i in list(op["inputs"]) + list(op["outputs"]))


def test_missing_litert_ops_details_is_a_clear_error():
    class Interpreter:
        pass

    with pytest.raises(_compat.CompatError, match="_get_ops_details"):
        _compat.tflite_ops(Interpreter())


def test_versions_outside_the_verified_range_warn():
    with pytest.warns(RuntimeWarning, match="verified on keras 3.10-3.15; this is 4.0"):
        _compat._warn_if_unverified("keras", "4.0.0", _compat.KERAS_NN_VERIFIED)
    assert _compat._version("3.15.1") == (3, 15) and _compat._version("2.3.0rc1") == (2, 3)
