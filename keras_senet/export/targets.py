"""Export targets as data: one `ExportTarget` per format in `TARGETS`.

Each entry says what the format is called, its file suffix (or a folder), the quantisations it takes,
the packages it needs to write and to run, the writer, the predictor that runs it, and how an existing
export is recognised. `export()`, `load_exported()`, the ``keras-senet export`` options and the
quickstart all read this table: adding a format is one entry (a writer and a predictor).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Callable, Optional

from keras_senet.export.runtimes import ONNXPredictor, SavedModelPredictor, TFLitePredictor
from keras_senet.export.to_onnx import EXTERNAL_DATA_SUFFIX

PIP_EXPORT = "pip install 'keras-senet[export]'"


@dataclasses.dataclass(frozen=True)
class ExportJob:
    """What a writer is asked to write, besides the model and the path.

    Attributes:
        input_shape: ``(height, width, channels)`` of the export.
        batch_size: fixed batch size, or None for a dynamic batch.
        config: the registry / pretrained config whose normalisation is built in, or None.
        quantize: one of the target's `quantize` values.
        calibration: float32 images ``(n, H, W, C)`` for int8 calibration, or None.
        io_type: full-integer TFLite input/output type (``"int8"``, ``"uint8"``, ``"float32"``) or None.
        options: format-only options (``{"opset": 17}`` for ONNX), None when not given.
        workdir: a private temporary folder for intermediate files (removed afterwards).
        edge: the TFLite accelerator profile (`keras_senet.export.edge.EdgeTarget`), None for the default.
        keep_float: int8 TFLite: op names or layer-name parts to leave in float (selective quantisation).
        debug_quantization: int8 TFLite: run the quantisation debugger (per-layer error).
        quantizer: int8 TFLite: ``"tensorflow"`` or ``"ai-edge-quantizer"`` (`keras_senet.export.to_tflite`).
        weight_count: the number of weights of the model (the writers' size decisions: 0 when not counted).
        notes: what the writer measured on the way, for the report (``{"quantization_layers": [...],
            "widened_ranges": [...]}``).
    """

    input_shape: tuple
    batch_size: Optional[int] = None
    config: object = None
    quantize: Optional[str] = None
    calibration: object = None
    io_type: Optional[str] = None
    options: dict = dataclasses.field(default_factory=dict)
    weight_count: int = 0
    workdir: str = ""
    edge: object = None
    keep_float: tuple = ()
    debug_quantization: bool = False
    quantizer: str = "tensorflow"
    notes: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ExportTarget:
    """One export format.

    Attributes:
        format: the name users pass (``format="tflite"``, ``--format tflite``).
        title: what it is, for help texts.
        suffix: the file suffix (``".tflite"``); None when the export is a folder.
        quantize: the allowed `quantize` values; None is float32, always first.
        write: ``write(model, path, job) -> served``: write the export of `model` at `path` for an
            `ExportJob`; returns the Keras model it serves (the verification reference).
        predictor: ``predictor(path, **options)`` runs an export in its runtime, ``predict(images)``.
        load_options: the `load_exported` keywords the predictor takes (others are ignored).
        packages: import names needed to write; `runtime_packages`: to run (verification, loading).
        quantize_packages: extra import names per quantisation.
        pip: how to install what is missing.
        options: format-only `export()` keywords (e.g. ``("opset",)``); `check_options(options)`
            validates them before any work.
        pixel_endpoint: `include_preprocessing` also adds a uint8 any-size ``serving_default``
            endpoint returning probabilities (verified; single-output models only).
        inspect: ``inspect(path, report)`` fills format-specific report fields after writing (and its
            failures, such as non-builtin TFLite ops, hold without verification too).
        detect: ``detect(path) -> bool``, is `path` an export of this format; default: the suffix.
        recognise: ``recognise(path) -> bool``, does what is at `path` look, by its content, like an
            export of this format (``overwrite=True`` replaces nothing else).
        path_kind: how the export looks on disk, for messages.
        companion_suffixes: files an export at `path` may have beside it, ``path + suffix``
            (ONNX over 2 GiB: ``.onnx.data``), written, moved and replaced with it;
            `describe_companions` says what they hold, for messages; ``owns_companions(path) -> bool``:
            the export at `path` reads them (``overwrite=True`` replaces them only then).
    """

    format: str
    title: str
    suffix: Optional[str]
    quantize: tuple
    write: Callable
    predictor: type
    load_options: tuple = ()
    packages: tuple = ()
    runtime_packages: tuple = ()
    quantize_packages: dict = dataclasses.field(default_factory=dict)
    pip: str = PIP_EXPORT
    options: tuple = ()
    check_options: Optional[Callable] = None
    pixel_endpoint: bool = False
    inspect: Optional[Callable] = None
    detect: Optional[Callable] = None
    recognise: Optional[Callable] = None
    path_kind: str = ""
    companion_suffixes: tuple = ()
    describe_companions: str = ""
    owns_companions: Optional[Callable] = None

    def is_export(self, path):
        """True when `path` is an export of this format."""
        if self.detect is not None:
            return bool(self.detect(path))
        return self.suffix is not None and os.fspath(path).endswith(self.suffix)

    def replaceable(self, path):
        """True when what is at `path` is recognisably an export of this format (``overwrite=True``)."""
        return self.recognise is not None and bool(self.recognise(os.fspath(path)))

    def reads_companions(self, path):
        """True when the export at `path` reads its companion files (``overwrite=True`` replaces them then only)."""
        return self.owns_companions is not None and bool(self.owns_companions(os.fspath(path)))

    @property
    def describe_path(self):
        return self.path_kind or f"a {self.suffix} file"

    def missing_packages(self, quantize=None, verify=True):
        """Import names this target needs (to write, and to run when `verify`) that are not installed."""
        needed = list(self.packages) + list(self.quantize_packages.get(quantize, ()))
        needed += list(self.runtime_packages) if verify else []
        return [name for name in dict.fromkeys(needed) if importlib.util.find_spec(name) is None]


# --- writers: thin adapters from an `ExportJob` to each format's writer module -------------------

def _write_saved_model(model, path, job):
    from keras_senet.export.to_saved_model import write_saved_model

    return write_saved_model(model, path, job.input_shape, job.batch_size, job.config)


def _write_tflite(model, path, job):
    """SavedModel first (Keras 3's supported route to the converter: keras-team/keras#19108).

    With an accelerator profile (`job.edge`) the SavedModel is traced from the profile's rewritten form
    of `model`; the model returned for verification is always the unmodified one."""
    import contextlib

    from keras_senet.export import edge
    from keras_senet.export.serving import serving_model
    from keras_senet.export.to_saved_model import write_saved_model
    from keras_senet.export.to_tflite import uses_buffer_offsets, write_tflite

    saved_model = os.path.join(job.workdir, "saved_model")
    traced = edge.rewrite(model, job.edge) if job.edge is not None else model
    with edge.forms(job.edge) if job.edge is not None else contextlib.nullcontext():
        served = write_saved_model(traced, saved_model, job.input_shape, job.batch_size, job.config,
                                   pixel_endpoint=False)
    job.notes.update(write_tflite(
        saved_model, path, job.quantize, job.calibration, job.io_type, keep_float=job.keep_float,
        debug=job.debug_quantization, buffer_offsets=uses_buffer_offsets(job.weight_count),
        quantizer=job.quantizer))
    return served if traced is model and job.edge is None else serving_model(model, job.input_shape, job.config)


def _write_onnx(model, path, job):
    from keras_senet.export.serving import serving_model
    from keras_senet.export.to_onnx import DEFAULT_OPSET, uses_external_data, write_onnx

    served = serving_model(model, job.input_shape, job.config)
    write_onnx(served, path, job.input_shape, job.batch_size, job.options.get("opset") or DEFAULT_OPSET,
               job.quantize, external_data=uses_external_data(job.weight_count))
    return served


def _check_onnx_options(options):
    opset = options.get("opset")
    if opset is None:
        return
    from keras_senet.export.to_onnx import supported_opsets

    opsets = supported_opsets()
    if opset not in opsets:
        raise ValueError(f"opset={opset!r} is not supported; tf2onnx writes opsets {opsets[0]}-{opsets[-1]}")


def _inspect_tflite(path, report):
    from keras_senet.export.to_tflite import op_census

    report.ops, non_int8 = op_census(path)
    report.non_int8_ops = non_int8 if report.quantize == "int8" else {}


# What a SavedModel folder holds; a folder with anything else (notes, sources) is not only an export.
_SAVED_MODEL_ENTRIES = {"saved_model.pb", "fingerprint.pb", "variables", "assets", "keras_metadata.pb"}


def _looks_like_saved_model(path):
    return (os.path.isdir(path) and not os.path.islink(path) and "saved_model.pb" in os.listdir(path)
            and set(os.listdir(path)) <= _SAVED_MODEL_ENTRIES)


def _looks_like_tflite(path):
    """A FlatBuffer with the TFLite file identifier ``TFL3`` at bytes 4-8."""
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"


def _looks_like_onnx(path):
    """A protobuf that parses as an ONNX ModelProto with a graph (external data is not read)."""
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    import onnx

    try:
        return bool(onnx.load_model(path, load_external_data=False).graph.node)
    except Exception:  # protobuf's DecodeError and friends: not ONNX
        return False


def _reads_external_data(path):
    """The ONNX file at `path` keeps weights in its external-data file (``path + EXTERNAL_DATA_SUFFIX``)."""
    import onnx

    location = os.path.basename(path) + EXTERNAL_DATA_SUFFIX
    try:
        initializers = onnx.load_model(path, load_external_data=False).graph.initializer
    except Exception:  # not ONNX: it reads nothing
        return False
    return any(entry.key == "location" and entry.value == location
               for tensor in initializers for entry in tensor.external_data)


def _is_saved_model(path):
    path = os.fspath(path)
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb"))


TARGETS = {target.format: target for target in (
    ExportTarget(
        format="saved_model", title="TensorFlow SavedModel (TF Serving)", suffix=None, quantize=(None,),
        write=_write_saved_model, predictor=SavedModelPredictor, load_options=("endpoint",),
        pixel_endpoint=True, detect=_is_saved_model, recognise=_looks_like_saved_model,
        path_kind="a SavedModel folder (with saved_model.pb)"),
    ExportTarget(
        format="tflite", title="TFLite / LiteRT", suffix=".tflite", quantize=(None, "float16", "dynamic", "int8"),
        write=_write_tflite, predictor=TFLitePredictor, load_options=("num_threads", "delegate"),
        packages=("ai_edge_litert",), inspect=_inspect_tflite, recognise=_looks_like_tflite),
    ExportTarget(
        format="onnx", title="ONNX (onnxruntime)", suffix=".onnx", quantize=(None, "float16"),
        write=_write_onnx, predictor=ONNXPredictor, load_options=("providers", "num_threads"),
        packages=("tf2onnx", "onnx"), runtime_packages=("onnxruntime",),
        quantize_packages={"float16": ("onnxconverter_common",)},
        options=("opset",), check_options=_check_onnx_options, recognise=_looks_like_onnx,
        companion_suffixes=(EXTERNAL_DATA_SUFFIX,),
        describe_companions="the weights of a model over 2 GiB as float32, ONNX's external data",
        owns_companions=_reads_external_data),
)}

FORMATS = tuple(TARGETS)
QUANTIZE = {name: target.quantize for name, target in TARGETS.items()}
QUANTIZATIONS = tuple(dict.fromkeys(q for target in TARGETS.values() for q in target.quantize if q is not None))


def get_target(format):
    """The `ExportTarget` named `format`; a ValueError naming the allowed formats otherwise."""
    try:
        return TARGETS[format]
    except (KeyError, TypeError):
        raise ValueError(f"format={format!r} is not one of {', '.join(TARGETS)}") from None


def detect_format(path):
    """The format of the export at `path` (a SavedModel folder, a ``.tflite`` or ``.onnx`` file, ...)."""
    for target in TARGETS.values():
        if target.is_export(path):
            return target.format
    kinds = [target.describe_path for target in TARGETS.values()]
    raise ValueError(f"{os.fspath(path)!r} is not an export: expected {', '.join(kinds[:-1])} or {kinds[-1]}.")


def quantize_help():
    """``"tflite: float16 | dynamic | int8; onnx: float16"``: the quantisations per format, for help texts."""
    return "; ".join(f"{name}: {' | '.join(q for q in target.quantize if q)}"
                     for name, target in TARGETS.items() if len(target.quantize) > 1)


def load_exported(path, *, endpoint="serve", providers=None, num_threads=None, delegate=None):
    """A predictor for an export: ``predict(images)`` -> an array, or ``{name: array}`` for an export
    with several outputs (e.g. a backbone's feature maps ``{"P2": ..., "P5": ...}``).

    Args:
        path: a SavedModel folder, a ``.tflite`` or a ``.onnx`` file (any format of
            `keras_senet.export.targets.TARGETS`).
        endpoint: SavedModel only: ``"serve"`` (model-space float input, default) or
            ``"serving_default"`` (uint8 pixels, when exported with built-in preprocessing).
        providers: ONNX only: onnxruntime execution providers, in order of preference.
        num_threads: TFLite / ONNX: CPU threads (default: the runtime's).
        delegate: TFLite only: ``"xnnpack"`` (the default), ``"gpu"``, ``"nnapi"`` or ``"edgetpu"``
            (`keras_senet.export.runtimes.DELEGATES`); `DelegateUnavailable` when not on this machine.

    Options that do not apply to the export's format are ignored. The predictor's ``output_names``
    lists its outputs.
    """
    target = TARGETS[detect_format(path)]
    given = {"endpoint": endpoint, "providers": providers, "num_threads": num_threads, "delegate": delegate}
    return target.predictor(path, **{name: given[name] for name in target.load_options})
