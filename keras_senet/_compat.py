"""Every use of a private internal of Keras, TensorFlow or LiteRT, in one place.

Each entry says why no public API does the job, links the upstream issue and names the versions it
was verified on. Outside those versions, or when the internal is gone, it raises a `CompatError`
(a `RuntimeError`) that names the feature and the installed version, warns, or falls back to public
API where a safe fallback exists. `tests/test_compat.py` fails loudly when an internal moves or
changes its signature. Patches are scoped: a context manager installs them and undoes them when its
block ends, error or not.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings


class CompatError(RuntimeError):
    """A private internal of a dependency is missing or changed: pin the verified versions."""


def _version(text):
    """``"3.15.1"`` -> ``(3, 15)``; unparsable parts count as 0."""
    parts = []
    for piece in str(text).split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (2 - len(parts)))


def _warn_if_unverified(package, version, verified):
    """A warning (once per call site) when `version` is outside the ``(low, high)`` range verified."""
    low, high = verified
    if not low <= _version(version) <= high:
        warnings.warn(f"keras_senet uses a private internal of {package}, verified on {package} "
                      f"{low[0]}.{low[1]}-{high[0]}.{high[1]}; this is {version}. If exports fail, pin "
                      f"{package} to that range and report it.", RuntimeWarning, stacklevel=3)


# --- training ---
# Run-tested on Keras 3.15.1 + TensorFlow 2.21 (tests/test_training.py, tests/test_compat.py); the
# Keras 3.10.0 source (setup.cfg's floor) was read for the same names, signatures and call sites.
TRAINING_KERAS_VERIFIED = ("3.10", "3.15")
# Set to 1 to run the training internals on a Keras release newer than TRAINING_KERAS_VERIFIED.
UNVERIFIED_ENV = "KERAS_SENET_UNVERIFIED_INTERNALS"


def check_training_keras(feature):
    """Raise `RuntimeError` unless the installed Keras is one `feature`'s private internals were verified on."""
    import keras

    low, high = TRAINING_KERAS_VERIFIED
    if _version(low) <= _version(keras.__version__) <= _version(high):
        return
    if _version(keras.__version__) > _version(high) and os.environ.get(UNVERIFIED_ENV) == "1":
        return
    major, minor = _version(high)
    raise CompatError(
        f"{feature} relies on private Keras internals verified on Keras {low} to {high}.x; Keras "
        f"{keras.__version__} is installed. Install 'keras>={low},<{major}.{minor + 1}', or set "
        f"{UNVERIFIED_ENV}=1 to try a newer Keras (python -m pytest tests/test_compat.py says what moved).")


def _private(owner, name, feature, where):
    """`owner.name`, or a RuntimeError naming the feature and the Keras version when it is gone."""
    import keras

    if not hasattr(owner, name):
        raise CompatError(f"{feature} needs the private Keras internal {where}.{name}, which Keras "
                           f"{keras.__version__} no longer has; see keras_senet/_compat.py.")
    return getattr(owner, name)


def reset_initial_epoch(model):
    """Make the next `model.fit` start at its own ``initial_epoch`` argument.

    `keras.callbacks.BackupAndRestore` resumes at the backed-up epoch (keras-team/keras#19179) by
    setting ``model._initial_epoch``, which `fit` prefers over its ``initial_epoch`` argument
    (``initial_epoch = self._initial_epoch or initial_epoch`` in every backend's trainer) and which
    Keras sets to None only in ``Trainer.__init__``. A second `fit` of the same model (finetune's
    phase 2 after a resumed phase 1) would start at phase 1's restored epoch. No upstream issue
    tracks the missing reset yet.
    """
    feature = "Resuming a multi-phase fit (BackupAndRestore)"
    check_training_keras(feature)
    _private(model, "_initial_epoch", feature, "Trainer")
    model._initial_epoch = None


def set_initial_epoch(model, epoch):
    """Make the running `model.fit` resume at `epoch`, as `keras.callbacks.BackupAndRestore` does from
    ``on_train_begin`` (keras-team/keras#19179): `fit` reads ``model._initial_epoch`` after the
    callbacks' ``on_train_begin``. Used by keras_senet's atomic backup (training/rundir.py)."""
    feature = "Resuming a killed fit (atomic BackupAndRestore)"
    check_training_keras(feature)
    _private(model, "_initial_epoch", feature, "Trainer")
    model._initial_epoch = epoch


