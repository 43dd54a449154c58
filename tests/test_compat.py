"""keras_senet._compat: each private Keras / TensorFlow internal still exists with the signature and
behaviour we rely on, the version guards, and scoped patches (undone after fit, error or not).

A failure here means Keras or TensorFlow moved an internal: read the entry in keras_senet/_compat.py,
check the upstream issue it links, and adapt or drop the workaround before widening the verified range.
"""

import dataclasses
import inspect
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer

from keras_senet import _compat


def _params(function):
    return list(inspect.signature(function).parameters)


def _tiny_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(),
                              keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _tiny_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")


# --- training ---

def test_installed_keras_is_in_the_verified_range():
    _compat.check_training_keras("finetune")  # the versions the tests run on must be the verified ones


@pytest.mark.parametrize("version,allowed_by_env", [("3.99.0", True), ("3.9.1", False), ("4.0.0", True)])
def test_unverified_keras_raises_naming_version_and_feature(monkeypatch, version, allowed_by_env):
    monkeypatch.setattr(keras, "__version__", version)
    monkeypatch.delenv(_compat.UNVERIFIED_ENV, raising=False)
    with pytest.raises(RuntimeError, match=rf"finetune relies on private Keras internals verified on Keras "
                                           rf"3\.10 to 3\.15\.x; Keras {version} is installed"):
        _compat.check_training_keras("finetune")
    monkeypatch.setenv(_compat.UNVERIFIED_ENV, "1")
    if allowed_by_env:
        _compat.check_training_keras("finetune")
    else:
        with pytest.raises(RuntimeError, match=version):
            _compat.check_training_keras("finetune")


def test_multi_worker_internals_keep_their_signatures_and_call_sites():
    assert _params(tf_trainer.reduce_per_replica) == ["values", "strategy", "reduction"]
    assert _params(tf_trainer._collective_all_reduce_multi_worker) == ["strategy"]
    assert tf_trainer._collective_all_reduce_multi_worker(tf.distribute.get_strategy()) is False
    trainer = tf_trainer.TensorFlowTrainer
    assert _params(trainer._maybe_symbolic_build) == ["self", "iterator", "data_batch"]
    assert "self._maybe_symbolic_build(iterator=" in inspect.getsource(trainer.fit)
    assert "data_batch" in _params(keras.Model._symbolic_build)


def test_fit_reduces_step_logs_through_the_module_global(monkeypatch):
    """The train and test steps look `reduce_per_replica` up as a module global when traced inside fit,
    so replacing the module attribute for the duration of fit reaches them."""
    original, calls = tf_trainer.reduce_per_replica, []

    def counting(values, strategy, reduction):
        calls.append(reduction)
        return original(values, strategy, reduction)

    monkeypatch.setattr(tf_trainer, "reduce_per_replica", counting)
    x, y = _tiny_data()
    _tiny_model().fit(x, y, validation_data=(x, y), batch_size=4, epochs=1, verbose=0)
    assert calls == ["auto", "auto"]  # traced once each: the train step and the validation step


class _Spy(keras.callbacks.Callback):
    def __init__(self, fail=False):
        super().__init__()
        self.fail = fail
        self.during = None

    def on_train_begin(self, logs=None):
        self.during = tf_trainer.reduce_per_replica

    def on_epoch_end(self, epoch, logs=None):
        if self.fail:
            raise RuntimeError("fit failed")


