"""Accelerator profiles of the TFLite export: ``export(..., format="tflite", target="gpu")``.

A profile says what graph form, batch, input size and quantisation an accelerator delegate needs, and
how the written file is checked against that accelerator's documented op support:

* ``cpu`` (default): the export as it always was (XNNPACK runs every builtin op).
* ``gpu``: the LiteRT GPU delegate. Squeeze as AVERAGE_POOL_2D over the static feature map instead of
  MEAN (older GPU delegates rejected or mis-computed MEAN: tensorflow/tensorflow#28673, #32101, #44060),
  hard-sigmoid as relu6(x + 3) * (1/6) (LiteRT 2.1.5/2.1.6 GPU rejects RELU_0_TO_1:
  google-ai-edge/LiteRT#8598), the classifier's global pooling as AVERAGE_POOL_2D, gates kept 4-D
  ``[N, 1, 1, C]`` (`keras_senet.layers._common.channel_scale`: the GPU broadcast MUL wants 1xHxWxC,
  tensorflow/tensorflow#45845), batch 1, fp32 or fp16. Checked with TensorFlow's own
  ``tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)``.
* ``nnapi``: Android NNAPI. The same rewrites (NNAPI's int8 MEAN needs identical input and output
  quantisation, which post-training quantisation does not give, so it falls back to the CPU:
  tensorflow/model-optimization#805); batch 1; fp32, fp16 or int8. Checked against the NNAPI delegate's
  op table (`NNAPI_OPS`).
* ``edgetpu``: Coral Edge TPU. The same rewrites and hard-swish as x * relu6(x + 3) * (1/6) (HARD_SWISH is
  not mapped: google-coral/edgetpu#272), batch 1, full-integer int8 only. Checked against the Coral
  supported-ops table (`EDGETPU_OPS`); the Edge TPU compiler itself is not available here, so whether
  every op is mapped to the TPU is reported as "not checked".

The rewrite is done by tracing the Keras model in another form, never by editing the written file:
Keras activation layers are swapped in a weight-sharing clone (`keras.models.clone_model`) and the
attention layers trace their pooled squeeze and relu6 gate inside `_common.export_form`. The export's
verification then compares the rewritten TFLite file with the *unmodified* Keras model, as for every export.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from typing import Callable, Optional

import numpy as np

NOT_CHECKED = "not checked"


@dataclasses.dataclass(frozen=True)
class EdgeTarget:
    """An accelerator profile of the TFLite export.

    Attributes:
        name: what users pass (``target="gpu"``, ``--target gpu``).
        title: the accelerator, for messages.
        forms: `keras_senet.layers._common.EXPORT_FORMS` the attention layers trace in.
        hard_swish: rewrite hard-swish activations as x * relu6(x + 3) * (1/6).
        pool_head: rewrite the classifier's global average pooling as one AVERAGE_POOL_2D window.
        batch_size: the batch the accelerator needs (None: any, dynamic allowed).
        quantize: the allowed `quantize` values (None is fp32); the first is the default.
        io_types: the allowed int8 input/output types (None: any).
        check: ``check(tflite_bytes_path, report)`` fills ``report.compatibility``.
    """

    name: str
    title: str
    forms: tuple = ()
    hard_swish: bool = False
    pool_head: bool = False
    batch_size: Optional[int] = None
    quantize: tuple = (None, "float16", "dynamic", "int8")
    io_types: Optional[tuple] = None
    check: Optional[Callable] = None

    @property
    def rewrites(self):
        return bool(self.forms or self.hard_swish or self.pool_head)


# --- checks ---------------------------------------------------------------------------------------

def analyze_gpu(path):
    """``(compatible, incompatible ops, text)`` from TensorFlow's GPU compatibility analyzer on `path`.

    The analyzer prints its report (a Python ``print`` of the C++ analyzer's string), so stdout is captured.
    """
    import tensorflow as tf

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tf.lite.experimental.Analyzer.analyze(model_path=str(path), gpu_compatibility=True)
    text = buffer.getvalue()
    # Incompatible ops are listed as "GPU COMPATIBILITY WARNING: Not supported op <NAME>" or
    # "GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes ... " lines.
    problems = sorted(set(line.strip() for line in text.splitlines() if "GPU COMPATIBILITY WARNING" in line))
    compatible = "looks compatible with GPU delegate" in text and not problems
    return compatible, problems, text


def _check_gpu(path, report):
    compatible, problems, _ = analyze_gpu(path)
    report.compatibility["gpu analyzer"] = ("ok: tf.lite.experimental.Analyzer reports no incompatible op"
                                            if compatible else "FAILED: " + "; ".join(problems or ["no verdict"]))
    report.compatibility["gpu delegate run"] = f"{NOT_CHECKED} (no GPU delegate on this machine)"
    if not compatible:
        report.failures_from_checks.append("GPU compatibility analyzer: " + "; ".join(problems or ["no verdict"]))


# Ops the NNAPI delegate hands to NNAPI (LiteRT's nnapi_delegate.cc `NNAPIDelegateKernel::Validate`,
# https://github.com/tensorflow/tensorflow/blob/master/tensorflow/lite/delegates/nnapi/nnapi_delegate.cc;
# NNAPI operations: https://developer.android.com/ndk/reference/group/neural-networks#operationcode;
# delegate guide: https://ai.google.dev/edge/litert/android/npu/nnapi). Hand-written (TensorFlow has no
# machine-readable table of it): only ops a keras_senet export emits are listed, and an op we could not
# confirm (SPLIT_V, MixNet's channel split) is left out, so it is reported rather than assumed supported.
NNAPI_OPS = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
    "HARD_SWISH", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "RELU", "RELU6", "RESHAPE", "SOFTMAX",
    "SPLIT", "SQUEEZE", "STRIDED_SLICE", "SUB", "TANH", "QUANTIZE", "DEQUANTIZE", "TRANSPOSE",
}

# Edge TPU: the "Supported operations" table of https://coral.ai/docs/edgetpu/models-intro/#supported-operations
# (every tensor int8/uint8 quantised, static shapes, batch 1), hand-written as `NNAPI_OPS` is. HARD_SWISH is
# left out (not mapped to the TPU: google-coral/edgetpu#272), so is SPLIT_V (not in the table).
EDGETPU_OPS = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
    "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "RELU", "RELU6", "RESHAPE", "SOFTMAX", "SPLIT",
    "SQUEEZE", "STRIDED_SLICE", "SUB", "TANH", "QUANTIZE", "DEQUANTIZE", "TRANSPOSE", "SLICE",
}


def _tensor_table(path):
    """(ops with their input/output tensor details) of a .tflite file, via the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from keras_senet._compat import tflite_ops

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    return list(tflite_ops(interpreter)), tensors


def _mean_requantises(op, tensors):
    """An int8 MEAN whose input and output quantisation differ (NNAPI runs it on the CPU then)."""
    (inp, *_), (out, *_) = op["inputs"], op["outputs"]
    a, b = tensors[inp], tensors[out]
    if not np.issubdtype(a["dtype"], np.integer):
        return False
    return tuple(a["quantization"]) != tuple(b["quantization"])


def _check_op_table(path, report, table, key, title):
    ops, tensors = _tensor_table(path)
    names = sorted({op["op_name"] for op in ops})
    unlisted = [name for name in names if name not in table]
    report.compatibility[f"{key} op table"] = (
        f"ok: every op ({', '.join(names)}) is in the {title} supported-op table" if not unlisted
        else f"FAILED: not in the {title} supported-op table: {', '.join(unlisted)}")
    if unlisted:
        report.failures_from_checks.append(f"{title}: ops {', '.join(unlisted)} are not supported")
    return ops, tensors


def _check_nnapi(path, report):
    ops, tensors = _check_op_table(path, report, NNAPI_OPS, "nnapi", "NNAPI delegate")
    means = [op for op in ops if op["op_name"] == "MEAN" and _mean_requantises(op, tensors)]
    report.compatibility["nnapi int8 MEAN"] = (
        "ok: no int8 MEAN with differing input/output quantisation" if not means
        else f"FAILED: {len(means)} int8 MEAN with differing input/output quantisation (CPU fallback)")
    if means:
        report.failures_from_checks.append("NNAPI: int8 MEAN with requantisation falls back to the CPU")
    report.compatibility["nnapi device run"] = f"{NOT_CHECKED} (no Android device / NNAPI driver here)"


def _check_edgetpu(path, report):
    ops, tensors = _check_op_table(path, report, EDGETPU_OPS, "edgetpu", "Coral Edge TPU")
    floating = sorted({op["op_name"] for op in ops if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE") and any(
        np.issubdtype(tensors[i]["dtype"], np.floating) for i in list(op["inputs"]) + list(op["outputs"])
        if i >= 0 and i in tensors)})
    report.compatibility["edgetpu int8 tensors"] = (
        "ok: every op computes on int8/int32 tensors" if not floating
        else f"FAILED: float tensors in {', '.join(floating)}")
    if floating:
        report.failures_from_checks.append(f"Edge TPU: ops {', '.join(floating)} compute in float")
    report.compatibility["edgetpu compiler"] = (f"{NOT_CHECKED} (edgetpu_compiler is not installable here: "
                                                "Google's Coral apt repository only)")


