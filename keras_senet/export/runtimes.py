"""Run an export in its own runtime: TensorFlow (SavedModel), LiteRT (TFLite), onnxruntime (ONNX).

`load_exported(path)` returns a callable ``predict(images) -> outputs`` on NumPy arrays in the same
input space as the exported model (int8/uint8 quantisation of TFLite inputs and outputs is done
inside, with the scale and zero point stored in the file).
"""

from __future__ import annotations

import os
import time

import numpy as np


def detect_format(path):
    path = os.fspath(path)
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb")):
        return "saved_model"
    if path.endswith(".tflite"):
        return "tflite"
    if path.endswith(".onnx"):
        return "onnx"
    raise ValueError(f"{path!r} is not an export: expected a SavedModel folder (with saved_model.pb), a "
                     ".tflite file or a .onnx file.")


def in_fixed_batches(run, images, batch):
    """``run`` (which takes exactly `batch` inputs) over any number of `images`; the last chunk is
    padded by repeating its final image and the padding's outputs are dropped."""
    outputs = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        pad = batch - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        outputs.append(run(chunk)[: batch - pad])
    return np.concatenate(outputs)


class SavedModelPredictor:
    """A SavedModel endpoint run by TensorFlow (``serve``: the model-space input; with built-in
    preprocessing, ``serving_default`` takes uint8 pixels of any size)."""

    runtime = "TensorFlow SavedModel"

    def __init__(self, path, endpoint="serve"):
        import tensorflow as tf

        self._tf = tf
        loaded = tf.saved_model.load(os.fspath(path))
        if endpoint not in loaded.signatures:
            raise ValueError(f"{path}: no endpoint {endpoint!r}; it has {sorted(loaded.signatures)}")
        self._loaded = loaded  # keeps the variables alive
        self._fn = loaded.signatures[endpoint]
        (self._input_name, spec), = self._fn.structured_input_signature[1].items()
        self.input_dtype = spec.dtype.as_numpy_dtype
        self.input_shape = tuple(spec.shape)

    def __call__(self, images):
        outputs = self._fn(**{self._input_name: self._tf.constant(np.asarray(images, self.input_dtype))})
        (value,) = outputs.values()
        return value.numpy()


class TFLitePredictor:
    """A ``.tflite`` file in the LiteRT interpreter (XNNPACK on CPU), batch by batch."""

    runtime = "LiteRT interpreter (ai_edge_litert, XNNPACK)"

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_dtype = self._input["dtype"]
        self.dynamic_batch = int(self._input["shape_signature"][0]) == -1
        self.batch = 0 if self.dynamic_batch else int(self._input["shape"][0])
        self.input_shape = tuple(None if d == -1 else int(d) for d in self._input["shape_signature"])

    @staticmethod
    def _quantize(x, details):
        scale, zero_point = details["quantization"]
        info = np.iinfo(details["dtype"])
        return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(details["dtype"])

    @staticmethod
    def _dequantize(q, details):
        scale, zero_point = details["quantization"]
        return (q.astype("float32") - zero_point) * scale

    def _run(self, batch):
        interpreter = self._interpreter
        if tuple(self._input["shape"]) != batch.shape:
            interpreter.resize_tensor_input(self._input["index"], batch.shape)
            interpreter.allocate_tensors()
            self._input = interpreter.get_input_details()[0]
            self._output = interpreter.get_output_details()[0]
        if np.issubdtype(self._input["dtype"], np.integer):
            batch = self._quantize(batch, self._input)
        interpreter.set_tensor(self._input["index"], batch.astype(self._input["dtype"]))
        interpreter.invoke()
        out = interpreter.get_tensor(self._output["index"])
        if np.issubdtype(out.dtype, np.integer):
            out = self._dequantize(out, self._output)
        return out.copy()

    def __call__(self, images):
        images = np.asarray(images, "float32")
        return self._run(images) if self.dynamic_batch else in_fixed_batches(self._run, images, self.batch)


class ONNXPredictor:
    """A ``.onnx`` file in onnxruntime, with the execution providers given (default: CPU).

    GPU: ``providers=["CUDAExecutionProvider", "CPUExecutionProvider"]`` (package onnxruntime-gpu),
    or ``["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]``.
    """

    runtime = "onnxruntime"

    def __init__(self, path, providers=None, num_threads=None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self._session = onnxruntime.InferenceSession(os.fspath(path), sess_options=options,
                                                     providers=providers or ["CPUExecutionProvider"])
        self.runtime = f"onnxruntime {onnxruntime.__version__} ({self._session.get_providers()[0]})"
        node = self._session.get_inputs()[0]
        self._input_name = node.name
        self.input_dtype = np.float32
        self.input_shape = tuple(d if isinstance(d, int) else None for d in node.shape)
        self.batch = self.input_shape[0]

    def __call__(self, images):
        images = np.asarray(images, "float32")
        run = lambda batch: self._session.run(None, {self._input_name: batch})[0]  # noqa: E731
        return run(images) if self.batch is None else in_fixed_batches(run, images, self.batch)


def load_exported(path, *, endpoint="serve", providers=None, num_threads=None):
    """A predictor for an export: ``predict(images) -> np.ndarray``.

    Args:
        path: a SavedModel folder, a ``.tflite`` or a ``.onnx`` file.
        endpoint: SavedModel only: ``"serve"`` (model-space float input, default) or
            ``"serving_default"`` (uint8 pixels, when exported with built-in preprocessing).
        providers: ONNX only: onnxruntime execution providers, in order of preference.
        num_threads: TFLite / ONNX: CPU threads (default: the runtime's).
    """
    kind = detect_format(path)
    if kind == "saved_model":
        return SavedModelPredictor(path, endpoint=endpoint)
    if kind == "tflite":
        return TFLitePredictor(path, num_threads=num_threads)
    return ONNXPredictor(path, providers=providers, num_threads=num_threads)


def median_latency_ms(predict, image, repeats=20, budget_s=3.0):
    """Median wall time of ``predict(image)`` in ms after two warm-up calls; stops after `budget_s`."""
    predict(image)
    predict(image)
    times, start = [], time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict(image)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(times) >= 5:
            break
    return float(np.median(times) * 1000.0)