@pytest.mark.parametrize("fail", [False, True])
def test_multi_worker_patch_is_scoped_to_the_block(fail):
    """Active during fit, and Keras' module and the model are as before afterwards, also on error."""
    original = tf_trainer.reduce_per_replica
    model, spy, built = _tiny_model(), _Spy(fail), []
    symbolic_build = model._symbolic_build

    def record(data_batch=None):  # the patched build must hand a local batch to Keras' _symbolic_build
        built.append(tuple(tuple(t.shape) for t in data_batch[:2]))
        symbolic_build(data_batch=data_batch)

    model._symbolic_build = record
    strategy = tf.distribute.get_strategy()
    try:
        with _compat.multi_worker_fit(model, strategy):
            assert "_maybe_symbolic_build" in vars(model)
            model.fit(*_tiny_data(), batch_size=4, epochs=1, callbacks=[spy], verbose=0)
    except RuntimeError as error:
        assert fail and str(error) == "fit failed"
    else:
        assert not fail
    assert spy.during is not original and spy.during.__module__ == "keras_senet._compat"
    assert built == [((4, 4), (4, 2))]
    assert tf_trainer.reduce_per_replica is original
    assert "_maybe_symbolic_build" not in vars(model)
    assert model._maybe_symbolic_build.__func__ is tf_trainer.TensorFlowTrainer._maybe_symbolic_build


def test_backup_and_restore_sets_initial_epoch_that_fit_never_resets(tmp_path):
    """The bug `reset_initial_epoch` works around; if this fails, Keras changed how it resumes."""

    class StopAtEpochOne(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("killed")

    model, data = _tiny_model(), _tiny_data()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    assert model._initial_epoch is None
    with pytest.raises(RuntimeError, match="killed"):
        model.fit(*data, epochs=2, callbacks=[backup, StopAtEpochOne()], verbose=0)
    resumed = model.fit(*data, epochs=2, callbacks=[backup], verbose=0)
    assert resumed.epoch == [1] and model._initial_epoch == 1
    assert model.fit(*data, epochs=1, verbose=0).epoch == []  # a later fit still starts at epoch 1
    _compat.reset_initial_epoch(model)
    assert model.fit(*data, epochs=1, verbose=0).epoch == [0]


def test_flatten_layers_reaches_sublayers_of_custom_layers():
    assert _params(keras.layers.Layer._flatten_layers) == ["self", "include_self", "recursive"]

    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.bn = keras.layers.BatchNormalization(name="inner_bn")

        def call(self, x):
            return self.bn(x)

    inner = keras.Sequential([keras.Input((4,)), Block(), keras.layers.BatchNormalization(name="nested_bn")])
    model = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2, name="top")])
    names = [layer.name for layer in _compat.flatten_layers(model)]
    assert {"inner_bn", "nested_bn", "top"} <= set(names) and model.name not in names

    public = types.SimpleNamespace(layers=model.layers)  # no _flatten_layers: the public walk, with a warning
    with pytest.warns(RuntimeWarning, match="_flatten_layers is gone"):
        names = [layer.name for layer in _compat.flatten_layers(public)]
    assert {"nested_bn", "top"} <= set(names) and "inner_bn" not in names


def test_functional_calls_are_the_models_own_calls_also_after_a_sub_model():
    """Each operation maps to its one call in the model, with the tensors it reads and makes; a sub-model built
    from an intermediate tensor adds calls to the same layers, which are not the model's."""
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="a")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="b")(hidden))
    keras.Model(hidden, model.output)  # (re-calls "b" on a new input)
    calls = _compat.functional_calls(model)
    assert {op.name: len(calls[id(op)]) for op in model.operations} == {"x": 1, "a": 1, "b": 1}
    (call,) = calls[id(model.get_layer("b"))]
    assert call.input_tensors[0] is hidden and call.output_tensors[0] is model.output
    with pytest.raises(_compat.CompatError, match="_nodes_by_depth"):
        _compat.functional_calls(types.SimpleNamespace())


# --- inference ---

