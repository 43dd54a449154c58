"""ONNX writer: tf2onnx through Keras' own `model.export(format="onnx")`; optional fp16 for GPUs."""

from __future__ import annotations

import contextlib

DEFAULT_OPSET = 17


@contextlib.contextmanager
def grouped_conv_without_xla():
    """Trace grouped convolutions as plain ``Conv2D`` ops while the ONNX graph is traced.

    Keras' TensorFlow backend runs a grouped convolution (ResNeXt, SENet-154) inside an XLA-compiled
    ``tf.function``, because TF's CPU kernel lacks groups; tf2onnx cannot convert that nested call
    (``StatefulPartitionedCall is not supported``). The traced graph is only converted, never run by
    TensorFlow, so the plain grouped ``Conv2D`` (ONNX ``Conv`` with ``group``) is emitted instead.
    """
    import tensorflow as tf
    from keras.src import backend
    from keras.src.backend.tensorflow import nn

    original = nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = nn._convert_data_format(backend.standardize_data_format(data_format), len(inputs.shape))
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), data_format=data_format,
                                 dilations=dilation_rate)

    nn.conv = conv
    try:
        yield
    finally:
        nn.conv = original


def supported_opsets():
    """The ONNX opsets tf2onnx can write (13 and up)."""
    from tf2onnx import constants

    return sorted(o for o in constants.OPSET_TO_IR_VERSION if o >= 13)


def write_onnx(served, path, input_shape, batch_size, opset, quantize):
    """Write the Keras `served` model as ONNX at `path`: input ``image`` (or ``pixels``) float32
    ``(batch, H, W, C)`` with a dynamic batch axis when `batch_size` is None.

    `quantize` ``"float16"`` converts weights and compute to fp16 with onnxconverter-common, keeping
    float32 inputs/outputs (for the CUDA / TensorRT execution providers).
    """
    import tensorflow as tf

    name = served.inputs[0].name.split(":")[0]
    spec = tf.TensorSpec((batch_size,) + tuple(input_shape), tf.float32, name=name)
    with grouped_conv_without_xla():
        served.export(str(path), format="onnx", input_signature=[spec], opset_version=opset, verbose=False)
    import onnx

    if quantize == "float16":
        from onnxconverter_common import float16

        model = float16.convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
        onnx.save(model, str(path))
    onnx.checker.check_model(str(path))