TARGETS = {target.name: target for target in (
    EdgeTarget("cpu", "CPU (XNNPACK)"),
    EdgeTarget("gpu", "LiteRT GPU delegate", forms=("pool_squeeze", "relu6_hard_sigmoid"), pool_head=True,
               batch_size=1, quantize=(None, "float16"), check=_check_gpu),
    EdgeTarget("nnapi", "Android NNAPI", forms=("pool_squeeze", "relu6_hard_sigmoid"), pool_head=True,
               batch_size=1, quantize=(None, "float16", "int8"), check=_check_nnapi),
    EdgeTarget("edgetpu", "Coral Edge TPU", forms=("pool_squeeze", "relu6_hard_sigmoid"), hard_swish=True,
               pool_head=True, batch_size=1, quantize=("int8",), io_types=("int8", "uint8"),
               check=_check_edgetpu),
)}


def get_edge_target(name):
    """The `EdgeTarget` called `name`; a ValueError naming the allowed targets otherwise."""
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"target={name!r} is not one of {', '.join(repr(t) for t in TARGETS)}") from None


def check_arguments(target, format, quantize, batch_size, io_type, model, input_size):
    """Refuse what `target` cannot take, before any work. Returns the batch size to export."""
    if target.name == "cpu":
        return batch_size
    if format != "tflite":
        raise ValueError(f"target={target.name!r} applies to format='tflite' only, not {format!r}")
    if quantize not in target.quantize:
        allowed = ", ".join(repr(q) for q in target.quantize)
        raise ValueError(f"quantize={quantize!r} is not available for target={target.name!r} ({target.title}); "
                         f"allowed: {allowed}")
    if io_type is not None and target.io_types is not None and io_type not in target.io_types:
        raise ValueError(f"io_type={io_type!r} is not available for target={target.name!r}: the "
                         f"{target.title} takes {' or '.join(target.io_types)} inputs")
    if target.batch_size is not None and batch_size not in (None, target.batch_size):
        raise ValueError(f"batch_size={batch_size!r}: target={target.name!r} ({target.title}) needs a static "
                         f"batch of {target.batch_size}")
    height, width = tuple(model.inputs[0].shape[1:3])
    if input_size is None and (height is None or width is None):
        raise ValueError(f"target={target.name!r} needs a fixed input size (the squeeze becomes a pooling "
                         f"window of the static feature size); the model takes any size: pass input_size "
                         f"(--input-size)")
    return target.batch_size if target.batch_size is not None else batch_size