def test_freeze_bakes_variables_into_constants():
    from tensorflow.python.framework import convert_to_constants

    assert _params(convert_to_constants.convert_variables_to_constants_v2)[0] == "func"
    variable = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    concrete = tf.function(lambda x: tf.matmul(x, variable)).get_concrete_function(tf.TensorSpec((None, 2)))
    frozen = _compat.freeze_concrete_function(concrete)
    ops = {op.type for op in frozen.graph.get_operations()}
    assert not ops & {"ReadVariableOp", "VarHandleOp", "ResourceGather"}, ops
    x = tf.constant([[1.0, 1.0]])
    np.testing.assert_array_equal(frozen(x)[0], concrete(x))
    variable.assign(variable * 2)  # a snapshot: later changes are not seen
    np.testing.assert_array_equal(frozen(x)[0], [[4.0, 6.0]])


def test_unverified_tensorflow_runs_unfrozen(monkeypatch):
    from keras_senet.inference import compile_predict

    model = _tiny_model()
    images = _tiny_data()[0]
    monkeypatch.setattr(_compat, "INFERENCE_TF_VERIFIED", ("2.0", "2.1"))
    with pytest.warns(RuntimeWarning, match=rf"TensorFlow {tf.__version__} is installed, so it runs unfrozen"):
        predict = compile_predict(model)
    np.testing.assert_allclose(predict(images), model(images, training=False), rtol=1e-6, atol=1e-6)


# --- export ---


def test_keras_tensorflow_nn_conv_is_what_keras_ops_conv_calls(monkeypatch):
    """to_onnx swaps `nn.conv` while tracing: keras.ops.conv must still dispatch through it."""
    import keras

    nn = _compat.keras_tensorflow_nn()
    calls = []
    original = nn.conv

    def spy(*args, **kwargs):
        calls.append(kwargs.get("data_format"))
        return original(*args, **kwargs)

    monkeypatch.setattr(nn, "conv", spy)
    keras.ops.conv(np.ones((1, 4, 4, 2), "float32"), np.ones((1, 1, 2, 3), "float32"))
    assert calls, "keras.ops.conv no longer calls keras.src.backend.tensorflow.nn.conv"


def test_keras_convert_data_format_matches_our_fallback():
    nn = _compat.keras_tensorflow_nn()
    assert callable(getattr(nn, "_convert_data_format", None)), "keras moved nn._convert_data_format"
    for (data_format, ndim), expected in _compat._DATA_FORMATS.items():
        assert nn._convert_data_format(data_format, ndim) == expected
        assert _compat.tf_conv_data_format(data_format, ndim) == expected


def test_tf_conv_data_format_falls_back_without_the_keras_helper(monkeypatch):
    monkeypatch.delattr(_compat.keras_tensorflow_nn(), "_convert_data_format")
    assert _compat.tf_conv_data_format("channels_last", 4) == "NHWC"
    assert _compat.tf_conv_data_format("channels_first", 4) == "NCHW"


def test_missing_keras_conv_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(_compat.keras_tensorflow_nn(), "conv")
    with pytest.raises(_compat.CompatError, match="nn.conv is gone .*verified on 3.10-3.15"):
        _compat.keras_tensorflow_nn()


