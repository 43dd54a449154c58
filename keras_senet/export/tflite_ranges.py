"""int8 TFLite: activation ranges too narrow for XNNPACK's requantisation, widened after conversion.

The TFLite converter gives a tensor that is zero on every calibration image (a dead SE unit: the ReLU
after the squeeze convolution, found in legacy_seresnet18/34 and regnety_002 with random weights) the
scale 2e-6 / 255. A convolution or fully connected layer writing it then needs a requantisation scale
(input scale x kernel scale / output scale) of ~600, and XNNPACK, LiteRT's default CPU delegate, takes
only [2^-32, 256): the interpreter fails to prepare ("failed to create XNNPACK runtime"), so the file
runs nowhere by default. The converter has no option for a minimum range, and no tool rewrites a
scale, so this does it by hand on the model's flatbuffer through TensorFlow's own reader/writer
(`keras_senet._compat.tflite_flatbuffer`): such an output gets the scale input x kernel / 128
(requantisation 128). A value the calibration saw as zero stays zero; anything the unit outputs later
is represented (up to 127 steps) instead of clipped at 2e-6. Every widened tensor is reported.
"""

from __future__ import annotations

import numpy as np

# XNNPACK's requantisation range for qs8 convolutions and fully connected layers (src/params-init.c:
# `assert(scale >= 0x1.0p-32f); assert(scale < 256.0f)`); the TFLite delegate refuses a node outside it.
XNNPACK_MAX_REQUANTIZATION = 256.0
WIDENED_REQUANTIZATION = 128.0
_WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")  # input 0: data, input 1: kernel


def requantization_in_range(model_bytes, reader="tensorflow"):
    """``(model_bytes, widened)``: the int8 TFLite model with every too-narrow output scale of a weighted
    op (conv, depthwise conv, fully connected) widened so that its requantisation scale is at most 128;
    `widened` lists ``{"op", "tensor", "scale_before", "scale_after"}``. The bytes are returned unchanged
    when nothing needs widening. `reader`: whose flatbuffer reader/writer, ``"tensorflow"`` or ``"litert"``
    (`keras_senet._compat.tflite_flatbuffer`)."""
    from keras_senet import _compat

    flatbuffer = _compat.tflite_flatbuffer(reader)
    model = flatbuffer.read_model_from_bytearray(bytearray(model_bytes))
    names = {index: flatbuffer.opcode_to_name(model, index) for index in range(len(model.operatorCodes))}
    widened = []
    for subgraph in model.subgraphs:
        tensors = subgraph.tensors
        for operator in subgraph.operators:  # in execution order: a widened input is seen by its consumers
            op = names[operator.opcodeIndex]
            if op not in _WEIGHTED_OPS or len(operator.inputs) < 2:
                continue
            source, kernel, output = (tensors[operator.inputs[0]], tensors[operator.inputs[1]],
                                      tensors[operator.outputs[0]])
            scales = [_scales(t) for t in (source, kernel, output)]
            if any(s is None for s in scales) or len(scales[2]) != 1:
                continue
            largest = float(scales[0][0]) * float(np.max(scales[1]))
            before = float(scales[2][0])
            if largest / before < XNNPACK_MAX_REQUANTIZATION:
                continue
            after = largest / WIDENED_REQUANTIZATION
            output.quantization.scale = [after]
            widened.append({"op": op, "tensor": _name(output), "scale_before": before, "scale_after": after})
    if not widened:
        return model_bytes, []
    return bytes(flatbuffer.convert_object_to_bytearray(model)), widened


def _scales(tensor):
    quantization = tensor.quantization
    if quantization is None or quantization.scale is None or len(quantization.scale) == 0:
        return None
    return np.asarray(quantization.scale, "float64")


def _name(tensor):
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else str(name)