def flatten_layers(model):
    """Every layer of `model`, nested ones included (custom layers' sublayers too).

    ``Layer._flatten_layers()`` (private, Keras 3.0-3.15 at least) is the only walk that reaches
    sublayers tracked as attributes of custom layers; no upstream issue proposes a public one.
    Fallback where it is missing: the public ``.layers`` of nested models, recursively (misses
    sublayers of non-model custom layers), with a warning.
    """
    walk = getattr(model, "_flatten_layers", None)
    if walk is not None:
        return list(walk(include_self=False, recursive=True))
    warnings.warn("keras.Layer._flatten_layers is gone in this Keras; BatchNorm layers nested inside custom "
                  "(non-Model) layers are not found. See keras_senet/_compat.py.", RuntimeWarning, stacklevel=2)
    layers, queue = [], list(model.layers)
    while queue:
        layer = queue.pop(0)
        layers.append(layer)
        queue.extend(getattr(layer, "layers", ()))
    return layers


def functional_calls(model):
    """``{id(operation): [its calls in `model`]}`` for a functional `model`: each call a Keras ``Node`` with
    ``input_tensors`` and ``output_tensors``.

    Keras 3's public API lists a model's operations (``model.operations``) but not their calls, and an
    operation's public ``input`` / ``output`` name its first call anywhere, which after
    ``keras.Model(intermediate_tensor, ...)`` (a sub-model: `keras_senet.export.pieces`) is not always one of this
    model's. The Functional keeps its own calls in ``_nodes_by_depth`` (private, Keras 3.0-3.15 at least); no
    upstream issue proposes a public walk. Used to cut a model into pieces.
    """
    nodes_by_depth = _private(model, "_nodes_by_depth", "Cutting a model into pieces", "Functional")
    calls = {}
    for nodes in nodes_by_depth.values():
        for node in nodes:
            calls.setdefault(id(node.operation), []).append(node)
    return calls


@contextlib.contextmanager
def multi_worker_fit(model, strategy):
    """Within the block, ``model.fit`` works under `tf.distribute.MultiWorkerMirroredStrategy`.

    Works around keras-team/keras#20585 / tensorflow/tensorflow#72388: Keras 3's TensorFlow trainer
    fails under MultiWorkerMirroredStrategy in two places.

    1. Before training, ``TensorFlowTrainer._maybe_symbolic_build`` averages one distributed batch
       across replicas with ``strategy.reduce`` only to learn its shapes; that eager cross-worker
       reduce of a `PerReplica` fails. This replica's local batch has the same shapes (patched on
       `model` only, as an instance attribute deleted when the block ends).
    2. Each step's logs (scalar losses and metrics) are averaged by
       ``keras.src.backend.tensorflow.trainer.reduce_per_replica`` with ``strategy.reduce("MEAN", v,
       axis=0)``, which fails on scalars ("Invalid reduction dimension 0"); ``axis=None`` is the mean
       over replicas that was meant. The module function is replaced for the block only (the train
       and test functions are traced inside `fit`) and acts only for multi-worker strategies.
    """
    import tensorflow as tf

    feature = "fit under MultiWorkerMirroredStrategy"
    check_training_keras(feature)
    from keras.src.backend.tensorflow import trainer as tf_trainer

    where = "keras.src.backend.tensorflow.trainer"
    original = _private(tf_trainer, "reduce_per_replica", feature, where)
    is_multi_worker = _private(tf_trainer, "_collective_all_reduce_multi_worker", feature, where)
    _private(type(model), "_maybe_symbolic_build", feature, "TensorFlowTrainer")
    symbolic_build = _private(model, "_symbolic_build", feature, "Trainer")

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0), values)
        return original(values, strategy, reduction)

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            # Keras 3.10 yields (step, iterator), later releases (begin_step, end_step, iterator).
            for *_, it in iterator:
                data_batch = tf.nest.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues) else x, next(it))
                break
        with strategy.scope():
            symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    model._maybe_symbolic_build = maybe_symbolic_build
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original
        if "_maybe_symbolic_build" in vars(model):
            del model._maybe_symbolic_build


# --- inference ---
# Run-tested on TensorFlow 2.21 (tests/test_compat.py, tests/test_api.py); the function has had
# this name, module and first argument since TensorFlow 2.0.
INFERENCE_TF_VERIFIED = ("2.16", "2.21")


def freeze_concrete_function(concrete):
    """`concrete` (a `tf.function` concrete function) with its variables baked in as constants.

    ``tensorflow.python.framework.convert_to_constants.convert_variables_to_constants_v2`` is the
    only TF2 way to freeze a function (no public API: tensorflow/tensorflow#27614, #48639); frozen,
    Grappler folds inference BatchNorm into convolutions. Fallback on a TensorFlow outside
    INFERENCE_TF_VERIFIED or without the function: None with a warning, and the caller runs the
    unfrozen function (same outputs, slower).
    """
    import tensorflow as tf

    low, high = INFERENCE_TF_VERIFIED
    convert = None
    if _version(low) <= _version(tf.__version__) <= _version(high):
        try:
            from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2 as convert
        except ImportError:
            pass
    if convert is None:
        warnings.warn(f"Freezing the forward pass uses a private TensorFlow function verified on TensorFlow {low} "
                      f"to {high}; TensorFlow {tf.__version__} is installed, so it runs unfrozen (same outputs, "
                      "slower). See keras_senet/_compat.py.", RuntimeWarning, stacklevel=2)
        return None
    return convert(concrete)


