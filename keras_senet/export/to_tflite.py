"""TFLite (LiteRT) writer: fp32, fp16 weights, dynamic-range int8, full-integer int8; builtin ops only."""

from __future__ import annotations

import collections
import os

import numpy as np

from keras_senet.export.tflite_ranges import requantization_in_range
from keras_senet.export.to_saved_model import SERVE

_IO_DTYPES = {"int8": "int8", "uint8": "uint8"}

# A FlatBuffer addresses at most 2 GiB. A model whose float32 weights reach it (the converter holds them
# as float32 before any quantisation) is converted with its buffers after the FlatBuffer, addressed by
# 64-bit offsets (`keras_senet._compat.tflite_buffer_offsets`): a file LiteRT runs, which TFLite Micro
# and some delegates' tools do not read.
BUFFER_OFFSETS_FROM_BYTES = 2 ** 31


def uses_buffer_offsets(weight_count):
    """Whether a model of `weight_count` weights is converted with buffer offsets (float32 >= 2 GiB)."""
    return 4 * weight_count >= BUFFER_OFFSETS_FROM_BYTES


def _converter(saved_model_dir, quantize, calibration_images, io_type, buffer_offsets=False):
    """A TFLite converter of the SavedModel's ``serve`` endpoint set up for `quantize` / `io_type`."""
    import tensorflow as tf

    from keras_senet._compat import tflite_converter_from_saved_model

    converter = tflite_converter_from_saved_model(saved_model_dir, SERVE)
    if buffer_offsets:
        from keras_senet._compat import tflite_buffer_offsets

        tflite_buffer_offsets(converter)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize in ("float16", "dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        def representative_dataset():
            for image in calibration_images:
                yield [image[None].astype("float32")]

        converter.representative_dataset = representative_dataset
        if io_type in _IO_DTYPES:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = getattr(tf, io_type)
            converter.inference_output_type = getattr(tf, io_type)
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                                   tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


QUANTIZERS = ("tensorflow", "ai-edge-quantizer")


def write_tflite(saved_model_dir, path, quantize, calibration_images, io_type, keep_float=(), debug=False,
                 buffer_offsets=False, quantizer="tensorflow"):
    """Convert the ``serve`` endpoint of a SavedModel to a ``.tflite`` file at `path`.

    `quantize`: None (fp32), ``"float16"`` (fp16 weights, for the GPU delegate), ``"dynamic"``
    (int8 weights, activations quantised at run time) or ``"int8"`` (full-integer, calibrated on
    `calibration_images`, float32 ``(n, H, W, C)``). With ``"int8"`` and `io_type` ``"int8"`` or
    ``"uint8"`` every op must be integer (TFLITE_BUILTINS_INT8: NPUs, Edge TPU-class hardware); with
    `io_type` ``"float32"`` ops without an int8 kernel may stay float and are reported.
    Only TFLite builtin ops are allowed: no Flex (SELECT_TF_OPS) ops.

    int8 only: with `debug` (or `keep_float`) `tf.lite.experimental.QuantizationDebugger` measures every
    quantised tensor against float (`keras_senet.export.edge.debug_quantization`); `keep_float` (op names
    or layer-name parts) leaves those ops in float (selective quantisation: a float interface).
    int8 only: output ranges too narrow for XNNPACK (a tensor zero on every calibration image) are widened
    (`keras_senet.export.tflite_ranges`).
    `buffer_offsets`: write the weights after the FlatBuffer (models over 2 GiB: `uses_buffer_offsets`).
    `quantizer`: who quantises int8: ``"tensorflow"`` (the converter's calibrator, default) or
    ``"ai-edge-quantizer"`` (the converter writes fp32, `keras_senet.export.ai_edge_int8` quantises that
    file: a lower peak; `io_type` int8 or float32, no `keep_float` / `debug`).
    Returns ``{"quantization_layers": the debugger's per-layer figures (worst first) or None when it did
    not run, "widened_ranges": the widened tensors}``.
    """
    import tensorflow as tf

    from keras_senet._compat import release_freed_memory, tflite_stages_trimmed

    if quantize == "int8" and quantizer == "ai-edge-quantizer":
        from keras_senet.export.ai_edge_int8 import float_path_for, quantize_int8

        float_path = float_path_for(path)
        write_tflite(saved_model_dir, float_path, None, None, "float32", buffer_offsets=buffer_offsets)
        try:
            notes = quantize_int8(float_path, path, calibration_images, io_type)
        finally:
            os.remove(float_path)
        release_freed_memory()
        return dict(notes, quantization_layers=None)
    release_freed_memory()  # what tracing the SavedModel freed, before the converter's copies of the weights
    layers, model = None, None
    if quantize == "int8" and (debug or keep_float):
        from keras_senet.export.edge import debug_quantization

        converter = _converter(saved_model_dir, quantize, calibration_images, "float32", buffer_offsets)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        layers, model = debug_quantization(converter, calibration_images, keep_float)
    if model is None:  # (the debugger leaves its converter calibrate-only: convert from a fresh one)
        with tflite_stages_trimmed():
            model = _converter(saved_model_dir, quantize, calibration_images, io_type, buffer_offsets).convert()
    widened = []
    if quantize == "int8":
        model, widened = requantization_in_range(model)
    with open(path, "wb") as f:
        f.write(model)
    del model
    release_freed_memory()  # the converter's, before verification loads the file
    return {"quantization_layers": layers, "widened_ranges": widened}


def op_census(path):
    """(op name -> count, non-int8 op name -> count) of a ``.tflite`` file, as stored (no delegate).

    An op counts as non-int8 when one of its activation inputs or outputs is floating point (the
    QUANTIZE/DEQUANTIZE pair at a float interface is not counted: it is the interface itself).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from keras_senet._compat import tflite_ops

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops, non_int8 = collections.Counter(), collections.Counter()
    for op in tflite_ops(interpreter):  # a private LiteRT API: see keras_senet/_compat.py
        ops[op["op_name"]] += 1
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        indices = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0 and i in tensors]
        if any(np.issubdtype(tensors[i]["dtype"], np.floating) for i in indices):
            non_int8[op["op_name"]] += 1
    return dict(ops), dict(non_int8)