# --- the rewrite ----------------------------------------------------------------------------------

def _hard_swish(x):
    """relu6(x + 3) * (x * (1/6)): hard-swish as ADD (with a fused RELU6) and two MULs.

    The order matters: TFLite's converter fuses ``x * relu6(x + 3) * (1/6)`` and ``x * min(relu(x + 3), 6)
    * (1/6)`` back into one HARD_SWISH op (tried with TF 2.21); this order it leaves alone."""
    from keras import ops

    return ops.relu6(x + 3.0) * (x * (1.0 / 6.0))


def _activation_name(layer):
    function = getattr(layer, "activation", None)
    return getattr(function, "__name__", "")


def _window_average_pool_layer(layer):
    """A layer computing `layer` (GlobalAveragePooling2D, channels_last, no keepdims) as one
    AVERAGE_POOL_2D window over the static feature map, then a RESHAPE to ``(batch, channels)``."""
    import keras
    from keras import ops

    class WindowAveragePool(keras.layers.Layer):
        def call(self, x):
            size = tuple(x.shape[1:3])
            if None in size:
                raise ValueError(f"{layer.name}: the pooling form needs a static feature size, got {tuple(x.shape)}")
            pooled = ops.average_pool(x, pool_size=size, strides=size, padding="valid")
            return ops.reshape(pooled, (-1, x.shape[-1]))

        def compute_output_shape(self, shape):
            return (shape[0], shape[-1])

    return WindowAveragePool(name=layer.name)


def rewrite(model, target):
    """A weight-sharing clone of `model` with `target`'s activation and pooling rewrites (or `model`
    itself when nothing needs swapping). Trace it inside `forms(target)`."""
    import keras

    if not (target.hard_swish or target.pool_head):
        return model

    swapped = []

    def clone(layer):
        if isinstance(layer, keras.layers.Activation):
            name = _activation_name(layer)
            if target.hard_swish and name in ("hard_silu", "hard_swish"):
                swapped.append(layer.name)
                return keras.layers.Activation(_hard_swish, name=layer.name)
            if "relu6_hard_sigmoid" in target.forms and name == "hard_sigmoid":
                from keras_senet.layers._common import relu6_hard_sigmoid

                swapped.append(layer.name)
                return keras.layers.Activation(relu6_hard_sigmoid, name=layer.name)
        if (target.pool_head and isinstance(layer, keras.layers.GlobalAveragePooling2D)
                and not layer.keepdims and layer.data_format == "channels_last"):
            swapped.append(layer.name)
            return _window_average_pool_layer(layer)
        return layer  # the same layer object: weights shared, not copied

    try:
        cloned = keras.models.clone_model(model, clone_function=clone, recursive=True)
    except (ValueError, TypeError, NotImplementedError):
        # a subclassed model cannot be cloned layer by layer: only the attention layers' forms apply, and
        # whatever stays (HARD_SWISH, MEAN) is caught by the profile's check, which then fails the export
        return model
    return cloned if swapped else model