# --- export ---
# Keras' TensorFlow backend module `keras.src.backend.tensorflow.nn` (Keras 3.0-3.15).
# Why: Keras runs grouped convolutions inside an XLA-compiled `tf.function` (TF's CPU kernel has no
# groups), and tf2onnx cannot convert that nested call ("PartitionedCall is not supported",
# onnx/tensorflow-onnx#2099). `keras_senet.export.to_onnx` swaps the module's `conv` for a plain
# `tf.nn.convolution` while the ONNX graph is traced; there is no public hook for it.
KERAS_NN_VERIFIED = ((3, 10), (3, 15))
# `Interpreter._get_ops_details()` of ai_edge_litert (1.2-2.3) and tf.lite (2.16-2.21): the only API that
# lists a .tflite file's operators with their tensors (tensorflow/tensorflow#53003 asks for a public one;
# `tf.lite.experimental.Analyzer` only prints text). The op census (no Flex ops; int8 coverage) needs it.
LITERT_OPS_VERIFIED = ((1, 2), (2, 3))

_DATA_FORMATS = {("channels_last", 3): "NWC", ("channels_last", 4): "NHWC", ("channels_last", 5): "NDHWC",
                 ("channels_first", 3): "NCW", ("channels_first", 4): "NCHW", ("channels_first", 5): "NCDHW"}


def keras_tensorflow_nn():
    """Keras' TensorFlow-backend ``nn`` module, checked to have the ``conv`` that `keras.ops.conv` calls."""
    import keras

    _warn_if_unverified("keras", keras.__version__, KERAS_NN_VERIFIED)
    try:
        from keras.src.backend.tensorflow import nn
    except ImportError as error:
        raise CompatError(f"keras {keras.__version__} has no keras.src.backend.tensorflow.nn (verified on "
                          "3.10-3.15): ONNX export of grouped convolutions needs it") from error
    if not callable(getattr(nn, "conv", None)):
        raise CompatError(f"keras {keras.__version__}: keras.src.backend.tensorflow.nn.conv is gone (verified "
                          "on 3.10-3.15): ONNX export of grouped convolutions needs it")
    return nn


def tf_conv_data_format(data_format, ndim):
    """TensorFlow's layout string (``"NHWC"``, ...) for a Keras `data_format` and a rank `ndim` tensor.

    Keras' own helper (`nn._convert_data_format`) when present, so both stay in step; otherwise the
    same mapping here (it is fixed by TensorFlow's conv API)."""
    import keras

    data_format = data_format or keras.config.image_data_format()
    convert = getattr(keras_tensorflow_nn(), "_convert_data_format", None)
    if convert is not None:
        return convert(data_format, ndim)
    try:
        return _DATA_FORMATS[(data_format, ndim)]
    except KeyError:
        raise ValueError(f"data_format={data_format!r} with a rank-{ndim} input has no TensorFlow layout") from None


def tflite_ops(interpreter):
    """The operators of a LiteRT/TFLite `interpreter` as dicts with ``op_name``, ``inputs``, ``outputs``
    (tensor indices, -1 for an absent optional input), in execution order."""
    import ai_edge_litert

    _warn_if_unverified("ai-edge-litert", getattr(ai_edge_litert, "__version__", "0"), LITERT_OPS_VERIFIED)
    get_ops = getattr(interpreter, "_get_ops_details", None)
    if get_ops is None:
        raise CompatError(f"{type(interpreter).__module__}.Interpreter has no _get_ops_details() (verified on "
                          "ai-edge-litert 1.2-2.3): the TFLite op census cannot list operators; pin "
                          "ai-edge-litert to that range")
    return get_ops()


# `tensorflow.lite.tools.flatbuffer_utils` (TensorFlow 2.x, verified on 2.16-2.21): TensorFlow's own reader
# and writer of a .tflite file as Python objects (its tools `randomize_weights`, `strip_strings` use it);
# shipped in the pip package but not under `tf.*`. `keras_senet.export.tflite_ranges` rewrites a tensor's
# quantisation scale with it: the converter has no option for a minimum calibration range (no upstream
# issue was found for one).
TFLITE_FLATBUFFER_VERIFIED = ((2, 16), (2, 21))


