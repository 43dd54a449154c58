"""Run an export in its own runtime: TensorFlow (SavedModel), LiteRT (TFLite), onnxruntime (ONNX).

`load_exported(path)` returns a callable ``predict(images) -> outputs`` on NumPy arrays in the same
input space as the exported model (int8/uint8 quantisation of TFLite inputs and outputs is done
inside, with the scale and zero point stored in the file).
"""

from __future__ import annotations

import os
import time

import numpy as np


def single_or_named(named):
    """A predictor's result: the array of a single-output export, else the dict ``{name: array}``."""
    return next(iter(named.values())) if len(named) == 1 else named


def in_fixed_batches(run, images, batch):
    """``run`` (which takes exactly `batch` inputs) over any number of `images`; the last chunk is
    padded by repeating its final image and the padding's outputs are dropped. `run` returns an array
    or a dict of arrays (one per named output)."""
    outputs = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        pad = batch - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        result = run(chunk)
        if isinstance(result, dict):
            outputs.append({name: value[: batch - pad] for name, value in result.items()})
        else:
            outputs.append(result[: batch - pad])
    if outputs and isinstance(outputs[0], dict):
        return {name: np.concatenate([o[name] for o in outputs]) for name in outputs[0]}
    return np.concatenate(outputs)


class SavedModelPredictor:
    """A SavedModel endpoint run by TensorFlow (``serve``: the model-space input; with built-in
    preprocessing, ``serving_default`` takes uint8 pixels of any size). Returns an array, or
    ``{name: array}`` by the signature's output keys when the endpoint has several outputs."""

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
        self.output_names = tuple(self._fn.structured_outputs)

    def __call__(self, images):
        outputs = self._fn(**{self._input_name: self._tf.constant(np.asarray(images, self.input_dtype))})
        return single_or_named({name: outputs[name].numpy() for name in self.output_names})


# LiteRT interpreter delegates: name -> the shared libraries `ai_edge_litert.interpreter.load_delegate`
# tries, in order (None: built into the interpreter). The GPU and NNAPI delegates are built for Android
# (https://ai.google.dev/edge/litert/performance/gpu, https://ai.google.dev/edge/litert/android/npu/nnapi);
# the Edge TPU's is Coral's libedgetpu
# (https://coral.ai/docs/edgetpu/tflite-python/#load-tensorflow-lite-and-run-an-inference).
DELEGATES = {
    "xnnpack": None,
    "gpu": ("libtensorflowlite_gpu_delegate.so",),
    "nnapi": ("libnnapi_delegate.so", "libtensorflowlite_nnapi_delegate.so"),
    "edgetpu": ("libedgetpu.so.1",),
}


class DelegateUnavailable(RuntimeError):
    """A LiteRT delegate asked for is not on this machine."""


def load_delegate(name):
    """The loaded LiteRT delegate `name` (a key of `DELEGATES`), None for the built-in XNNPACK;
    `DelegateUnavailable` saying so when its library cannot be loaded here."""
    if name not in DELEGATES:
        raise ValueError(f"delegate={name!r} is not one of {', '.join(repr(d) for d in DELEGATES)}")
    if DELEGATES[name] is None:
        return None
    import ctypes

    from ai_edge_litert.interpreter import load_delegate as load

    errors = []
    for library in DELEGATES[name]:
        try:  # the dynamic loader first: LiteRT's own failure path leaves a half-built Delegate behind
            ctypes.CDLL(library)
        except OSError as error:
            errors.append(str(error))
            continue
        try:
            return load(library)
        except ValueError as error:
            errors.append(f"{library}: {error}")
    raise DelegateUnavailable(
        f"delegate {name!r} is not available on this machine: none of its libraries could be loaded "
        f"({'; '.join(errors)}). It runs where its library is installed (the GPU and NNAPI delegates on "
        "Android, libedgetpu with a Coral device); here use delegate 'xnnpack' (the CPU).")


class TFLitePredictor:
    """A ``.tflite`` file in the LiteRT interpreter (XNNPACK on CPU, or the `delegate` named), batch by batch.

    Outputs are named by the file's signature (the SavedModel ``serve`` keys it was converted from);
    the interpreter's own output order is not the signature's, so names are looked up, never assumed.
    """

    runtime = "LiteRT interpreter (ai_edge_litert, XNNPACK)"

    def __init__(self, path, num_threads=None, delegate=None):
        from ai_edge_litert.interpreter import Interpreter

        loaded = load_delegate(delegate) if delegate else None
        if loaded is not None:
            self.runtime = f"LiteRT interpreter (ai_edge_litert, {delegate} delegate)"
        self._interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads,
                                        experimental_delegates=[loaded] if loaded is not None else None)
        self._interpreter.allocate_tensors()
        self._output_indices = self._named_output_indices()
        self.output_names = tuple(self._output_indices)
        self._refresh_details()
        self.input_dtype = self._input["dtype"]
        self.dynamic_batch = int(self._input["shape_signature"][0]) == -1
        self.batch = 0 if self.dynamic_batch else int(self._input["shape"][0])
        self.input_shape = tuple(None if d == -1 else int(d) for d in self._input["shape_signature"])

    def _named_output_indices(self):
        """``{output name: tensor index}``: the signature's names when the file has one signature,
        else the tensors' own names (files not written by keras_senet)."""
        interpreter = self._interpreter
        signatures = interpreter.get_signature_list()
        if len(signatures) == 1:
            (key,) = signatures
            details = interpreter.get_signature_runner(key).get_output_details()
            return {name: int(detail["index"]) for name, detail in details.items()}
        return {detail["name"]: int(detail["index"]) for detail in interpreter.get_output_details()}

    def _refresh_details(self):
        self._input = self._interpreter.get_input_details()[0]
        by_index = {int(d["index"]): d for d in self._interpreter.get_output_details()}
        self._outputs = {name: by_index[index] for name, index in self._output_indices.items()}

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
            self._refresh_details()
        if np.issubdtype(self._input["dtype"], np.integer):
            batch = self._quantize(batch, self._input)
        interpreter.set_tensor(self._input["index"], batch.astype(self._input["dtype"]))
        interpreter.invoke()
        named = {}
        for name, details in self._outputs.items():
            out = interpreter.get_tensor(details["index"])
            named[name] = self._dequantize(out, details) if np.issubdtype(out.dtype, np.integer) else out.copy()
        return single_or_named(named)

    def __call__(self, images):
        images = np.asarray(images, "float32")
        return self._run(images) if self.dynamic_batch else in_fixed_batches(self._run, images, self.batch)


class ONNXPredictor:
    """A ``.onnx`` file in onnxruntime, with the execution providers given (default: CPU). Returns an
    array, or ``{name: array}`` by the graph's output names when it has several outputs.

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
        self.output_names = tuple(output.name for output in self._session.get_outputs())
        self.input_dtype = np.float32
        self.input_shape = tuple(d if isinstance(d, int) else None for d in node.shape)
        self.batch = self.input_shape[0]

    def _run(self, batch):
        values = self._session.run(list(self.output_names), {self._input_name: batch})
        return single_or_named(dict(zip(self.output_names, values)))

    def __call__(self, images):
        images = np.asarray(images, "float32")
        return self._run(images) if self.batch is None else in_fixed_batches(self._run, images, self.batch)


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