def test_grouped_conv_patch_traces_a_plain_grouped_convolution():
    """The swapped conv computes what Keras' XLA grouped conv computes (so tracing with it is exact)."""
    import keras

    from keras_senet.export.to_onnx import grouped_conv_without_xla

    layer = keras.layers.Conv2D(4, 3, groups=2, padding="same")
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 4)).astype("float32")
    expected = keras.ops.convert_to_numpy(layer(x))
    nn = _compat.keras_tensorflow_nn()
    original = nn.conv
    with grouped_conv_without_xla():
        assert nn.conv is not original
        actual = keras.ops.convert_to_numpy(layer(x))
    assert nn.conv is original
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_litert_ops_details(tmp_path):
    """`Interpreter._get_ops_details()` lists op_name / inputs / outputs per operator."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
    def f(x):
        return tf.nn.relu(x) + 1.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path = tmp_path / "m.tflite"
    path.write_bytes(converter.convert())
    interpreter = Interpreter(model_path=str(path))
    assert hasattr(interpreter, "_get_ops_details"), "ai_edge_litert moved Interpreter._get_ops_details"
    ops = _compat.tflite_ops(interpreter)
    assert "ADD" in [op["op_name"] for op in ops]
    for op in ops:
        assert {"op_name", "inputs", "outputs"} <= set(op)
        assert all(isinstance(int(i), int) for i in list(op["inputs"]) + list(op["outputs"]))


def test_missing_litert_ops_details_is_a_clear_error():
    class Interpreter:
        pass

    with pytest.raises(_compat.CompatError, match="_get_ops_details"):
        _compat.tflite_ops(Interpreter())


def test_versions_outside_the_verified_range_warn():
    with pytest.warns(RuntimeWarning, match="verified on keras 3.10-3.15; this is 4.0"):
        _compat._warn_if_unverified("keras", "4.0.0", _compat.KERAS_NN_VERIFIED)
    assert _compat._version("3.15.1") == (3, 15) and _compat._version("2.3.0rc1") == (2, 3)


def _onnx_of(model, path):
    spec = tf.TensorSpec((None, 16, 16, 3), tf.float32, name="image")
    model.export(str(path), format="onnx", input_signature=[spec], opset_version=17, verbose=False)
    import onnx

    return onnx.load(str(path))


@pytest.mark.parametrize("fail", [False, True])
def test_lean_tf2onnx_writes_the_same_graph_and_is_scoped(tmp_path, fail):
    """tf2onnx with and without the patch: the same nodes, attributes and weights; afterwards tf2onnx's own
    `update_proto` and `optimize_graph` are back, error or not."""
    from tf2onnx import graph, optimizer

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("hard_silu")(x)
    outputs = keras.layers.Dense(4, name="fc")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.get_layer("bn").set_weights([np.linspace(0.5, 2, 8, dtype="float32")] * 4)
    original, original_optimize = graph.Node.update_proto, optimizer.optimize_graph
    plain = _onnx_of(model, tmp_path / "plain.onnx")
    if fail:
        with pytest.raises(ZeroDivisionError):
            with _compat.lean_tf2onnx():
                assert graph.Node.update_proto is not original and optimizer.optimize_graph is not original_optimize
                1 / 0
    else:
        with _compat.lean_tf2onnx():
            lean = _onnx_of(model, tmp_path / "lean.onnx")
        # tf2onnx numbers the names it makes with a process-wide counter: compare all but the names
        def nodes(model):
            return [(n.op_type, [a.SerializeToString() for a in n.attribute]) for n in model.graph.node]

        def weights(model):
            return sorted((i.data_type, tuple(i.dims), i.raw_data) for i in model.graph.initializer)

        assert nodes(lean) == nodes(plain) and weights(lean) == weights(plain)
        assert [o.name for o in lean.graph.output] == [o.name for o in plain.graph.output]
    assert graph.Node.update_proto is original and optimizer.optimize_graph is original_optimize


def test_lean_tf2onnx_raises_on_a_failing_pass_and_catching_skips_it(tmp_path):
    """Without catching a failing optimiser pass raises `OptimizerPassFailed` with tf2onnx's error chained;
    with ``catch_errors=True`` the same model converts (tf2onnx's own skip), as `to_onnx.convert` relies on."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, use_bias=False)(inputs)  # then a scalar bias: tf2onnx's transpose pass fails
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU(6.0)(x + 3.0)))
    with pytest.raises(_compat.OptimizerPassFailed, match="ValueError") as failed:
        with _compat.lean_tf2onnx():
            _onnx_of(model, tmp_path / "lean.onnx")
    assert isinstance(failed.value.__cause__, ValueError)
    with _compat.lean_tf2onnx(catch_errors=True):
        assert _onnx_of(model, tmp_path / "caught.onnx").graph.node