# `ai_edge_litert.tools.flatbuffer_utils` (ai-edge-litert 2.x, verified on 2.3): LiteRT's copy of the same
# module, which imports no TensorFlow: the ai-edge-quantizer route (`keras_senet.export.ai_edge_int8`) widens
# its ranges with it in a process that never loads TensorFlow.
LITERT_FLATBUFFER_VERIFIED = ((2, 0), (2, 3))
_FLATBUFFER_FUNCTIONS = ("read_model_from_bytearray", "convert_bytearray_to_object", "convert_object_to_bytearray",
                         "opcode_to_name")
_LITERT_FLATBUFFER_FUNCTIONS = ("read_model", "update_packed_buffer")  # (LiteRT's only: joining pieces)


def tflite_flatbuffer(reader="tensorflow"):
    """The `tensorflow.lite.tools.flatbuffer_utils` module (`reader` ``"tensorflow"``) or LiteRT's
    `ai_edge_litert.tools.flatbuffer_utils` (``"litert"``: no TensorFlow import), with
    ``read_model_from_bytearray``, ``convert_bytearray_to_object`` (buffers stored after the FlatBuffer
    left there), ``convert_object_to_bytearray`` and ``opcode_to_name``; LiteRT's also with ``read_model`` and
    ``update_packed_buffer`` (`keras_senet.export.tflite_merge`)."""
    if reader == "litert":
        import ai_edge_litert

        package, version, verified = "ai-edge-litert", getattr(ai_edge_litert, "__version__", "0"), \
            LITERT_FLATBUFFER_VERIFIED
        module_name = "ai_edge_litert.tools.flatbuffer_utils"
    elif reader == "tensorflow":
        import tensorflow as tf

        package, version, verified = "tensorflow", tf.__version__, TFLITE_FLATBUFFER_VERIFIED
        module_name = "tensorflow.lite.tools.flatbuffer_utils"
    else:
        raise ValueError(f"reader={reader!r}: 'tensorflow' or 'litert'")
    _warn_if_unverified(package, version, verified)
    span = "-".join(".".join(map(str, v)) for v in verified)
    try:
        flatbuffer_utils = importlib.import_module(module_name)
    except ImportError as error:
        raise CompatError(f"{package} {version} has no {module_name} (verified on {span}): int8 ranges cannot be "
                          f"widened for XNNPACK; pin {package} to that range") from error
    for name in _FLATBUFFER_FUNCTIONS + (_LITERT_FLATBUFFER_FUNCTIONS if reader == "litert" else ()):
        if not hasattr(flatbuffer_utils, name):
            raise CompatError(f"{package} {version}: {module_name}.{name} is gone (verified on {span}); pin "
                              f"{package} to that range")
    return flatbuffer_utils


# `ai_edge_quantizer.algorithms.uniform_quantize.uniform_quantize_tensor.uniform_quantize` (ai-edge-quantizer 0.10,
# verified on 0.10.0 and the 0.10.0.dev20261027 nightly, which has the same code). A weight over 32 MiB is
# quantised in chunks: the weight is reshaped to 2-D, ``(-1, last dimension)``, and its scales are broadcast to
# that shape, which fails for per-channel scales of a kernel of rank 3 or more (``(O, 1, 1, 1)`` against
# ``(O*H*W, I)``: "input operand has more dimensions than allowed by the axis remapping";
# google-ai-edge/ai-edge-quantizer#512, #472; fixes proposed in PRs #513 and #482, open). Within
# `ai_edge_large_kernels_quantized` such a weight is handed to that function as the matrix ``(channels, rest)``
# with scales ``(channels, 1)``, which its chunked path quantises, and the result is put back in the kernel's
# shape: the same arithmetic, per element, as its path for smaller weights.
AI_EDGE_QUANTIZER_CHUNKS_VERIFIED = ((0, 10), (0, 10))
AI_EDGE_QUANTIZER_CHUNK_BYTES = 32 * 2**20  # its threshold for the chunked path, and each chunk's size


def _ai_edge_quantize_module():
    """ai-edge-quantizer's `uniform_quantize_tensor` module, or None where it or its function is missing."""
    try:
        module = importlib.import_module("ai_edge_quantizer.algorithms.uniform_quantize.uniform_quantize_tensor")
    except ImportError:
        return None
    return module if callable(getattr(module, "uniform_quantize", None)) else None


def _distribution_version(*names):
    """The installed version of the first of the distributions `names` that is installed (``"0"``: none is)."""
    from importlib import metadata

    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "0"


def ai_edge_large_kernels_quantizable():
    """Whether `ai_edge_large_kernels_quantized` can apply its fix here (the internal it wraps is there)."""
    return _ai_edge_quantize_module() is not None


