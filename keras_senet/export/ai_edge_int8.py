"""Full-integer int8 TFLite with Google's ai-edge-quantizer: a float ``.tflite`` quantised outside TensorFlow.

TensorFlow's converter calibrates and quantises inside one C++ call that holds the MLIR module, a
ModelT, a FlatBufferBuilder and a Python copy of the result at once: its int8 peak is +4.8x over its
start, +6.8-7.2x the weight bytes over the held Keras model (``benchmarks/NOTES.md``, "Where the TFLite
converter's peak is"). `ai-edge-quantizer <https://github.com/google-ai-edge/ai-edge-quantizer>`_ (PyPI
``ai-edge-quantizer``, no TensorFlow) reads the fp32 ``.tflite`` the converter already wrote (memory-mapped),
calibrates it in LiteRT and writes the int8 file: the TensorFlow step stops at fp32 (+3.5x), and the
quantising step holds the float file, the calibration tensors and the int8 file.

Its ``static_wi8_ai8`` recipe quantises every op with an int8 kernel (int8 weights per channel, int8
activations) and makes the model's inputs and outputs int8; `io_type` ``"float32"`` leaves the graph's
inputs and outputs unquantised (``NO_QUANTIZE`` on its virtual INPUT / OUTPUT ops), so a QUANTIZE and a
DEQUANTIZE op make the float interface. ``"uint8"`` has no recipe there and is refused by the caller.
"""

from __future__ import annotations

import os

from keras_senet import _compat
from keras_senet.export.to_saved_model import SERVE

# io_type values this quantiser writes ("uint8" inputs and outputs: TensorFlow's converter only).
IO_TYPES = ("int8", "float32")
# ai-edge-quantizer <= 0.10 quantises a weight over 32 MiB in chunks, and that path fails on per-channel
# scales of a kernel of rank 3 or more ("input operand has more dimensions than allowed by the axis
# remapping"): google-ai-edge/ai-edge-quantizer#512 (#472; fixes proposed in PRs #513, #482). The quantisation
# runs inside `keras_senet._compat.ai_edge_large_kernels_quantized`, which quantises such kernels; only where
# that fix cannot apply (the internal it wraps is gone) is such a model refused before any work (the error
# counts such kernels and names the first three). 7 of the 157 registered models have such kernels:
# legacy_senet154 and senet154 (the last 3x3 downsampling kernel, 72 MiB), regnety_160/320/640/1280/2560.
LARGEST_KERNEL_BYTES = _compat.AI_EDGE_QUANTIZER_CHUNK_BYTES


def float_path_for(path):
    """Where the fp32 file that becomes the int8 file at `path` is written (beside it, removed afterwards)."""
    return f"{path}.float.tflite"


def check_kernels(model):
    """Raise `ValueError`, naming them, when `model` has convolution kernels (weights of rank 3 or more) over
    `LARGEST_KERNEL_BYTES` as float32 and the fix for ai-edge-quantizer#512 cannot apply here: ai-edge-quantizer
    0.10 alone cannot quantise them."""
    import numpy as np

    if _compat.ai_edge_large_kernels_quantizable():
        return

    large = [(w.path, tuple(w.shape)) for w in model.weights
             if len(w.shape) >= 3 and 4 * int(np.prod(w.shape)) > LARGEST_KERNEL_BYTES]
    if large:
        listed = ", ".join(f"{path} {shape}" for path, shape in large[:3]) + (" ..." if len(large) > 3 else "")
        raise ValueError(f"quantizer='ai-edge-quantizer' cannot quantise {model.name!r}: {len(large)} convolution "
                         f"kernels over {LARGEST_KERNEL_BYTES // 2**20} MiB ({listed}) fail in ai-edge-quantizer "
                         "0.10's chunked path (google-ai-edge/ai-edge-quantizer#512), and the internal keras-senet's "
                         "fix wraps is not in this ai-edge-quantizer. Use quantizer='tensorflow'.")


def quantize_int8(float_path, path, calibration_images, io_type, num_threads=None):
    """Write the full-integer int8 version of the fp32 ``.tflite`` at `float_path` to `path`.

    `calibration_images`: float32 ``(n, H, W, C)``, one calibration run each (batch 1).
    `io_type`: ``"int8"`` (int8 inputs and outputs) or ``"float32"`` (a float interface).
    `num_threads`: LiteRT threads of the calibration runs (default: every CPU).
    Output ranges too narrow for XNNPACK are widened as on TensorFlow's route
    (`keras_senet.export.tflite_ranges`, through LiteRT's flatbuffer reader, so no TensorFlow is imported).
    Returns ``{"widened_ranges": the widened tensors}``.
    """
    if io_type not in IO_TYPES:
        raise ValueError(f"ai-edge-quantizer writes io_type {' or '.join(map(repr, IO_TYPES))}, not {io_type!r}")
    from ai_edge_quantizer import qtyping, quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    from keras_senet.export.tflite_ranges import requantization_in_range

    tool = quantizer.Quantizer(float_path)
    tool.load_quantization_recipe(recipe.static_wi8_ai8())
    if io_type == "float32":
        for side in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
            tool.update_quantization_recipe(".*", side, algorithm_key=AlgorithmName.NO_QUANTIZE)
    input_name = _input_name(float_path)
    calibration = _calibrate(tool, float_path, {SERVE: [{input_name: image[None].astype("float32")}
                                                        for image in calibration_images]},
                             num_threads or os.cpu_count() or 1)
    with _compat.ai_edge_large_kernels_quantized():  # kernels over 32 MiB (ai-edge-quantizer#512)
        result = tool.quantize(calibration, enable_progress_report=False)
    del calibration, tool
    model, widened = requantization_in_range(bytes(result.quantized_model), reader="litert")
    del result
    with open(path, "wb") as f:
        f.write(model)
    return {"widened_ranges": widened}


def _calibrate(tool, float_path, data, num_threads):
    """``{tensor name: {"min", "max"}}`` over every calibration image: each tensor's range is the smallest
    min and the largest max it reached, as TensorFlow's calibrator takes them.

    `Quantizer.calibrate` keeps a moving average (weight 0.95) of each image's min and max instead, which
    clips what only some images reach: on the random-weight family models its int8 error was 1.2-3.5x
    TensorFlow's (relative RMS, 2026-12-04). Its `Calibrator` takes the update rule as an argument, and
    `qsv_utils.min_max_update` is ai-edge-quantizer's own min/max rule.

    The ranges are tracked by LiteRT's profiler as each op runs (``CALIBRATION_PROFILER_BASED``) rather than
    read from an interpreter that keeps every intermediate tensor alive (the default): the same ranges,
    and a lower peak (SE-ResNet-269-D exported beside its Keras model: 3838 MiB against 4643)."""
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    recipes = recipe_manager.RecipeManager()
    recipes.load_quantization_recipe(tool.get_quantization_recipe())
    ranges = calibrator.Calibrator(float_path, num_threads=num_threads, qsv_update_func=qsv_utils.min_max_update,
                                   mode=calibrator.CalibrationMode.CALIBRATION_PROFILER_BASED)
    ranges.calibrate(data, recipes)
    return ranges.get_model_qsvs()


def _input_name(float_path):
    """The name of the one input of the ``serve`` signature of the ``.tflite`` at `float_path`."""
    from ai_edge_litert.interpreter import Interpreter

    inputs = Interpreter(model_path=str(float_path)).get_signature_list()[SERVE]["inputs"]
    if len(inputs) != 1:
        raise ValueError(f"the {SERVE!r} signature of {float_path} has {len(inputs)} inputs; one image input "
                         "is quantised")
    return inputs[0]
