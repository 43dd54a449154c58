"""TFLite export of a model too large to hold beside its converter: each step in its own process.

TensorFlow's TFLite converter holds several copies of the weights at its peak (the SavedModel's variables,
the MLIR constants, the transposed filters, the FlatBuffer and its copy as Python bytes). Beside the Keras
model a user holds (1.1-1.8x its weight bytes) that is what decides whether a large model converts. Here the
Keras model and the converter never share a process:

1. a process loads the model (registry name or ``.keras`` file), writes its SavedModel through `export`
   (the same checks, re-parameterisation and serving form), reads the calibration images, runs the Keras
   model on the verification images, saves the outputs and exits, giving its memory back;
2. a second process converts the SavedModel to ``.tflite`` (`to_tflite.write_tflite`) and exits; with
   ``quantizer="ai-edge-quantizer"`` it writes fp32, and a third process, which imports no TensorFlow,
   quantises that file to int8 (`keras_senet.export.ai_edge_int8`);
3. this process, which never loads the Keras model, runs the file in LiteRT, compares it with the Keras
   outputs step 1 saved, and moves it into place when it passes, as `export` does.

Each step is a fresh interpreter (``multiprocessing``'s spawn start method: no TensorFlow state is
inherited). Accelerator profiles, selective quantisation, the quantisation report and held-out accuracy
need the Keras model beside the file and are refused here. Measured figures: README, "Memory and time of
an export".
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import shutil

import numpy as np

from keras_senet.export import api
from keras_senet.export.report import TOLERANCES, ExportReport

FORMAT = "tflite"
# The quantising process needs no backend: Keras on NumPy keeps TensorFlow (~130 MB) out of it.
WITHOUT_TENSORFLOW = {"KERAS_BACKEND": "numpy"}


def export_low_memory(model, path, *, weights="imagenet", input_size=None, calibration=None, quantize=None,
                      io_type=None, batch_size=None, include_preprocessing=False, tolerances=None, verify=True,
                      overwrite=False, num_threads=None, reparameterize=True, quantizer="tensorflow"):
    """Export the registry name or ``.keras`` file `model` to a TFLite file at `path`, each step in its own
    process (module docstring); the arguments are `keras_senet.export.from_source.export_from_source`'s,
    which calls this with ``low_memory=True`` once it has checked them against the format.

    Returns the `ExportReport`; raises `keras_senet.export.ExportError` when a step fails or verification
    does, with nothing written to `path`.
    """
    target = api.get_target(FORMAT)
    api.check_quantization(target, quantize, io_type)  # (int8 without `calibration`: refused by the caller)
    api.check_quantizer(FORMAT, quantize, io_type, quantizer)
    api._check_installed(target, quantize, verify)
    path = api._check_destination(path, target, overwrite)
    io_type = io_type or ("int8" if quantize == "int8" else "float32")

    workdir = api.make_workdir(path)
    try:
        written = os.path.join(workdir, os.path.basename(path))
        source = _in_own_process("load the model and write its SavedModel", _write_source, model, workdir,
                                 weights=weights, input_size=input_size, calibration=calibration,
                                 include_preprocessing=include_preprocessing, batch_size=batch_size,
                                 reparameterize=reparameterize, quantizer=quantizer)
        if quantize == "int8" and quantizer == "ai-edge-quantizer":
            from keras_senet.export.ai_edge_int8 import float_path_for

            float_path = float_path_for(written)
            _in_own_process("convert the SavedModel to fp32 TFLite", _convert, source["saved_model"], float_path,
                            None, None, "float32", source["weight_count"])
            shutil.rmtree(source["saved_model"])
            notes = _in_own_process("quantise the fp32 TFLite to int8 with ai-edge-quantizer", _quantize_int8,
                                    float_path, written, source["calibration"], io_type,
                                    environment=WITHOUT_TENSORFLOW)
            os.remove(float_path)
        else:
            notes = _in_own_process("convert the SavedModel to TFLite", _convert, source["saved_model"], written,
                                    quantize, source["calibration"], io_type, source["weight_count"])
        report = ExportReport(path=path, format=FORMAT, quantize=quantize, io_type=io_type,
                              input_shape=source["input_shape"], merged_branches=source["merged_branches"],
                              tolerances=dict(TOLERANCES[quantize], **(tolerances or {})),
                              widened_ranges=notes["widened_ranges"],
                              quantizer=api._quantizer_used(quantize, quantizer))
        report.size_bytes = os.path.getsize(written)
        target.inspect(written, report)
        if verify:
            images = np.load(source["images"])
            report.verification_inputs = source["verification_inputs"]
            try:
                predict = api.load_in_runtime(written, images, num_threads)
            except api._RuntimeRefused as error:
                raise api.ExportError(f"{FORMAT} export: {error}. Nothing was written to {path}.", report) from error
            expected = dict(np.load(source["expected"]))
            api.compare_in_runtime(report, predict, expected, images)
            report.keras_latency_ms = source["keras_latency_ms"]
            del predict
            if not report.check():
                raise api.ExportError(f"{FORMAT} export failed verification: {'; '.join(report.failures)}\n"
                                      f"{report.table()}\nNothing was written to {path}.", report)
        else:
            report.check()  # builtin ops only holds without verification too
            if report.failures:
                raise api.ExportError(f"{FORMAT} export: {'; '.join(report.failures)}. Nothing was written to "
                                      f"{path}.", report)
        api._move_into_place(written, path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _in_own_process(step, function, *args, environment=None, **kwargs):
    """``function(*args, **kwargs)`` in a new interpreter that exits afterwards (its memory goes back to the
    system); its exception is raised here, and a process that dies (the kernel's out-of-memory killer)
    becomes an `ExportError` naming the step. `environment`: variables set for the new interpreter only."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            with _environment(environment or {}):  # (the worker starts, and reads os.environ, at submit)
                future = pool.submit(function, *args, **kwargs)
            return future.result()
        except concurrent.futures.process.BrokenProcessPool as error:
            raise api.ExportError(f"the process that was to {step} died before it finished (killed by the "
                                  "system: out of memory?); nothing was written") from error


@contextlib.contextmanager
def _environment(variables):
    """`variables` set in ``os.environ`` inside the block, the previous values restored after it."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _write_source(model, workdir, *, weights, input_size, calibration, include_preprocessing, batch_size,
                  reparameterize, quantizer="tensorflow"):
    """Step 1 (own process): the SavedModel, calibration images, verification images and the Keras model's
    outputs on them, as files in `workdir`; returns what the next steps need."""
    from keras_senet.export.source_data import calibration_images, load_model
    from keras_senet.export.runtimes import median_latency_ms
    from keras_senet.export.serving import as_images, preprocessing_config, serving_model

    keras_model = load_model(model, weights=weights, input_size=input_size)
    if quantizer == "ai-edge-quantizer":
        from keras_senet.export.ai_edge_int8 import check_kernels

        check_kernels(keras_model)
    config = preprocessing_config(keras_model, include_preprocessing)
    data = calibration_images(calibration, keras_model, config) if calibration else None
    saved_model = os.path.join(workdir, "saved_model")
    written = api.export(keras_model, saved_model, "saved_model", representative_data=data, input_size=input_size,
                         batch_size=batch_size, include_preprocessing=include_preprocessing, verify=False,
                         reparameterize=reparameterize)
    input_shape = api._input_shape(keras_model, input_size)
    calibration = as_images(data, api.CALIBRATION_IMAGES)
    images, described = api._verification_inputs(calibration, input_shape, config is not None)
    served = serving_model(keras_model, input_shape, config)
    compiled = api.inference_function(served)
    files = {"images": os.path.join(workdir, "images.npy"), "expected": os.path.join(workdir, "expected.npz")}
    np.save(files["images"], images)
    np.savez(files["expected"], **api._in_batches(compiled, images))
    return dict(files, saved_model=saved_model, calibration=calibration, verification_inputs=described,
                input_shape=(batch_size,) + input_shape, merged_branches=written.merged_branches,
                weight_count=api._weight_count(keras_model),
                keras_latency_ms=median_latency_ms(lambda x: api._named(compiled(x)), images[:1]))


def _convert(saved_model, written, quantize, calibration, io_type, weight_count):
    """Step 2 (own process): the SavedModel's ``serve`` endpoint converted to a ``.tflite`` at `written`."""
    from keras_senet.export.to_tflite import uses_buffer_offsets, write_tflite

    notes = write_tflite(saved_model, written, quantize, calibration, io_type,
                         buffer_offsets=uses_buffer_offsets(weight_count))
    return {"widened_ranges": notes["widened_ranges"]}


def _quantize_int8(float_path, written, calibration, io_type):
    """Step 2b (own process, Keras on NumPy: no TensorFlow): the fp32 ``.tflite`` quantised to int8 at
    `written`; the notes say whether TensorFlow was loaded after all (``"tensorflow_loaded"``)."""
    import sys

    from keras_senet.export.ai_edge_int8 import quantize_int8

    notes = quantize_int8(float_path, written, calibration, io_type)
    return dict(notes, tensorflow_loaded="tensorflow" in sys.modules)