@contextlib.contextmanager
def ai_edge_large_kernels_quantized():
    """Within: ai-edge-quantizer quantises per-channel kernels of rank 3 or more over 32 MiB (see above); every
    other call goes to its own function unchanged. Not thread-safe: the module's function is swapped while the
    block runs."""
    import dataclasses

    import numpy as np

    module = _ai_edge_quantize_module()
    if module is None:
        raise CompatError("ai-edge-quantizer has no algorithms.uniform_quantize.uniform_quantize_tensor."
                          "uniform_quantize: pin ai-edge-quantizer to 0.10")
    _warn_if_unverified("ai-edge-quantizer", _distribution_version("ai-edge-quantizer", "ai-edge-quantizer-nightly"),
                        AI_EDGE_QUANTIZER_CHUNKS_VERIFIED)
    original = module.uniform_quantize

    def uniform_quantize(tensor_data, quantization_params, *args, **kwargs):
        axis = quantization_params.quantized_dimension
        scale = np.asarray(quantization_params.scale)
        other = (any(args) or any(kwargs.values()) or getattr(quantization_params, "block_size", 0)
                 or getattr(quantization_params, "hadamard", None) is not None)  # blockwise, Hadamard: as they are
        if (other or tensor_data.ndim < 3 or tensor_data.nbytes <= AI_EDGE_QUANTIZER_CHUNK_BYTES or axis is None
                or scale.size != tensor_data.shape[axis]
                or tensor_data.nbytes // tensor_data.shape[axis] > AI_EDGE_QUANTIZER_CHUNK_BYTES):
            return original(tensor_data, quantization_params, *args, **kwargs)
        moved = np.moveaxis(tensor_data, axis, 0)
        matrix = moved.reshape(moved.shape[0], -1)
        as_column = {"scale": scale.reshape(-1, 1), "quantized_dimension": 0,
                     "zero_point": np.asarray(quantization_params.zero_point).reshape(-1, 1)}
        quantized = original(matrix, dataclasses.replace(quantization_params, **as_column))
        return np.moveaxis(quantized.reshape(moved.shape), 0, axis)

    module.uniform_quantize = uniform_quantize
    try:
        yield
    finally:
        module.uniform_quantize = original


# `TFLiteConverter._experimental_use_buffer_offset` (in TensorFlow since 2.14; verified on 2.21): a FlatBuffer
# addresses at most 2 GiB, so a model whose weights are larger can only be written with its buffers
# after the FlatBuffer, addressed by 64-bit offsets (LiteRT reads such files; TFLite Micro and
# flatbuffer64 support are open upstream: tensorflow/tensorflow#60570, tensorflow/tflite-micro#3196).
# The converter has no public switch for it.
TFLITE_BUFFER_OFFSET_VERIFIED = ((2, 21), (2, 21))


def tflite_buffer_offsets(converter):
    """Make the TFLite `converter` write its weights after the FlatBuffer (files over 2 GiB)."""
    import tensorflow as tf

    _warn_if_unverified("tensorflow", tf.__version__, TFLITE_BUFFER_OFFSET_VERIFIED)
    if not hasattr(converter, "_experimental_use_buffer_offset"):
        raise CompatError(f"tensorflow {tf.__version__}: TFLiteConverter has no _experimental_use_buffer_offset "
                          "(verified on 2.21): a .tflite file over 2 GiB cannot be written; pin tensorflow to "
                          "2.21 or export to SavedModel")
    converter._experimental_use_buffer_offset = True
    return converter


def release_freed_memory():
    """Give the C heap's free pages back to the system: glibc's ``malloc_trim(0)`` (public, but glibc's
    own); nothing where the C library has no such call. TensorFlow's TFLite converter frees what one stage
    used before the next allocates, and glibc keeps it: seresnet50's int8 export held 995 MiB after its float
    conversion, 643 MiB after the trim (benchmarks/NOTES.md)."""
    import ctypes
    import ctypes.util

    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return
    trim(0)


# `tensorflow.lite.python.lite.TFLiteSavedModelConverterV2` and the module's `_load` (private; TensorFlow 2.21).
# `tf.lite.TFLiteConverter.from_saved_model` loads the SavedModel with `tf.saved_model.load` to find its
# signatures, and the converter's `convert()` loads it once more, only to read its graph debug info; the MLIR
# converter then imports the SavedModel a third time, in C++, which is the import the conversion needs. A
# loaded SavedModel is not freed when it is dropped (tensorflow/tensorflow#45453, #40171): its function graphs
# and the variables they capture stay in the process. EfficientNet-B5 (116.6 MiB of weights): +300 MiB per
# load, a converter peak of 1582 MiB with both loads and 1058 MiB without (benchmarks/NOTES.md, session 11).
# `tflite_converter_from_saved_model` builds the converter `from_saved_model` returns for such a directory,
# without its load, and reads the debug info from the SavedModel's own file (`convert()` wants nothing else
# from its load; the function names in that debug info are not renamed as a load would: the export writes
# none). Where an internal is missing, the public `from_saved_model` is used.
TFLITE_SAVED_MODEL_CONVERTER_VERIFIED = ((2, 21), (2, 21))


def tflite_converter_from_saved_model(saved_model_dir, signature_key):
    """`tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature_key])`, made and
    converting without loading the SavedModel into this process (see above). A `signature_key` the SavedModel
    does not have is a ValueError naming the ones it has, as from `from_saved_model`."""
    import types

    import tensorflow as tf
    from tensorflow.lite.python import lite
    from tensorflow.python.saved_model import loader_impl

    _warn_if_unverified("tensorflow", tf.__version__, TFLITE_SAVED_MODEL_CONVERTER_VERIFIED)
    tags = {tf.saved_model.SERVING}
    if not (hasattr(lite, "TFLiteSavedModelConverterV2") and hasattr(lite, "_load")
            and hasattr(lite, "conversion_metadata_fb")
            and hasattr(lite.TFLiteConverterBase, "_set_original_model_type") and tf.executing_eagerly()):
        return tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature_key])
    proto, debug_info = loader_impl.parse_saved_model_with_debug_info(saved_model_dir)
    signatures = sorted({key for graph in proto.meta_graphs for key in graph.signature_def})
    if signature_key not in signatures:
        raise ValueError(f"Invalid signature key '{signature_key}' found. Valid keys are '{','.join(signatures)}'.")
    lite.TFLiteConverterBase._set_original_model_type(lite.conversion_metadata_fb.ModelType.TF_SAVED_MODEL)
    converter = lite.TFLiteSavedModelConverterV2(saved_model_dir, tags, [signature_key])
    if not converter.saved_model_dir:  # the importer refused it: the public route, which falls back itself
        return tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature_key])
    convert = converter.convert

    def convert_without_loading():
        original = lite._load
        lite._load = lambda directory, tags=None, options=None: types.SimpleNamespace(graph_debug_info=debug_info)
        try:
            return convert()
        finally:
            lite._load = original

    converter.convert = convert_without_loading
    return converter