def test_tf2onnx_node_keeps_what_the_patch_rebuilds():
    """The patch replaces `Node._op` before tf2onnx's `update_proto` rebuilds inputs, outputs and attributes
    from the node's own state: those must still come from `_input`, `_output` and `_attr`."""
    from tf2onnx import graph

    source = inspect.getsource(graph.Node.update_proto)
    assert "self.input" in source and "self.output" in source and "get_onnx_attrs" in source
    assert _params(graph.Node.update_proto) == ["self", "external_tensor_storage"]
    assert isinstance(graph.Node.op, property)


def test_tf2onnx_steps_keep_their_signatures():
    """`keras_senet.export.to_onnx.convert` calls tf2onnx's `from_function` step by step, by these names."""
    steps = _compat.tf2onnx_steps()
    assert _params(steps.freeze) == ["func"]
    assert _params(steps.fix_freezing) == ["graph_def"]
    assert _params(steps.grappler) == ["input_names", "output_names", "graph_def"]
    assert _params(steps.output_names) == ["concrete_func", "input_names", "output_names"]
    assert {"frozen_graph", "name", "large_model", "kwargs"} <= set(_params(steps.convert))
    from tf2onnx import tfonnx  # _convert_common passes the rest to process_tf_graph

    assert {"tensors_to_rename", "input_names", "output_names", "opset", "continue_on_error"} <= set(
        _params(tfonnx.process_tf_graph))
    source = inspect.getsource(__import__("tf2onnx").convert.from_function)
    for step in ("tf_loader.from_function", "_convert_common", "tensor_names_from_structed"):
        assert step in source  # from_function is still these steps
    loader = inspect.getsource(__import__("tf2onnx").tf_loader.from_function)
    assert "convert_variables_to_constants" in loader and "tf_optimize" in loader


def test_weights_go_back_after_grappler_and_a_stray_placeholder_is_refused():
    from keras_senet.export import to_onnx

    weight = np.arange(600, dtype="float32").reshape(20, 30)  # 2400 bytes: a weight; the 1.0 is not
    graph = tf.function(lambda x: tf.matmul(x, tf.constant(weight)) + 1.0).get_concrete_function(
        tf.TensorSpec((None, 20), name="x"))
    frozen = graph.graph.as_graph_def()
    light = to_onnx._weights_as_placeholders(frozen)
    kinds = {node.name: node.op for node in light.node}
    weights = [node.name for node in frozen.node if to_onnx._is_weight(node)]
    assert len(weights) == 1 and kinds[weights[0]] == "Placeholder" and light.ByteSize() < 1000
    values = to_onnx._weights_back(light, frozen, ["x:0"])
    restored = next(node for node in light.node if node.name == weights[0])
    # a Const of the weight's dtype and shape whose bytes are handed over apart, as tf2onnx's large_model
    # `compress_graph_def` would have moved them; through `lean_tf2onnx(weights=...)` tf2onnx gets them back
    assert restored.op == "Const" and not restored.attr["value"].tensor.tensor_content
    assert tf.TensorShape(restored.attr["value"].tensor.tensor_shape).as_list() == [20, 30]
    assert list(values) == weights
    with _compat.lean_tf2onnx(weights=values):
        given = __import__("tf2onnx").convert.compress_graph_def(light)
    restored.attr["value"].tensor.tensor_content = given[weights[0]]
    assert tf.make_ndarray(restored.attr["value"].tensor).tolist() == weight.tolist()
    assert __import__("tf2onnx").convert.compress_graph_def(light) == given  # unpatched again: moves the same
    stray = to_onnx._weights_as_placeholders(frozen)
    next(node for node in stray.node if node.op == "Placeholder" and node.name != "x").name = "renamed_by_grappler"
    with pytest.raises(RuntimeError, match="renamed_by_grappler"):
        to_onnx._weights_back(stray, frozen, ["x:0"])


