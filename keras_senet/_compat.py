"""Private internals of Keras, TensorFlow and LiteRT that keras_senet relies on, in one place.

Each use says why no public API does the job, links the upstream issue, names the versions it was
verified on, and fails with a clear `CompatError` (or falls back) when the internal has moved.
`tests/test_compat.py` asserts every internal still exists and behaves as relied on, so an upgrade
that moves one fails there, loudly, rather than deep inside an export.
"""

from __future__ import annotations

import warnings


class CompatError(RuntimeError):
    """A private internal of a dependency is missing or changed: pin the verified versions."""


def _version(text):
    """``"3.15.1"`` -> ``(3, 15)``; unparsable parts count as 0."""
    parts = []
    for piece in str(text).split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (2 - len(parts)))


def _warn_if_unverified(package, version, verified):
    """A warning (once per call site) when `version` is outside the ``(low, high)`` range verified."""
    low, high = verified
    if not low <= _version(version) <= high:
        warnings.warn(f"keras_senet uses a private internal of {package}, verified on {package} "
                      f"{low[0]}.{low[1]}-{high[0]}.{high[1]}; this is {version}. If exports fail, pin "
                      f"{package} to that range and report it.", RuntimeWarning, stacklevel=3)


# --- export ---
# Keras' TensorFlow backend module `keras.src.backend.tensorflow.nn` (Keras 3.0-3.15).
# Why: Keras runs grouped convolutions inside an XLA-compiled `tf.function` (TF's CPU kernel has no
# groups), and tf2onnx cannot convert that nested call ("PartitionedCall is not supported",
# onnx/tensorflow-onnx#2099). `keras_senet.export.to_onnx` swaps the module's `conv` for a plain
# `tf.nn.convolution` while the ONNX graph is traced; there is no public hook for it.
KERAS_NN_VERIFIED = ((3, 10), (3, 15))
# `Interpreter._get_ops_details()` of ai_edge_litert (1.2-2.3) and tf.lite (2.16-2.21): the only API that
# lists a .tflite file's operators with their tensors (tensorflow/tensorflow#53003 asks for a public one;
# `tf.lite.experimental.Analyzer` only prints text). The op census (no Flex ops; int8 coverage) needs it.
LITERT_OPS_VERIFIED = ((1, 2), (2, 3))

_DATA_FORMATS = {("channels_last", 3): "NWC", ("channels_last", 4): "NHWC", ("channels_last", 5): "NDHWC",
                 ("channels_first", 3): "NCW", ("channels_first", 4): "NCHW", ("channels_first", 5): "NCDHW"}


def keras_tensorflow_nn():
    """Keras' TensorFlow-backend ``nn`` module, checked to have the ``conv`` that `keras.ops.conv` calls."""
    import keras

    _warn_if_unverified("keras", keras.__version__, KERAS_NN_VERIFIED)
    try:
        from keras.src.backend.tensorflow import nn
    except ImportError as error:
        raise CompatError(f"keras {keras.__version__} has no keras.src.backend.tensorflow.nn (verified on "
                          "3.10-3.15): ONNX export of grouped convolutions needs it") from error
    if not callable(getattr(nn, "conv", None)):
        raise CompatError(f"keras {keras.__version__}: keras.src.backend.tensorflow.nn.conv is gone (verified "
                          "on 3.10-3.15): ONNX export of grouped convolutions needs it")
    return nn


def tf_conv_data_format(data_format, ndim):
    """TensorFlow's layout string (``"NHWC"``, ...) for a Keras `data_format` and a rank `ndim` tensor.

    Keras' own helper (`nn._convert_data_format`) when present, so both stay in step; otherwise the
    same mapping here (it is fixed by TensorFlow's conv API)."""
    import keras

    data_format = data_format or keras.config.image_data_format()
    convert = getattr(keras_tensorflow_nn(), "_convert_data_format", None)
    if convert is not None:
        return convert(data_format, ndim)
    try:
        return _DATA_FORMATS[(data_format, ndim)]
    except KeyError:
        raise ValueError(f"data_format={data_format!r} with a rank-{ndim} input has no TensorFlow layout") from None


def tflite_ops(interpreter):
    """The operators of a LiteRT/TFLite `interpreter` as dicts with ``op_name``, ``inputs``, ``outputs``
    (tensor indices, -1 for an absent optional input), in execution order."""
    import ai_edge_litert

    _warn_if_unverified("ai-edge-litert", getattr(ai_edge_litert, "__version__", "0"), LITERT_OPS_VERIFIED)
    get_ops = getattr(interpreter, "_get_ops_details", None)
    if get_ops is None:
        raise CompatError(f"{type(interpreter).__module__}.Interpreter has no _get_ops_details() (verified on "
                          "ai-edge-litert 1.2-2.3): the TFLite op census cannot list operators; pin "
                          "ai-edge-litert to that range")
    return get_ops()