# `tensorflow.python.framework.ops._gradient_registry` (private; TensorFlow 2.21). `tf.custom_gradient` in graph
# mode registers each call's gradient function in TensorFlow's global gradient registry under a fresh name
# (``CustomGradient-<uid>``) and never removes it (tensorflow/tensorflow#27492, #97697; keras-team/tf-keras#898
# proposes the same purge in `clear_session`). The function's closure holds the call's tensors, so the whole
# graph traced around the call stays alive. `tf.nn.silu` (swish) is a custom gradient: every trace of an
# EfficientNet stays, 4 graphs of 3723 ops (~90 MiB) after EfficientNet-B5's SavedModel was written
# (benchmarks/NOTES.md, session 12). No public call unregisters a gradient. Where the registry is missing,
# nothing is removed.
_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"
CUSTOM_GRADIENT_REGISTRY_VERIFIED = ((2, 21), (2, 21))


@contextlib.contextmanager
def custom_gradients_released():
    """Within: functions traced and dropped before the block ends; on exit, the gradient functions
    `tf.custom_gradient` registered inside the block are removed from TensorFlow's registry, so the graphs
    their closures hold can be freed. Only for traces that do not outlive the block: a function traced inside
    and kept could no longer be differentiated through those calls (the export's traces are inference only), nor
    could one traced by another thread meanwhile."""
    import tensorflow as tf
    from tensorflow.python.framework import ops

    _warn_if_unverified("tensorflow", tf.__version__, CUSTOM_GRADIENT_REGISTRY_VERIFIED)
    entries = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(entries, dict):
        yield
        return
    before = set(entries)
    try:
        yield
    finally:
        for name in [n for n in entries if n not in before and str(n).startswith(_CUSTOM_GRADIENT_PREFIX)]:
            del entries[name]


# `TFLiteConverterBase._optimize_tflite_model` (private; TensorFlow 2.21): the step after the MLIR conversion
# that calibrates and quantises (int8). The converter's memory at its peak is upstream's to cut
# (tensorflow/tensorflow#63025: conversions killed for memory); `tflite_stages_trimmed` only hands back,
# before that step, what the conversion freed. Where the method is missing, nothing is patched.
@contextlib.contextmanager
def tflite_stages_trimmed():
    """Within: `release_freed_memory` runs between the TFLite converter's conversion and its calibration and
    quantisation (seresnet50 int8: 352 MiB handed back there; the peak, +8.9x the weight bytes before and +7.3x
    after in one pair of runs, varies by about as much between runs)."""
    from tensorflow.lite.python import lite

    original = getattr(lite.TFLiteConverterBase, "_optimize_tflite_model", None)
    if original is None:
        yield
        return

    def optimize(self, *args, **kwargs):
        release_freed_memory()
        return original(self, *args, **kwargs)

    lite.TFLiteConverterBase._optimize_tflite_model = optimize
    try:
        yield
    finally:
        lite.TFLiteConverterBase._optimize_tflite_model = original


