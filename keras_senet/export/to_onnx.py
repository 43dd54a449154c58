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

    model = onnx.load(str(path))
    if channel_scale_in_nchw(model):
        onnx.save(model, str(path))
    if quantize == "float16":
        from onnxconverter_common import float16

        model = float16.convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
        onnx.save(model, str(path))
    onnx.checker.check_model(str(path))


def _perm(node):
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), None)


def channel_scale_in_nchw(model):
    """Rescale channels in NCHW: rewrite ``Transpose(NCHW->NHWC) -> Mul(x, gate) -> Transpose(NHWC->NCHW)``
    as ``Mul(x, Transpose(gate))`` when the gate is ``(N, 1, 1, C)``. Returns the number rewritten.

    tf2onnx runs convolutions in NCHW and moves the layout transposes out of the way, but not past the
    SE/ECA channel-rescaling multiply (its gate comes from a rank-2 vector), so each attention block
    transposed its full feature map twice: ~1.5x the latency of timm's own ONNX on onnxruntime. The
    gate is tiny; transposing it instead is exact (verification re-checks the whole model).
    """
    import onnx
    from onnx import helper, shape_inference

    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    rewritten = 0
    for first in list(graph.node):
        if first.op_type != "Transpose" or _perm(first) != [0, 2, 3, 1] or first.output[0] in outputs:
            continue
        users = consumers.get(first.output[0], [])
        if len(users) != 1 or users[0].op_type != "Mul" or users[0].output[0] in outputs:
            continue
        mul = users[0]
        after = consumers.get(mul.output[0], [])
        if len(after) != 1 or after[0].op_type != "Transpose" or _perm(after[0]) != [0, 3, 1, 2]:
            continue
        gate = [name for name in mul.input if name != first.output[0]]
        shape = shapes.get(gate[0]) if len(gate) == 1 else None
        if not shape or len(shape) != 4 or shape[1:3] != [1, 1]:
            continue
        second = after[0]
        gate_nchw = helper.make_node("Transpose", [gate[0]], [gate[0] + "_nchw"], perm=[0, 3, 1, 2],
                                     name=(mul.name or gate[0]) + "_gate_nchw")
        position = list(graph.node).index(mul)
        graph.node.insert(position, gate_nchw)
        mul.input[:] = [first.input[0], gate_nchw.output[0]]
        mul.output[0] = second.output[0]
        graph.node.remove(first)
        graph.node.remove(second)
        rewritten += 1
    if rewritten:
        onnx.checker.check_model(model)
    return rewritten