def forms(target):
    """The context the export is traced in: the attention layers' forms of `target`."""
    from keras_senet.layers._common import export_form

    return export_form(*target.forms)


# --- int8 you can trust: per-layer error, selective quantisation, accuracy change -----------------

DEBUG_IMAGES = 32  # images the quantisation debugger runs (each run is a float + an int8 pass per layer)
TOP_OFFENDERS = 5


def debug_quantization(converter, images, keep_float=()):
    """Run `tf.lite.experimental.QuantizationDebugger` on a converter set up for int8.

    Args:
        converter: a ``tf.lite.TFLiteConverter`` with ``optimizations`` and ``representative_dataset``.
        images: float32 ``(n, H, W, C)``; the first `DEBUG_IMAGES` are run.
        keep_float: TFLite op names (upper case, e.g. ``"HARD_SWISH"``: the debugger's
            ``denylisted_ops``) or substrings of tensor names (e.g. a Keras layer name ``"conv_head"``:
            every matching tensor's op goes to ``denylisted_nodes``) to leave in float.

    Returns:
        ``(layers, model_bytes)``: per quantised tensor ``{"op", "tensor", "rmse", "scale",
        "rmse/scale", "mean_error"}`` sorted worst first by RMSE / scale (the error in quantisation
        steps: about 0.29 is the rounding error alone), and the selectively quantised model (None when
        `keep_float` is empty).
    """
    import tensorflow as tf

    def dataset():
        for image in images[:DEBUG_IMAGES]:
            yield [image[None].astype("float32")]

    keep_float = list(keep_float)
    denylisted_ops = [k for k in keep_float if re.fullmatch(r"[A-Z0-9_]+", k)]
    patterns = [k for k in keep_float if k not in denylisted_ops]
    metrics = {"rmse": lambda diff: float(np.sqrt(np.mean(np.square(diff))))}
    options = tf.lite.experimental.QuantizationDebugOptions(layer_debug_metrics=metrics,
                                                            denylisted_ops=denylisted_ops or None)
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset,
                                                         debug_options=options)
    if patterns:
        from ai_edge_litert.interpreter import Interpreter

        debug_model = Interpreter(model_content=debugger.get_debug_quantized_model())
        names = [t["name"] for t in debug_model.get_tensor_details()]
        nodes = sorted({n for n in names for p in patterns if p in n and not n.startswith("NumericVerify")})
        unmatched = [p for p in patterns if not any(p in n for n in nodes)]
        if unmatched:
            raise ValueError(f"keep_float={unmatched!r}: no tensor of the model is named like that; give a "
                             "TFLite op name (e.g. 'HARD_SWISH') or part of a layer name the report lists")
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            layer_debug_metrics=metrics, denylisted_ops=denylisted_ops or None, denylisted_nodes=nodes)
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    buffer.seek(0)
    import csv

    layers = []
    for row in csv.DictReader(buffer):
        scale = float(row["scale"])
        rmse = float(row["rmse"])
        layers.append({"op": row["op_name"], "tensor": row["tensor_name"], "rmse": rmse, "scale": scale,
                       "rmse/scale": rmse / scale if scale else float("inf"),
                       "mean_error": float(row["mean_error"])})
    layers.sort(key=lambda layer: -layer["rmse/scale"])
    model = debugger.get_nondebug_quantized_model() if keep_float else None
    return layers, model


def accuracy_change(reference, export_predict, images, labels, batch=32):
    """Top-1 of the Keras model and of the export on labelled held-out `images`, and their agreement; both are
    run on `batch` images per call (default 32).

    Returns ``{"images", "keras_top1", "export_top1", "change" (points, export - Keras), "agreement"}``.
    """
    labels = np.asarray(labels).reshape(-1)

    def in_chunks(run):  # a runtime given every held-out image at once holds the activations of all of them
        return np.concatenate([np.asarray(run(images[i:i + batch])) for i in range(0, len(images), batch)])

    want, got = in_chunks(reference), in_chunks(export_predict)
    keras_top1 = float(np.mean(want.argmax(-1) == labels))
    export_top1 = float(np.mean(got.argmax(-1) == labels))
    return {"images": int(len(images)), "keras_top1": keras_top1, "export_top1": export_top1,
            "change": 100.0 * (export_top1 - keras_top1),
            "agreement": float(np.mean(want.argmax(-1) == got.argmax(-1)))}