def test_tflite_stages_trimmed_hooks_the_converter_only_within():
    """The private step it hooks exists in the pinned TensorFlow (else the trim silently does nothing), and
    the converter class is left as it was afterwards, also when the conversion fails."""
    from tensorflow.lite.python import lite

    original = lite.TFLiteConverterBase._optimize_tflite_model
    with pytest.raises(RuntimeError, match="conversion failed"):
        with _compat.tflite_stages_trimmed():
            assert lite.TFLiteConverterBase._optimize_tflite_model is not original
            raise RuntimeError("conversion failed")
    assert lite.TFLiteConverterBase._optimize_tflite_model is original
    _compat.release_freed_memory()  # glibc here: no error


def test_tflite_converter_from_saved_model_writes_the_public_converters_file_without_loading_it(tmp_path,
                                                                                              monkeypatch):
    """`tflite_converter_from_saved_model`: the same bytes as `tf.lite.TFLiteConverter.from_saved_model`, and
    the SavedModel is never loaded into the process (`tf.saved_model.load` keeps each load's graphs and
    variables: tensorflow/tensorflow#45453); the converter module is left as it was; a signature the SavedModel
    does not have is refused, naming the ones it has."""
    from tensorflow.lite.python import lite

    from keras_senet.export.to_saved_model import SERVE, write_saved_model

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)])
    write_saved_model(model, str(tmp_path / "sm"), (8, 8, 3), None, None)
    loads = []
    original = lite._load

    def spy(*args, **kwargs):
        loads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(lite, "_load", spy)

    public = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"), signature_keys=[SERVE])
    assert public.convert() and len(loads) == 2  # what the public route costs: two loads
    loads.clear()
    converter = _compat.tflite_converter_from_saved_model(str(tmp_path / "sm"), SERVE)
    written = converter.convert()
    assert loads == [] and lite._load is spy  # restored after the conversion
    public = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"), signature_keys=[SERVE])
    assert written == public.convert()
    with pytest.raises(ValueError, match="Invalid signature key 'nope'.*serve"):
        _compat.tflite_converter_from_saved_model(str(tmp_path / "sm"), "nope")


def _silu_graph():
    """A graph traced through `tf.nn.silu` (a `tf.custom_gradient`), dropped; returns a weak reference to it."""
    import weakref

    function = tf.function(lambda x: tf.nn.silu(x) * 2.0).get_concrete_function(tf.TensorSpec((2, 3), tf.float32))
    graph = weakref.ref(function.graph)
    del function
    return graph


def test_custom_gradients_released_frees_the_graphs_traced_within_and_keeps_the_others():
    """Outside the block, each graph-mode call of a custom gradient stays in TensorFlow's gradient registry and
    keeps its graph alive (tensorflow/tensorflow#27492: if this starts failing, upstream fixed the leak and the
    workaround can go). Within it, the graph is freed once dropped; entries registered before the block stay,
    and so does their graph: a function traced outside can still be differentiated."""
    import gc

    from tensorflow.python.framework import ops

    entries = ops._gradient_registry._registry
    kept = _silu_graph()
    gc.collect()
    assert kept() is not None  # the upstream leak this works around
    before = set(entries)
    with _compat.custom_gradients_released():
        released = _silu_graph()
        assert len(set(entries) - before) == 1
    gc.collect()
    assert released() is None and set(entries) == before
    assert kept() is not None
    x = tf.constant(np.linspace(-2, 2, 6, dtype="float32").reshape(2, 3))
    with tf.GradientTape() as tape:  # differentiating a graph-mode silu after the block: its entry is still there
        tape.watch(x)
        y = tf.function(lambda v: tf.nn.silu(v))(x)
    sigmoid = 1 / (1 + np.exp(-x.numpy()))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), sigmoid * (1 + x.numpy() * (1 - sigmoid)), rtol=1e-5)


def _saved_model(model, folder):
    from keras_senet.export.to_saved_model import write_saved_model

    write_saved_model(model, str(folder / "sm"), (8, 8, 3), None, None)
    assert (folder / "sm" / "saved_model.pb").is_file()  # (not loaded: a load keeps its graphs, tensorflow#45453)


