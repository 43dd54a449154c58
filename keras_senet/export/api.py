"""`export()`: check the arguments, write to a temporary path, verify in the target runtime, move into place."""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np

from keras_senet import _temporary
from keras_senet.export.report import TOLERANCES, ExportReport
from keras_senet.export.targets import FORMATS, QUANTIZE, TARGETS, ExportJob, get_target  # noqa: F401

IO_TYPES = ("int8", "uint8", "float32")
CALIBRATION_IMAGES = 200  # representative images used for int8 calibration and for verification
RANDOM_IMAGES = 16
# Images per call when the Keras model and the export's runtime are run for verification (an export with a fixed
# batch runs at its own). One at a time: the activations of a batch are held by TensorFlow and by the runtime's
# arena at the export's peak, and a wide network's outweigh its weights (ReXNet-300's ONNX export: +12.4x the
# weight bytes at batch 16, +8.2x at batch 2; benchmarks/NOTES.md). Verification is a few images: time is not lost.
VERIFICATION_BATCH = 1


class ExportError(RuntimeError):
    """An export that could not be written or failed verification; `report` holds the figures."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


def _check_installed(target, quantize, verify):
    """The converter and runtime packages `target` needs, checked before any work."""
    missing = target.missing_packages(quantize, verify)
    if missing:
        raise ImportError(f"format={target.format!r} needs {', '.join(missing)}: {target.pip}")


def _format_options(target, options):
    """Refuse a format-only option (``opset``) given for another format; validate the target's own."""
    for name, value in options.items():
        if value is not None and name not in target.options:
            owners = [f"format={t.format!r}" for t in TARGETS.values() if name in t.options]
            raise ValueError(f"{name} applies to {' or '.join(owners)} only, not {target.format!r}")
    if target.check_options is not None:
        target.check_options({name: options.get(name) for name in target.options})


def _check_suffix(path, target):
    """A file format's path ends in its suffix (the runtimes recognise an export by it); a folder
    format's path does not end in another format's suffix."""
    others = {t.suffix: t.format for t in TARGETS.values() if t.suffix and t is not target}
    given = next((suffix for suffix in others if path.endswith(suffix)), None)
    if given is not None:
        raise ValueError(f"path {path!r} ends in {given!r}, the suffix of format={others[given]!r}, but "
                         f"format={target.format!r} was asked for: {target.describe_path} is written. Pass "
                         f"format={others[given]!r}, or a path for {target.format}.")
    if target.suffix is not None and not path.endswith(target.suffix):
        raise ValueError(f"path {path!r}: format={target.format!r} writes {target.describe_path}; end the path "
                         f"in {target.suffix!r} (e.g. {os.path.basename(path)}{target.suffix}), so that "
                         "load_exported and the runners recognise it.")


def _weight_count(model):
    return sum(int(np.prod(w.shape)) for w in model.weights)


def check_batch_size(batch_size):
    """Refuse a `batch_size` other than None (dynamic) or a positive integer."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be None (dynamic) or a positive integer, got {batch_size!r}")


def _check_arguments(model, path, target, quantize, representative_data, input_size, batch_size,
                     io_type, overwrite, verify, options):
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model, got {type(model).__name__}")
    check_quantization(target, quantize, io_type)
    if quantize == "int8" and representative_data is None:
        raise ValueError("quantize='int8' needs representative_data: a few hundred real images (an array, "
                         "tf.data.Dataset or iterable of batches in the model's input space) to calibrate the "
                         "activation ranges; without them int8 accuracy is unpredictable.")
    check_batch_size(batch_size)
    if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32):
        raise ValueError(f"input_size must be an integer >= 32 (square side in pixels), got {input_size!r}")
    _format_options(target, options)
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"export runs on the TensorFlow backend (KERAS_BACKEND=tensorflow); this process "
                           f"uses {keras.backend.backend()!r}. Save the model as .keras and export it from a "
                           "TensorFlow-backend process.")
    _check_installed(target, quantize, verify)
    return _check_destination(path, target, overwrite)


def check_quantization(target, quantize, io_type):
    """`quantize` is one of `target`'s; `io_type` is one of `IO_TYPES`, and integer only with int8."""
    if quantize not in target.quantize:
        allowed = ", ".join(repr(q) for q in target.quantize)
        raise ValueError(f"quantize={quantize!r} is not available for {target.format}; allowed: {allowed}")
    if io_type is not None and io_type not in IO_TYPES:
        raise ValueError(f"io_type={io_type!r} is not one of {', '.join(IO_TYPES)}")
    if io_type not in (None, "float32") and quantize != "int8":
        raise ValueError(f"io_type={io_type!r} needs quantize='int8' (integer inputs and outputs exist only "
                         "in a full-integer TFLite model)")