# `tf2onnx.graph.Node.update_proto` (tf2onnx 1.16-1.17). Each of the ~36 optimiser passes calls it on every
# node: it deletes the NodeProto's attributes and extends it with copies of them. Under protobuf's upb
# backend the deleted copies stay in the NodeProto's arena until the NodeProto dies, so every pass adds
# one more copy of every weight tensor (SE-ResNet-50: +107 MiB a pass, 3.5 GiB over the conversion;
# measured in benchmarks/NOTES.md). The patch gives the node a fresh NodeProto before each update (the
# attributes are rebuilt from the node's own dict either way): same proto, the old arena is freed.
# No upstream issue was found for it. With `weights` given (the large-model route, whose final
# `make_graph` update writes every constant again, to the external storage), a pass's update leaves a
# constant's ``value`` out of its NodeProto: the tensor is read from the node's dict, and a second copy in
# the proto is one more copy of every weight at the optimiser's peak. And `weights` is emptied once
# `process_tf_graph` has made every constant a tensor of tf2onnx's graph (its only reader). ReXNet-300:
# the conversion's peak +6.2x -> +5.2x the weight bytes, 5.7 -> 3.4 s (benchmarks/NOTES.md, session 10).
# The other half: with `catch_errors` on, `tf2onnx.optimizer.optimize_graph` deep-copies the whole graph,
# weights included, before each pass, so that a failing pass can be undone and skipped (the copies of
# onnx/tensorflow-onnx#971 and #885's tracebacks). `_convert_common` turns it on unless `large_model`; its
# switch, the environment variable TF2ONNX_CATCH_ERRORS, can only turn it off (tf2onnx 1.17 compares the
# variable's *name* with "TRUE"). So the block replaces `optimize_graph` (looked up on the module at each
# call) by one that passes the block's own `catch_errors`; without catching, a failing pass raises
# `OptimizerPassFailed` (tf2onnx's error chained), and the caller converts again with catching on
# (`keras_senet.export.to_onnx.convert`): keras.applications' MobileNetV3 meets such a pass, the transpose
# optimiser's `_add_handler` on a scalar bias (`max(())`), which tf2onnx's default skips silently.
TF2ONNX_VERIFIED = ((1, 16), (1, 17))


class OptimizerPassFailed(RuntimeError):
    """A tf2onnx optimiser pass raised with catching off (the graph is half-optimised: convert again)."""


@contextlib.contextmanager
def lean_tf2onnx(catch_errors=False, weights=None):
    """Within the block, tf2onnx's optimiser does not pile up copies of the weights in the NodeProtos and,
    with ``catch_errors=False`` (the default), does not deep-copy the graph before each pass: a failing pass
    raises `OptimizerPassFailed`. ``catch_errors=True`` is tf2onnx's own skip-the-failing-pass behaviour.
    `weights` (``{Const node name: tensor bytes}``): with ``large_model=True``, tf2onnx's
    `compress_graph_def` (which moves every constant over 1000 bytes out of the GraphDef into such a dict)
    returns these too, for a GraphDef whose weight Consts hold only their dtype and shape. Undone when the
    block ends, error or not (see TF2ONNX_VERIFIED above)."""
    import tf2onnx
    from onnx import NodeProto
    from tf2onnx import convert, graph, optimizer

    _warn_if_unverified("tf2onnx", tf2onnx.__version__, TF2ONNX_VERIFIED)
    original = getattr(graph.Node, "update_proto", None)
    original_optimize = getattr(optimizer, "optimize_graph", None)
    if original is None or original_optimize is None or not hasattr(graph.Node, "op"):
        raise CompatError(f"tf2onnx {tf2onnx.__version__}: tf2onnx.graph.Node.update_proto or "
                          "tf2onnx.optimizer.optimize_graph is gone (verified on 1.16-1.17); pin tf2onnx to "
                          "that range")

    def update_proto(self, external_tensor_storage=None):
        old = self._op
        fresh = NodeProto(name=old.name, op_type=old.op_type, domain=old.domain, doc_string=old.doc_string)
        fresh.input.extend(old.input)
        fresh.output.extend(old.output)
        self._op = fresh
        value = None
        if weights is not None and external_tensor_storage is None:
            value = self._attr.pop("value", None)  # a pass's update: the tensor stays in the node's dict only
        try:
            original(self, external_tensor_storage)
        finally:
            if value is not None:
                self._attr["value"] = value

    def process_tf_graph(*args, **kwargs):
        graph = original_process(*args, **kwargs)
        weights.clear()  # each is now a tensor of tf2onnx's graph: the bytes are not read again
        return graph

    def optimize_graph(graph, catch_errors_asked=True, optimizers=None):  # the block's choice, not the caller's
        if catch_errors:
            return original_optimize(graph, True, optimizers=optimizers)
        try:
            return original_optimize(graph, False, optimizers=optimizers)
        except Exception as error:  # any pass's error: tf2onnx's own default would have skipped the pass
            raise OptimizerPassFailed(f"a tf2onnx optimiser pass failed: {type(error).__name__}: {error}") \
                from error

    original_compress = getattr(convert, "compress_graph_def", None)
    original_process = getattr(convert, "process_tf_graph", None)
    if weights is not None and (original_compress is None or original_process is None):
        raise CompatError(f"tf2onnx {tf2onnx.__version__}: tf2onnx.convert.compress_graph_def or process_tf_graph is "
                          "gone (verified on 1.16-1.17); pin tf2onnx to that range")

    def compress_graph_def(graph_def):
        values = original_compress(graph_def)  # constants over 1000 bytes still in the GraphDef
        clash = sorted(set(values) & set(weights))
        if clash:
            raise RuntimeError(f"constants {clash[:3]} are both in the GraphDef and among the weights given")
        weights.update(values)
        return weights

    graph.Node.update_proto = update_proto
    optimizer.optimize_graph = optimize_graph
    if weights is not None:
        convert.compress_graph_def = compress_graph_def
        convert.process_tf_graph = process_tf_graph
    try:
        yield
    finally:
        graph.Node.update_proto = original
        optimizer.optimize_graph = original_optimize
        if weights is not None:
            convert.compress_graph_def = original_compress
            convert.process_tf_graph = original_process


