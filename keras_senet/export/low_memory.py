"""TFLite or ONNX export of a model too large to hold beside its converter: each step in its own process.

TensorFlow's TFLite converter holds several copies of the weights at its peak (the SavedModel's variables,
the MLIR constants, the transposed filters, the FlatBuffer and its copy as Python bytes), tf2onnx about as
many (the frozen graph, Grappler's, the ONNX graph, its serialised form). Beside the Keras model a user holds
(1.1-1.8x its weight bytes) that is what decides whether a large model converts. Here the Keras model and the
converter never share a process:

1. a process loads the model (registry name or ``.keras`` file), writes its SavedModel through `export`
   (the same checks, re-parameterisation and serving form; in pieces or for ONNX, the same serving form and
   re-parameterisation), reads the calibration images, runs the Keras
   model on the verification images, saves the outputs and exits, giving its memory back;
2. a second process converts the SavedModel to ``.tflite`` (`to_tflite.write_tflite`) and exits; with
   ``quantizer="ai-edge-quantizer"`` it writes fp32, and a third process, which imports no TensorFlow,
   quantises that file to int8 (`keras_senet.export.ai_edge_int8`);
3. this process, which never loads the Keras model, runs the file in LiteRT, compares it with the Keras
   outputs step 1 saved, and moves it into place when it passes, as `export` does.

ONNX follows the same steps: step 1 writes the model's architecture and weights (tf2onnx converts a traced
Keras model, not a SavedModel), step 2 loads and converts them, step 3 runs the file in onnxruntime.

A model over `keras_senet.export.pieces.PIECE_BYTES` of weights (TensorFlow's int8: from 100 MiB, in at least
3), or with `pieces` > 1, is cut into pieces at
tensors every path goes through (block outputs): step 1 writes one source a piece, step 2 converts each in a
process of its own and a further process, without TensorFlow, joins the files
(`keras_senet.export.tflite_merge`: fp32 has the same ops as the whole model's conversion, int8 a QUANTIZE
where a join's two scales differ, and with float32 I/O a DEQUANTIZE/QUANTIZE pair at each join;
`keras_senet.export.onnx_merge`). The converter then holds a piece's weights, not the model's:
``regnety_2560`` (4.9 GB of weights) needs 24.5 GB converted whole to TFLite and 31 GB to ONNX; in pieces
both fit on a 24 GB machine (README). For TensorFlow's int8 each piece is calibrated on the Keras outputs of the
pieces before it (step 1 computes them), and where two pieces' scales at a join differ a QUANTIZE op
requantises; ai-edge-quantizer's int8 quantises the joined fp32 file.

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
from keras_senet.export.pieces import check_count
from keras_senet.export.report import TOLERANCES, ExportReport

FORMATS = ("tflite", "onnx")
# The quantising process needs no backend: Keras on NumPy keeps TensorFlow (~130 MB) out of it.
WITHOUT_TENSORFLOW = {"KERAS_BACKEND": "numpy"}


def export_low_memory(model, path, *, format="tflite", weights="imagenet", input_size=None, calibration=None,
                      quantize=None, io_type=None, batch_size=None, include_preprocessing=False, tolerances=None,
                      verify=True, overwrite=False, num_threads=None, reparameterize=True, quantizer="tensorflow",
                      opset=None, pieces=None):
    """Export the registry name or ``.keras`` file `model` to a TFLite or ONNX file at `path` (`format`), each
    step in its own process (module docstring); the arguments are
    `keras_senet.export.from_source.export_from_source`'s, which calls this with ``low_memory=True`` once it
    has checked them against the format.

    `pieces`: how many pieces to convert the model in (module docstring); None (default) -> one per
    `keras_senet.export.pieces.PIECE_BYTES` (1 GiB) of weights, 1 for all but the largest models; TensorFlow's
    int8 at least 3 from 100 MiB of weights (`INT8_MIN_PIECES`): its calibrator holds about 8x a piece's weights.

    Returns the `ExportReport`; raises `keras_senet.export.ExportError` when a step fails or verification
    does, with nothing written to `path`.
    """
    if format not in FORMATS:
        raise ValueError(f"low_memory writes format {' or '.join(repr(f) for f in FORMATS)}, not {format!r}")
    target = api.get_target(format)
    api.check_quantization(target, quantize, io_type)  # (int8 without `calibration`: refused by the caller)
    api.check_quantizer(format, quantize, io_type, quantizer)
    api._format_options(target, {"opset": opset})
    api._check_installed(target, quantize, verify)
    if pieces is not None:
        check_count(pieces)
    api.check_batch_size(batch_size)
    path = api._check_destination(path, target, overwrite)
    io_type = io_type or ("int8" if quantize == "int8" else "float32")

    workdir = api.make_workdir(path)
    try:
        written = os.path.join(workdir, os.path.basename(path))
        source = _in_own_process("load the model and write what the converter reads", _write_source, model,
                                 workdir, format=format, weights=weights, input_size=input_size,
                                 calibration=calibration, include_preprocessing=include_preprocessing,
                                 batch_size=batch_size, reparameterize=reparameterize, quantizer=quantizer,
                                 pieces=pieces, calibrate_pieces=quantize == "int8" and quantizer == "tensorflow")
        if format == "onnx":
            notes = _convert_onnx_pieces(source, written, quantize, opset, batch_size)
        elif quantize == "int8" and quantizer == "ai-edge-quantizer":
            from keras_senet.export.ai_edge_int8 import float_path_for

            float_path = float_path_for(written)
            _convert_pieces(source, float_path, None, "float32")
            notes = _in_own_process("quantise the fp32 TFLite to int8 with ai-edge-quantizer", _quantize_int8,
                                    float_path, written, source["calibration"], io_type,
                                    environment=WITHOUT_TENSORFLOW)
            os.remove(float_path)
        else:
            notes = _convert_pieces(source, written, quantize, io_type)
        report = ExportReport(path=path, format=format, quantize=quantize, io_type=io_type,
                              input_shape=source["input_shape"], merged_branches=source["merged_branches"],
                              tolerances=dict(TOLERANCES[quantize], **(tolerances or {})),
                              widened_ranges=notes["widened_ranges"],
                              quantizer=api._quantizer_used(quantize, quantizer),
                              pieces=len(source["pieces"]))
        report.size_bytes = api._size(written, target.companion_suffixes)
        if target.inspect is not None:
            target.inspect(written, report)
        if verify:
            images = np.load(source["images"])
            report.verification_inputs = source["verification_inputs"]
            try:
                predict = api.load_in_runtime(written, images, num_threads)
            except api._RuntimeRefused as error:
                raise api.ExportError(f"{format} export: {error}. Nothing was written to {path}.", report) from error
            expected = dict(np.load(source["expected"]))
            api.compare_in_runtime(report, predict, expected, images)
            report.keras_latency_ms = source["keras_latency_ms"]
            del predict
            if not report.check():
                raise api.ExportError(f"{format} export failed verification: {'; '.join(report.failures)}\n"
                                      f"{report.table()}\nNothing was written to {path}.", report)
        else:
            report.check()  # builtin ops only holds without verification too
            if report.failures:
                raise api.ExportError(f"{format} export: {'; '.join(report.failures)}. Nothing was written to "
                                      f"{path}.", report)
        api._move_into_place(written, path, target.companion_suffixes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _convert_pieces(source, written, quantize, io_type):
    """Step 2 (TFLite): each piece's SavedModel converted in its own process (its folder removed after), then,
    with several pieces, the files joined at `written` in a process without TensorFlow; returns the notes."""
    pieces = source["pieces"]
    if len(pieces) == 1:
        (piece,) = pieces
        notes = _in_own_process("convert the SavedModel to TFLite", _convert, piece["saved_model"], written, quantize,
                                source["calibration"], io_type, piece["weight_count"])
        shutil.rmtree(piece["saved_model"])
        return notes
    piece_paths, widened = [], []
    for index, piece in enumerate(pieces):
        piece_paths.append(f"{written}.piece{index}")
        calibration = source["calibration"] if index == 0 else piece.get("calibration")
        notes = _in_own_process(f"convert piece {index} of {len(pieces)} to TFLite", _convert, piece["saved_model"],
                                piece_paths[-1], quantize, calibration, io_type, piece["weight_count"])
        widened += notes["widened_ranges"]
        shutil.rmtree(piece["saved_model"])
    from keras_senet.export.tflite_merge import merge_tflite

    _in_own_process(f"join the {len(piece_paths)} TFLite pieces", merge_tflite, piece_paths, written,
                    environment=WITHOUT_TENSORFLOW)
    for piece_path in piece_paths:
        os.remove(piece_path)
    for piece in pieces:
        if piece.get("calibration"):
            os.remove(piece["calibration"])
    return {"widened_ranges": widened}


def _convert_onnx_pieces(source, written, quantize, opset, batch_size):
    """Step 2 (ONNX): each piece loaded and converted in its own process (its files removed after), then,
    with several pieces, joined at `written` in a process without TensorFlow; returns the notes."""
    from keras_senet.export.to_onnx import external_data_path, uses_external_data

    pieces = source["pieces"]
    external_data = uses_external_data(sum(piece["weight_count"] for piece in pieces))
    piece_paths = [written] if len(pieces) == 1 else [f"{written}.piece{i}.onnx" for i in range(len(pieces))]
    for index, (piece, piece_path) in enumerate(zip(pieces, piece_paths)):
        step = "convert the model to ONNX" if len(pieces) == 1 else f"convert piece {index} of {len(pieces)} to ONNX"
        _in_own_process(step, _convert_onnx, piece, piece_path, batch_size, opset, quantize,
                        external_data or len(pieces) > 1)
        os.remove(piece["architecture"])
        os.remove(piece["weights"])
    if len(pieces) > 1:
        from keras_senet.export.onnx_merge import merge_onnx

        _in_own_process(f"join the {len(pieces)} ONNX pieces", merge_onnx, piece_paths, written, external_data,
                        environment=WITHOUT_TENSORFLOW)
        for piece_path in piece_paths:
            os.remove(piece_path)
            if os.path.exists(external_data_path(piece_path)):  # (a piece without weights has none)
                os.remove(external_data_path(piece_path))
    return {"widened_ranges": []}


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


def _write_source(model, workdir, *, format, weights, input_size, calibration, include_preprocessing, batch_size,
                  reparameterize, quantizer="tensorflow", pieces=None, calibrate_pieces=False):
    """Step 1 (own process): what the converter reads, one a piece (`keras_senet.export.pieces`), the calibration
    images, the verification images and the Keras model's outputs on them, as files in `workdir`; returns
    what the next steps need (``pieces``: a dict a piece, in order: `_write_pieces`)."""
    from keras_senet.export.source_data import calibration_images, load_model
    from keras_senet.export.runtimes import median_latency_ms
    from keras_senet.export.serving import as_images, preprocessing_config, serving_model

    keras_model = load_model(model, weights=weights, input_size=input_size)
    if quantizer == "ai-edge-quantizer":
        from keras_senet.export.ai_edge_int8 import check_kernels

        check_kernels(keras_model)
    config = preprocessing_config(keras_model, include_preprocessing)
    data = calibration_images(calibration, keras_model, config) if calibration else None
    input_shape = api._input_shape(keras_model, input_size)
    calibration = as_images(data, api.CALIBRATION_IMAGES)
    written, merged_branches = _write_pieces(keras_model, workdir, format, pieces, data, input_size, batch_size,
                                             include_preprocessing, config, reparameterize,
                                             calibration if calibrate_pieces else None)
    images, described = api._verification_inputs(calibration, input_shape, config is not None)
    served = serving_model(keras_model, input_shape, config)
    compiled = api.inference_function(served)
    files = {"images": os.path.join(workdir, "images.npy"), "expected": os.path.join(workdir, "expected.npz")}
    np.save(files["images"], images)
    np.savez(files["expected"], **api._in_batches(compiled, images))
    return dict(files, pieces=written, calibration=calibration, verification_inputs=described,
                input_shape=(batch_size,) + input_shape, merged_branches=merged_branches,
                keras_latency_ms=median_latency_ms(lambda x: api._named(compiled(x)), images[:1]))


def _write_pieces(keras_model, workdir, format, pieces, data, input_size, batch_size, include_preprocessing,
                  config, reparameterize, calibration=None):
    """What step 2 converts, a dict a piece of the model's inference form: TFLite, a SavedModel
    (``saved_model``: the first takes the model's input, preprocessing included; the last gives its named
    outputs); ONNX, the piece's architecture (JSON) and weights (``.weights.h5``) with the ``input_shape`` and
    ``config`` its serving form takes. With `calibration` (TensorFlow's int8), each piece after the first also
    gets ``calibration``: a ``.npy`` of the pieces before it run on those images, to calibrate on. A whole
    model's TFLite source goes through `export` (its checks and serving form). Returns (the dicts, merged
    branches)."""
    import keras

    from keras_senet.export import pieces as model_pieces
    from keras_senet.export.to_saved_model import write_saved_model

    # (TensorFlow's int8, whose pieces are calibrated here, in more pieces: its calibrator holds more)
    count = model_pieces.automatic_pieces(keras_model, calibration is not None) if pieces is None else pieces
    if format == "tflite" and count == 1:
        folder = os.path.join(workdir, "saved_model")
        written = api.export(keras_model, folder, "saved_model", representative_data=data, input_size=input_size,
                             batch_size=batch_size, include_preprocessing=include_preprocessing, verify=False,
                             reparameterize=reparameterize)
        return [{"saved_model": folder, "weight_count": api._weight_count(keras_model)}], written.merged_branches
    api._check_outputs(keras_model, api.get_target(format), include_preprocessing)
    source, merged_branches = api._inference_form(keras_model, reparameterize)
    shape = api._input_shape(keras_model, input_size)
    written, images = [], calibration
    for index, piece in enumerate(model_pieces.split(source, count)):
        piece_config = config if index == 0 else None
        entry = {"weight_count": api._weight_count(piece)}
        if images is not None and index > 0:
            entry["calibration"] = os.path.join(workdir, f"calibration_piece{index}.npy")
            np.save(entry["calibration"], images)
        if images is not None and index < count - 1:  # what the next piece reads, as Keras computes it
            from keras_senet.export.serving import serving_model

            images = api._in_batches(api.inference_function(serving_model(piece, shape, piece_config)),
                                     images)["output"]
        if format == "tflite":
            entry["saved_model"] = os.path.join(workdir, f"saved_model_piece{index}")
            write_saved_model(piece, entry["saved_model"], shape, batch_size, piece_config, pixel_endpoint=False)
        else:
            plain = keras.Model(piece.input, piece.output, name=piece.name)  # (a plain Functional: its JSON)
            entry.update(architecture=os.path.join(workdir, f"piece{index}.json"),
                         weights=os.path.join(workdir, f"piece{index}.weights.h5"), input_shape=shape,
                         config=piece_config)
            with open(entry["architecture"], "w") as f:
                f.write(plain.to_json())
            plain.save_weights(entry["weights"])
        written.append(entry)
        if index < count - 1:  # the next piece's input: this one's output at the export's size
            shape = tuple(piece.compute_output_spec(keras.KerasTensor((1,) + shape)).shape[1:])
    return written, merged_branches


def _convert(saved_model, written, quantize, calibration, io_type, weight_count):
    """Step 2 (own process): the SavedModel's ``serve`` endpoint converted to a ``.tflite`` at `written`;
    `calibration`: int8's images, or the path of a piece's (`_write_pieces`)."""
    from keras_senet.export.to_tflite import uses_buffer_offsets, write_tflite

    if isinstance(calibration, str):  # a piece's calibration inputs, saved by step 1
        calibration = np.load(calibration)
    notes = write_tflite(saved_model, written, quantize, calibration, io_type,
                         buffer_offsets=uses_buffer_offsets(weight_count))
    return {"widened_ranges": notes["widened_ranges"]}


def _convert_onnx(piece, written, batch_size, opset, quantize, external_data):
    """Step 2 (ONNX, own process): the piece's architecture and weights loaded, converted to ``.onnx``."""
    import keras

    from keras_senet.export.serving import serving_model
    from keras_senet.export.to_onnx import DEFAULT_OPSET, write_onnx

    with open(piece["architecture"]) as f:
        model = keras.models.model_from_json(f.read())
    model.load_weights(piece["weights"])
    served = serving_model(model, piece["input_shape"], piece["config"])
    write_onnx(served, written, piece["input_shape"], batch_size, opset or DEFAULT_OPSET, quantize,
               external_data=external_data)


def _quantize_int8(float_path, written, calibration, io_type):
    """Step 2b (own process, Keras on NumPy: no TensorFlow): the fp32 ``.tflite`` quantised to int8 at
    `written`; the notes say whether TensorFlow was loaded after all (``"tensorflow_loaded"``)."""
    import sys

    from keras_senet.export.ai_edge_int8 import quantize_int8

    notes = quantize_int8(float_path, written, calibration, io_type)
    return dict(notes, tensorflow_loaded="tensorflow" in sys.modules)