def _onnx(model, folder):
    from keras_senet.export import to_onnx

    converted = to_onnx.convert(model, tf.TensorSpec((None, 8, 8, 3), tf.float32, name="image"), 17)
    assert [n.op_type for n in converted.graph.node].count("Sigmoid") == 1


def _verified_tflite(model, folder):
    from keras_senet.export import export

    assert export(model, str(folder / "m.tflite"), "tflite").passed  # written, then verified against Keras


@pytest.mark.parametrize("write", [_saved_model, _onnx, _verified_tflite], ids=["saved_model", "onnx", "tflite"])
def test_export_tracing_leaves_no_traced_graph_behind(tmp_path, write):
    """The SavedModel writer, the ONNX conversion and a verified export of a swish network keep none of the graphs
    they trace (they held ~90 MiB after EfficientNet-B5's SavedModel, tensorflow/tensorflow#27492) and none of the
    gradient-registry entries their tracing made."""
    import gc

    from tensorflow.python.framework import func_graph, ops

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="silu"),
                              keras.layers.BatchNormalization(), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)])
    gc.collect()
    graphs = sum(isinstance(o, func_graph.FuncGraph) for o in gc.get_objects())
    entries = set(ops._gradient_registry._registry)
    write(model, tmp_path)
    gc.collect()
    assert sum(isinstance(o, func_graph.FuncGraph) for o in gc.get_objects()) == graphs
    assert set(ops._gradient_registry._registry) == entries


@pytest.mark.parametrize("axis", [0, 3], ids=["conv-OHWI", "depthwise-1HWC"])
def test_ai_edge_large_kernels_quantized_as_ai_edge_quantizer_quantises_smaller_ones(axis):
    """ai-edge-quantizer's `uniform_quantize` on a 76 MiB kernel with per-channel scales along `axis`: alone it
    still fails (google-ai-edge/ai-edge-quantizer#512; when this part fails, upstream fixed it: drop the entry),
    within `ai_edge_large_kernels_quantized` every element equals round(w / scale) clipped to [-127, 127] in
    float32, as its own path computes a kernel under 32 MiB; the function is restored after the block."""
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.algorithms.uniform_quantize import uniform_quantize_tensor

    kernel = np.random.default_rng(0).standard_normal((2100, 3, 3, 1010)).astype("float32")
    assert kernel.nbytes > _compat.AI_EDGE_QUANTIZER_CHUNK_BYTES
    others = tuple(a for a in range(4) if a != axis)
    scale = (np.abs(kernel).max(axis=others, keepdims=True) / 127).astype("float32")
    params = qtyping.UniformQuantParams(num_bits=8, quantized_dimension=axis, scale=scale,
                                        zero_point=np.zeros(scale.shape, np.int32), symmetric=True)
    expected = np.clip(np.round(kernel / scale), -127, 127).astype(np.int8)
    upstream = uniform_quantize_tensor.uniform_quantize
    with pytest.raises(ValueError, match="axis remapping"):
        upstream(kernel, params)
    with _compat.ai_edge_large_kernels_quantized():
        quantized = uniform_quantize_tensor.uniform_quantize(kernel, params)
    assert uniform_quantize_tensor.uniform_quantize is upstream
    assert quantized.dtype == np.int8 and quantized.shape == kernel.shape
    np.testing.assert_array_equal(quantized, expected)
    # the reference is ai-edge-quantizer's own arithmetic: its unchunked path on a slice under 32 MiB agrees
    part = [slice(None)] * 4
    part[axis] = slice(0, 8)
    sliced = dataclasses.replace(params, scale=scale[tuple(part)], zero_point=params.zero_point[tuple(part)])
    np.testing.assert_array_equal(upstream(kernel[tuple(part)], sliced), expected[tuple(part)])