# The steps of `tf2onnx.convert.from_function` (tf2onnx 1.16-1.17), called one by one so that TensorFlow
# never holds the weights twice (`keras_senet.export.to_onnx.convert`): `from_function` freezes into a
# concrete function (importing the frozen GraphDef: +5-7x the weight bytes), imports the GraphDef again
# into a session, and runs Grappler on the GraphDef with the weights inside (+10x at its peak). tf2onnx
# has no public API for the steps: `tf_loader.convert_variables_to_constants_large_model` (freezes to a
# GraphDef only), `tf_loader.fix_freezing_errors_part2`, `tf_loader.tf_optimize` (tf2onnx's Grappler
# passes: constfold, function, dependency), `convert.tensor_names_from_structed` (the output names
# `from_function` gives) and `convert._convert_common` (GraphDef -> ONNX, `large_model` keeps the weights
# out of the TensorFlow import). And Keras' `keras.src.export.onnx.get_concrete_fn` with
# `keras.src.export.tf2onnx_lib.patch_tf2onnx`: the traced function and tf2onnx's NumPy-2 fixes exactly as
# `model.export(format="onnx")` makes them (Keras marks the patch "remove once tf2onnx supports numpy 2").
# No upstream issue was found for the memory of `from_function`.
TF2ONNX_STEPS = ("convert_variables_to_constants_large_model", "fix_freezing_errors_part2", "tf_optimize")


def tf2onnx_steps():
    """The private steps of tf2onnx's `from_function` and Keras' ONNX tracing (see TF2ONNX_STEPS above),
    as a namespace: ``freeze``, ``fix_freezing``, ``grappler``, ``output_names``, ``convert``,
    ``keras_function``. Raises `CompatError` naming what is missing."""
    import types

    import keras
    import tf2onnx
    from tf2onnx import convert, tf_loader

    _warn_if_unverified("tf2onnx", tf2onnx.__version__, TF2ONNX_VERIFIED)
    _warn_if_unverified("keras", keras.__version__, KERAS_NN_VERIFIED)
    missing = [f"tf2onnx.tf_loader.{name}" for name in TF2ONNX_STEPS if not hasattr(tf_loader, name)]
    missing += [f"tf2onnx.convert.{name}" for name in ("tensor_names_from_structed", "_convert_common")
                if not hasattr(convert, name)]
    try:
        from keras.src.export.onnx import get_concrete_fn
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError:
        missing.append("keras.src.export.onnx.get_concrete_fn / keras.src.export.tf2onnx_lib.patch_tf2onnx")
    if missing:
        raise CompatError(f"ONNX export needs {', '.join(missing)}, gone in tf2onnx {tf2onnx.__version__} / keras "
                          f"{keras.__version__} (verified on tf2onnx 1.16-1.17, keras 3.10-3.15); pin them to "
                          "those ranges")

    def keras_function(model, input_signature):
        patch_tf2onnx()
        return get_concrete_fn(model, input_signature)

    return types.SimpleNamespace(
        freeze=tf_loader.convert_variables_to_constants_large_model, fix_freezing=tf_loader.fix_freezing_errors_part2,
        grappler=tf_loader.tf_optimize, output_names=convert.tensor_names_from_structed,
        convert=convert._convert_common, keras_function=keras_function)