def _check_destination(path, target, overwrite):
    """The absolute `path` to write `target`'s export at: its suffix, an earlier export there only with
    `overwrite`, nothing else replaced, and an existing parent folder (checked before any work)."""
    path = os.path.abspath(os.fspath(path))
    _check_suffix(path, target)
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    if os.path.lexists(path) and not target.replaceable(path):
        raise FileExistsError(f"{path} exists and is not a {target.format} export ({target.describe_path}): "
                              "overwrite=True replaces only an earlier export of the same format, so nothing "
                              "else is deleted. Move it away or choose another path.")
    for suffix in target.companion_suffixes:
        companion = path + suffix
        if os.path.lexists(companion) and not (overwrite and target.reads_companions(path)):
            raise FileExistsError(f"{companion} exists: a {target.format} export to {path} may write part of itself "
                                  f"there ({target.describe_companions}); overwrite=True replaces it only together "
                                  f"with the earlier export at {path} that reads it. Move it away or choose another "
                                  "path.")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot write {path}: the folder {parent} does not exist")
    return path


def _check_outputs(model, target, include_preprocessing):
    """The model's output names (None: one output); refuse what does not apply to several outputs."""
    from keras_senet.export.serving import output_names

    names = output_names(model)
    if names is not None and include_preprocessing not in (False, None) and target.pixel_endpoint:
        raise ValueError(
            f"include_preprocessing with format={target.format!r} adds a uint8 'serving_default' endpoint that "
            f"returns one softmax of class probabilities, but {model.name!r} has {len(names)} outputs "
            f"({', '.join(names)}). Export it without include_preprocessing (normalise the inputs yourself), "
            f"or to {', '.join(repr(t) for t, x in TARGETS.items() if not x.pixel_endpoint)}, whose "
            "include_preprocessing only builds the normalisation in.")
    return names


def _input_shape(model, input_size):
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3:
        raise ValueError(f"export expects an image model with inputs (batch, height, width, channels); "
                         f"got input shape {model.inputs[0].shape}")
    height, width, channels = shape
    if input_size is not None:
        if (height, width) != (None, None) and (height, width) != (input_size, input_size):
            raise ValueError(f"input_size={input_size} but the model is built for {height}x{width}; build "
                             f"it with input_shape=({input_size}, {input_size}, 3) or omit input_size")
        height = width = input_size
    if height is None or width is None:
        raise ValueError(f"the model's input is {shape} (any size); pass input_size to fix the exported "
                         "height and width")
    if channels is None:
        raise ValueError("the model's channel dimension must be fixed")
    return (height, width, channels)


def _verification_inputs(calibration, input_shape, pixels):
    if calibration is not None:
        return calibration, f"{len(calibration)} representative images"
    rng = np.random.default_rng(0)
    shape = (RANDOM_IMAGES,) + input_shape
    images = rng.uniform(0, 255, shape) if pixels else rng.standard_normal(shape)
    return images.astype("float32"), f"{RANDOM_IMAGES} random inputs (seed 0)"


def _size(path, companion_suffixes=()):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)
    return sum(os.path.getsize(path + suffix) for suffix in ("",) + companion_suffixes
               if os.path.exists(path + suffix))


def _move_into_place(written, path, companion_suffixes=()):
    """Put `written` at `path`, each by an atomic rename, with its companion files (``written + suffix``, e.g. an
    ONNX file's external data), replacing an earlier export at `path` and its companions (overwrite was
    allowed). The earlier main file goes first and the new one comes last, so `path` never names another
    export's data; the earlier export is deleted once the new one is in place."""
    retired = []
    for suffix in ("",) + companion_suffixes:
        if os.path.lexists(path + suffix):
            retired.append(written + suffix + ".replaced")
            os.replace(path + suffix, retired[-1])
    for suffix in companion_suffixes + ("",):
        if os.path.lexists(written + suffix):
            os.replace(written + suffix, path + suffix)
    for old in retired:
        shutil.rmtree(old) if os.path.isdir(old) else os.remove(old)


def _named(outputs):
    """``{name: array}`` from a Keras call (a tensor or a dict of tensors) or a predictor's result."""
    import keras

    if isinstance(outputs, dict):
        return {name: keras.ops.convert_to_numpy(value) for name, value in outputs.items()}
    return {"output": keras.ops.convert_to_numpy(outputs)}


def _in_batches(run, images, batch=VERIFICATION_BATCH):
    """``{name: array}`` of `run` over `images`, `batch` images per call."""
    parts = [_named(run(images[i:i + batch])) for i in range(0, len(images), batch)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def inference_function(served):
    """`served` (a Keras model) called with ``training=False``, as one ``tf.function`` that traces once for
    any batch size (``reduce_retracing``): the Keras reference of verification, of the accuracy check and of
    the low-memory export's source step."""
    import tensorflow as tf

    return tf.function(lambda x: served(x, training=False), reduce_retracing=True)


class _RuntimeRefused(Exception):
    """The export's own runtime refused the written file (raised by `_verify`, reported as an ExportError)."""


def _verify(report, served, written, images, num_threads):
    """Run the export at `written` in its runtime and compare every output, by name, with `served`."""
    from keras_senet._compat import custom_gradients_released
    from keras_senet.export.runtimes import median_latency_ms

    predict = load_in_runtime(written, images, num_threads)
    with custom_gradients_released():  # the Keras side's trace is dropped here (swish: tensorflow#27492)
        compiled = inference_function(served)
        compare_in_runtime(report, predict, _in_batches(compiled, images), images)
        report.keras_latency_ms = median_latency_ms(lambda x: _named(compiled(x)), images[:1])


def load_in_runtime(written, images, num_threads):
    """The export at `written` loaded in its runtime and run once on ``images[:1]``; `_RuntimeRefused` when
    it cannot be (a runtime may refuse a file only when it prepares it: XNNPACK, at allocation)."""
    from keras_senet.export.targets import load_exported

    try:
        predict = load_exported(written, num_threads=num_threads)  # (SavedModel: TF's own thread settings)
        predict(images[:1])
    except Exception as error:
        lines = str(error).strip().splitlines()
        raise _RuntimeRefused(f"its runtime could not load or run the file ({type(error).__name__}: "
                              f"{lines[0] if lines else ''})") from error
    return predict


def compare_in_runtime(report, predict, expected, images):
    """Fill `report` from the export's outputs on `images` (run by `predict`) against the Keras model's
    `expected` ``{name: array}``, and the export's batch-1 latency."""
    from keras_senet.export.runtimes import median_latency_ms

    report.runtime = predict.runtime
    actual = _in_batches(predict, images, _runtime_batch(predict))
    if len(expected) == 1 and len(actual) == 1:  # one output: its name differs by runtime ("output", ...)
        actual = {next(iter(expected)): next(iter(actual.values()))}
    report.compare(expected, actual)
    report.latency_ms = median_latency_ms(predict, images[:1])


def _runtime_batch(predict):
    """The batch a predictor is called with in verification: the export's fixed batch where it has one (a
    predictor pads a shorter call to it), else `VERIFICATION_BATCH`."""
    return getattr(predict, "input_shape", (None,))[0] or VERIFICATION_BATCH  # None: a dynamic batch axis


def _verify_pixel_endpoint(report, model, served, written, config, input_shape):
    """The SavedModel's uint8 ``serving_default``: same probabilities as the Keras model on the same
    eval transform, for pixels of another size than the model's (the transform resizes and crops)."""
    import tensorflow as tf

    from keras_senet.export.targets import load_exported
    from keras_senet.export.serving import ends_in_softmax, pixel_preprocessing

    size = input_shape[0]
    pixels = np.random.default_rng(1).integers(0, 256, (2, size + size // 3, size + size // 5, input_shape[-1]))
    pixels = pixels.astype("uint8")
    expected = served(pixel_preprocessing(config, size)(tf.constant(pixels)), training=False)
    expected = (expected if ends_in_softmax(model) else tf.nn.softmax(expected)).numpy()
    actual = load_exported(written, endpoint="serving_default")(pixels)
    diff = float(np.abs(actual - expected).max())
    if not diff <= report.tolerances.get("rel_diff", 1e-4) * max(float(np.abs(expected).max()), 1e-12):
        report.failures.append(f"serving_default (uint8 pixels) differs from Keras by {diff:.3g}")


def export(model, path, format, *, quantize=None, representative_data=None, input_size=None,
           batch_size=None, include_preprocessing=False, opset=None, io_type=None, tolerances=None,
           verify=True, overwrite=False, num_threads=None, target="cpu", keep_float=(),
           quantization_report=False, evaluation_data=None, reparameterize=True, quantizer="tensorflow"):
    """Export `model` to `path` and prove the export equal to the Keras model in its own runtime.

    Args:
        model: a Keras image model (TensorFlow backend), input ``(batch, H, W, C)``. Its outputs are
            one tensor, or a dict (or list) of tensors, e.g. a backbone's feature maps
            ``{"P2": ..., "P5": ...}``: every format keeps the names and every output is verified.
        path: destination: a folder for ``saved_model``, a file for ``tflite`` / ``onnx``. An existing
            path is refused unless `overwrite`. Nothing is written there unless verification passes.
        format: ``"saved_model"``, ``"tflite"`` or ``"onnx"`` (`keras_senet.export.targets.TARGETS`).
        quantize: TFLite: ``None`` (fp32), ``"float16"``, ``"dynamic"`` (int8 weights) or ``"int8"``
            (full integer, needs `representative_data`); ONNX: ``None`` or ``"float16"`` (for GPUs).
        representative_data: real images in the exported model's input space (normalised, or [0, 255]
            pixels with `include_preprocessing`): an array ``(n, H, W, C)``, a ``tf.data.Dataset`` or an
            iterable of batches or ``(images, labels)``. Up to 200 images calibrate int8 and all
            verification runs on them; without it, verification uses 16 seeded random inputs.
        input_size: square side to export when the model takes any size (``input_shape=(None, None, 3)``).
        batch_size: fixed batch size; default None: dynamic batch (TFLite: resized at run time).
        include_preprocessing: build the normalisation (mean/std of the model's registry config, or of
            the registry name / ``name.tag`` given as a string) into the graph, so inputs are RGB pixels
            in [0, 255]; a SavedModel then also gets a ``serving_default`` signature taking uint8 images
            of any size (resize + centre crop inside) and returning probabilities (single-output
            models only: with several outputs that is an error).
        opset: ONNX opset (default 17).
        io_type: full-integer TFLite input/output type: ``"int8"`` (default with quantize="int8"),
            ``"uint8"`` or ``"float32"`` (float interface; ops without int8 kernels may stay float).
        tolerances: override the acceptance limits, e.g. ``{"top1_agreement": 0.9}``; see
            `keras_senet.export.TOLERANCES` for the defaults per quantisation.
        verify: run the export in its runtime and compare (default True). Failing -> `ExportError`.
        overwrite: replace an existing `path`.
        num_threads: CPU threads of the LiteRT / onnxruntime verification run (default: the runtime's).
        target: TFLite accelerator profile: ``"cpu"`` (default, the export as is), ``"gpu"``,
            ``"nnapi"`` or ``"edgetpu"`` (`keras_senet.export.edge`): the graph is traced in the form
            the accelerator takes (pooled squeeze, relu6 gates, batch 1, ...), checked against its op
            support (``report.compatibility``; a failed check fails the export), and verified against
            the unmodified Keras model. Needs a fixed input size.
        keep_float: int8 TFLite: TFLite op names (``"HARD_SWISH"``) or parts of layer names
            (``"conv_head"``) to leave in float (selective quantisation; the interface is float32).
        quantization_report: int8 TFLite: measure every quantised tensor against float with
            ``tf.lite.experimental.QuantizationDebugger`` (``report.quantization_layers``, worst first).
        evaluation_data: labelled held-out data, ``(images, labels)`` arrays or a dataset of such
            batches, in the export's input space: ``report.accuracy`` gives the top-1 of the Keras model
            and of the export, the change in points and their agreement (single-output classifiers).
        reparameterize: export the inference form of a model with parallel linear branches summed by an
            ``Add`` (GhostNetV3's re-parameterisable conv + BN branches; `keras_senet.reparameterize`):
            each sum becomes one convolution, as timm's ``reparameterize_model``. Default True; the export
            is still verified against `model` itself. Models without such branches are exported as they
            are either way.
        quantizer: int8 TFLite: who calibrates and quantises. ``"tensorflow"`` (default): the TFLite
            converter. ``"ai-edge-quantizer"`` (``pip install "keras-senet[ai-edge-quantizer]"``): the
            converter writes fp32 and Google's ai-edge-quantizer quantises that file outside TensorFlow
            (`keras_senet.export.ai_edge_int8`): a lower memory peak (README, "Memory and time of an
            export"); `io_type` ``"int8"`` or ``"float32"``; no `keep_float` / `quantization_report`
            (TensorFlow's debugger).

    Returns:
        `ExportReport` (``print(report)`` shows it as a table).
    """
    from keras_senet.export import edge

    profile = edge.get_edge_target(target)
    target = get_target(format)
    keep_float = tuple(keep_float or ())
    _check_int8_options(format, quantize, io_type, keep_float, quantization_report)
    check_quantizer(format, quantize, io_type, quantizer, keep_float=keep_float,
                    quantization_report=quantization_report)
    if keep_float and io_type is None:
        io_type = "float32"  # float ops inside: a float interface
    options = {"opset": opset}  # format-only options: each target names those it takes
    path = _check_arguments(model, path, target, quantize, representative_data, input_size, batch_size,
                            io_type, overwrite, verify, options)
    if quantizer == "ai-edge-quantizer":
        from keras_senet.export.ai_edge_int8 import check_kernels

        check_kernels(model)
    batch_size = edge.check_arguments(profile, format, quantize, batch_size, io_type, model, input_size)
    names = _check_outputs(model, target, include_preprocessing)
    if evaluation_data is not None and names is not None:
        raise ValueError(f"evaluation_data scores a classifier's top-1; {model.name!r} has {len(names)} outputs")
    from keras_senet.export.serving import as_images, preprocessing_config

    config = preprocessing_config(model, include_preprocessing)
    input_shape = _input_shape(model, input_size)
    if quantize == "int8" and io_type is None:
        io_type = "int8"
    calibration = as_images(representative_data, CALIBRATION_IMAGES)
    if calibration is not None and not np.isfinite(calibration).all():
        bad = np.flatnonzero(~np.isfinite(calibration.reshape(len(calibration), -1)).all(axis=1))
        raise ValueError(f"representative_data has NaN or infinite values in {len(bad)} of {len(calibration)} "
                         f"images (the first: image {bad[0]}); calibration and verification need finite "
                         "images in the model's input space.")
    if calibration is not None and calibration.shape[1:] != input_shape:
        raise ValueError(f"representative_data images have shape {calibration.shape[1:]}, the export takes "
                         f"{input_shape}")
    evaluation = _labelled(evaluation_data, input_shape)
    report = ExportReport(path=path, format=format, quantize=quantize, io_type=io_type or "float32",
                          input_shape=(batch_size,) + input_shape,
                          tolerances=dict(TOLERANCES[quantize], **(tolerances or {})),
                          target=profile.name, keep_float=keep_float, quantizer=_quantizer_used(quantize, quantizer))
    workdir = make_workdir(path)
    try:
        written = os.path.join(workdir, os.path.basename(path))
        job = ExportJob(input_shape=input_shape, batch_size=batch_size, config=config, quantize=quantize,
                        calibration=calibration, io_type=io_type, workdir=workdir,
                        options={name: options[name] for name in target.options},
                        edge=profile if profile.name != "cpu" else None, keep_float=keep_float,
                        debug_quantization=bool(quantization_report), weight_count=_weight_count(model),
                        quantizer=quantizer)
        source, report.merged_branches = _inference_form(model, reparameterize)
        served = _write(source, written, target, job)
        if source is not model:  # verify against the caller's model, not the re-parameterised copy
            from keras_senet.export.serving import serving_model

            served = serving_model(model, input_shape, config)
            del source
        report.quantization_layers = job.notes.get("quantization_layers")
        report.widened_ranges = job.notes.get("widened_ranges", [])
        report.size_bytes = _size(written, target.companion_suffixes)
        if target.inspect is not None:
            target.inspect(written, report)
        if profile.check is not None:
            profile.check(written, report)
        if verify:
            images, report.verification_inputs = _verification_inputs(calibration, input_shape, config is not None)
            try:
                _verify(report, served, written, images, num_threads)
            except _RuntimeRefused as error:
                raise ExportError(f"{format} export: {error}. Nothing was written to {path}.", report) from error
            if evaluation is not None:
                report.accuracy = _accuracy(served, written, evaluation, num_threads)
            report.check()
            if target.pixel_endpoint and config is not None:
                _verify_pixel_endpoint(report, model, served, written, config, input_shape)
            if not report.passed:
                raise ExportError(f"{format} export failed verification: {'; '.join(report.failures)}\n"
                                  f"{report.table()}\nNothing was written to {path}.", report)
        elif target.inspect is not None:
            report.check()  # the inspection's rules (builtin TFLite ops) hold without verification too
            if report.failures:
                raise ExportError(f"{format} export: {'; '.join(report.failures)}. Nothing was written to {path}.",
                                  report)
        _move_into_place(written, path, target.companion_suffixes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def make_workdir(path):
    """A new temporary folder beside `path` for its export (those a killed export to `path` left are removed
    first); the caller removes it."""
    prefix = f".{os.path.basename(path)}."
    _temporary.sweep(os.path.dirname(path), [prefix], suffix=".tmp")
    try:
        return _temporary.make_dir(prefix, os.path.dirname(path), suffix=".tmp")
    except OSError as error:
        raise PermissionError(f"cannot write to {os.path.dirname(path)}: {error.strerror}") from error


def _inference_form(model, reparameterize):
    """(`model`, 0), or with `reparameterize` and parallel branches to merge, (its re-parameterised copy,
    the number of merged sums)."""
    from keras_senet import reparameterization

    if not reparameterize or not reparameterization.has_parallel_branches(model):
        return model, 0
    copy, merged = reparameterization.reparameterize(model)
    return (copy, len(merged)) if merged else (model, 0)


def check_quantizer(format, quantize, io_type, quantizer, keep_float=(), quantization_report=False):
    """`quantizer` is one of `keras_senet.export.to_tflite.QUANTIZERS`; ai-edge-quantizer only for int8
    TFLite with an int8 or float32 interface, without TensorFlow's debugger, and installed."""
    from keras_senet.export.ai_edge_int8 import IO_TYPES as AI_EDGE_IO_TYPES
    from keras_senet.export.to_tflite import QUANTIZERS

    if quantizer not in QUANTIZERS:
        raise ValueError(f"quantizer={quantizer!r} is not one of {', '.join(map(repr, QUANTIZERS))}")
    if quantizer == "tensorflow":
        return
    if format != "tflite" or quantize != "int8":
        raise ValueError(f"quantizer={quantizer!r} quantises int8 TFLite only (format='tflite', quantize='int8'), "
                         f"not format={format!r} quantize={quantize!r}")
    if io_type not in (None,) + AI_EDGE_IO_TYPES:
        raise ValueError(f"quantizer={quantizer!r} writes io_type {' or '.join(map(repr, AI_EDGE_IO_TYPES))}, not "
                         f"io_type={io_type!r}: use quantizer='tensorflow' for it")
    if keep_float or quantization_report:
        given = "keep_float" if keep_float else "quantization_report"
        raise ValueError(f"{given} uses TensorFlow's quantisation debugger: it needs quantizer='tensorflow', not "
                         f"quantizer={quantizer!r}")
    if importlib.util.find_spec("ai_edge_quantizer") is None:
        raise ImportError(f"quantizer={quantizer!r} needs ai-edge-quantizer: pip install "
                          '"keras-senet[ai-edge-quantizer]"')


def _quantizer_used(quantize, quantizer):
    """The report's `quantizer`: who quantised int8 TFLite, None for anything else."""
    return quantizer if quantize == "int8" else None


def _check_int8_options(format, quantize, io_type, keep_float, quantization_report):
    """`keep_float` and `quantization_report` apply to int8 TFLite only; `keep_float` needs a float interface."""
    if (keep_float or quantization_report) and (format != "tflite" or quantize != "int8"):
        given = "keep_float" if keep_float else "quantization_report"
        raise ValueError(f"{given} applies to format='tflite' with quantize='int8' only, not format={format!r} "
                         f"quantize={quantize!r}")
    bad = [k for k in keep_float if not isinstance(k, str) or not k]
    if bad:
        raise ValueError(f"keep_float must be TFLite op names or layer-name parts (non-empty strings); got {bad!r}")
    if keep_float and io_type not in (None, "float32"):
        raise ValueError(f"keep_float={list(keep_float)!r} leaves ops in float, which needs io_type='float32' "
                         f"(a float interface), not io_type={io_type!r}")


def _labelled(data, input_shape):
    """``(images, labels)`` arrays from `evaluation_data` (arrays or a dataset of batches), checked."""
    if data is None:
        return None
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray):
        images, labels = data
    else:
        batches = list(data.as_numpy_iterator() if hasattr(data, "as_numpy_iterator") else data)
        if not batches or not all(isinstance(b, (tuple, list)) and len(b) == 2 for b in batches):
            raise ValueError("evaluation_data must be (images, labels) arrays or a dataset of (images, labels) "
                             "batches")
        images = np.concatenate([np.asarray(b[0]) for b in batches])
        labels = np.concatenate([np.asarray(b[1]) for b in batches])
    images, labels = np.asarray(images, "float32"), np.asarray(labels)
    if labels.ndim == 2:  # one-hot
        labels = labels.argmax(-1)
    if images.shape[1:] != tuple(input_shape) or len(labels) != len(images):
        raise ValueError(f"evaluation_data: images {images.shape} and labels {labels.shape}; the export takes "
                         f"images (n,) + {tuple(input_shape)} with one label each")
    return images, labels


def _accuracy(served, written, evaluation, num_threads):
    """Top-1 of the Keras model and of the export on the labelled held-out data (`edge.accuracy_change`)."""
    from keras_senet._compat import custom_gradients_released
    from keras_senet.export.edge import accuracy_change
    from keras_senet.export.targets import load_exported

    images, labels = evaluation
    with custom_gradients_released():  # the Keras side's trace is dropped here (swish: tensorflow#27492)
        compiled = inference_function(served)
        return accuracy_change(lambda x: np.asarray(compiled(x)), load_exported(written, num_threads=num_threads),
                               images, labels)


def _write(model, written, target, job):
    """Write the export to `written`; returns the Keras model it serves (the verification reference)."""
    try:
        return target.write(model, written, job)
    except ExportError:
        raise
    except Exception as error:  # a converter's failure: say which format and why, keep the cause
        message = str(error).strip().splitlines()
        detail = " ".join(line.strip() for line in message[-6:]) if message else type(error).__name__
        raise ExportError(f"could not convert {model.name!r} to {target.format}: {type(error).__name__}: "
                          f"{detail}\nLayers must be built from keras.ops / TensorFlow ops the converter supports (no "
                          "Python or NumPy callbacks); nothing was written.") from error
