"""ONNX writer: tf2onnx, step by step, on the function Keras' `model.export(format="onnx")` converts; optional fp16."""

from __future__ import annotations

import contextlib
import gc
import warnings

from keras_senet import _compat

DEFAULT_OPSET = 17


@contextlib.contextmanager
def grouped_conv_without_xla():
    """Trace grouped convolutions as plain ``Conv2D`` ops while the ONNX graph is traced.

    Keras' TensorFlow backend runs a grouped convolution (ResNeXt, SENet-154) inside an XLA-compiled
    ``tf.function``, because TF's CPU kernel lacks groups; tf2onnx cannot convert that nested call
    (``StatefulPartitionedCall is not supported``). The traced graph is only converted, never run by
    TensorFlow, so the plain grouped ``Conv2D`` (ONNX ``Conv`` with ``group``) is emitted instead.
    """
    import tensorflow as tf

    from keras_senet._compat import keras_tensorflow_nn, tf_conv_data_format

    nn = keras_tensorflow_nn()  # a private Keras module: see keras_senet/_compat.py
    original = nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = tf_conv_data_format(data_format, len(inputs.shape))
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), data_format=data_format,
                                 dilations=dilation_rate)

    nn.conv = conv
    try:
        yield
    finally:
        nn.conv = original


def supported_opsets():
    """The ONNX opsets tf2onnx can write (13 and up)."""
    from tf2onnx import constants

    return sorted(o for o in constants.OPSET_TO_IR_VERSION if o >= 13)


# A model whose float32 weights reach this many bytes is written with its weights in a second file: a
# protobuf (one .onnx file) holds at most 2 GiB. Sized by float32 whatever the quantisation (float16 is
# converted from the float32 model), so a model's layout does not depend on it.
EXTERNAL_DATA_FROM_BYTES = 2 ** 31
EXTERNAL_DATA_SUFFIX = ".data"  # `model.onnx` -> `model.onnx.data`, beside it


def uses_external_data(weight_count):
    """Whether a model of `weight_count` float32 weights is written as ``.onnx`` + ``.onnx.data``."""
    return 4 * weight_count >= EXTERNAL_DATA_FROM_BYTES


def external_data_path(path):
    """The weights file beside an ONNX file written with external data (`uses_external_data`)."""
    return str(path) + EXTERNAL_DATA_SUFFIX


def write_onnx(served, path, input_shape, batch_size, opset, quantize, external_data=False):
    """Write the Keras `served` model as ONNX at `path`: input ``image`` (or ``pixels``) float32
    ``(batch, H, W, C)`` with a dynamic batch axis when `batch_size` is None.

    `quantize` ``"float16"`` converts weights and compute to fp16 with onnxconverter-common, keeping
    float32 inputs/outputs (for the CUDA / TensorRT execution providers). `external_data` writes every
    weight over 1 KiB to ``external_data_path(path)`` (ONNX's external-data layout, for models over
    protobuf's 2 GiB; onnxruntime reads it from beside the ``.onnx``).
    """
    import tensorflow as tf

    import onnx

    name = served.inputs[0].name.split(":")[0]
    spec = tf.TensorSpec((batch_size,) + tuple(input_shape), tf.float32, name=name)
    with grouped_conv_without_xla():
        model = convert(served, spec, opset)
    hard_activations_fused(model)
    channel_scale_in_nchw(model)
    se_gate_as_conv(model)
    if quantize == "float16":
        from onnxconverter_common import float16

        outputs_as_leaves(model)
        _value_info_inferred(model)  # what float16's own shape inference gives, without serialising the weights
        model = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True)
    _save(model, path, external_data)
    del model
    onnx.checker.check_model(str(path))  # by path: the checker reads external data from beside it


def _save(model, path, external_data):
    import os

    import onnx

    if not external_data:
        onnx.save(model, str(path))
        return
    # onnx appends to an existing data file: `path` is in the export's own new temporary folder
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(external_data_path(path)), size_threshold=1024)


def _value_info_inferred(model):
    """Fill `model`'s value_info by ONNX shape inference on a copy without the weights' bytes
    (`_without_large_tensors`): the same types and shapes, no serialised copy of the weights (which
    fails beyond protobuf's 2 GiB)."""
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(_without_large_tensors(model))
    del model.graph.value_info[:]
    model.graph.value_info.extend(inferred.graph.value_info)


# Const nodes larger than this are weights: held out of Grappler's reach (small ones are shapes and scalars)
_WEIGHT_BYTES = 1024


def convert(served, spec, opset):
    """`served` traced at `spec` as ONNX (a ModelProto): the function Keras' ``model.export(format="onnx")``
    converts, through tf2onnx's own steps, without the copies of the weights those steps make.

    tf2onnx's `from_function` (what ``model.export`` calls) peaked at +88x the weight bytes over the built
    model (SE-ResNet-50: 9.9 GB) and took 64-118 s. Here (benchmarks/NOTES.md, "Export memory"):

    1. BatchNorm is folded into the convolutions at the Keras level (`keras_senet.folding`, a copy), the
       one thing Grappler's constant folding did with the weights;
    2. the function is frozen to a GraphDef only (no frozen function imported from it);
    3. Grappler (tf2onnx's constfold, function and dependency passes) runs with every weight constant
       over 1 KiB replaced by a Placeholder of its type and shape (in a copy of the GraphDef without
       them), so it neither copies nor folds them; the constants go back afterwards (a graph whose
       weights Grappler renamed is refused);
    4. tf2onnx converts with ``large_model=True`` (the weights stay out of TensorFlow's import), given the
       weights' bytes as a dict beside a GraphDef without them, and `keras_senet._compat.lean_tf2onnx` (no
       copies per optimiser pass); the weights are put back into the initializers, so the file is one
       self-contained ``.onnx``.

    SE-ResNet-50: +6.2x the weight bytes (224x224) in ~11 s. Models the fold cannot copy (subclassed) are
    converted unfolded (tf2onnx's constant folding then folds their BatchNorm arithmetic). Where one of
    tf2onnx's optimiser passes fails (`keras_senet._compat.OptimizerPassFailed`: keras.applications'
    MobileNetV3), the conversion is done again with tf2onnx's own catching, which skips the failing pass
    at the cost of a copy of the graph per pass; a warning says so.
    """
    from keras_senet import _compat

    try:
        return _convert(served, spec, opset, catch_errors=False)
    except _compat.OptimizerPassFailed as failure:
        cause = repr(failure.__cause__)
    # outside the except block, so that tf2onnx's logged tracebacks of the pass do not chain this one
    warnings.warn(f"{cause} in tf2onnx's optimiser; converting {served.name!r} again with tf2onnx's catching, "
                  "which skips the failing pass (slower, more memory)", stacklevel=2)
    return _convert(served, spec, opset, catch_errors=True)


def _convert(served, spec, opset, catch_errors):
    import tensorflow as tf
    from onnx import TensorProto
    from onnx.external_data_helper import uses_external_data

    steps = _compat.tf2onnx_steps()
    with _compat.custom_gradients_released():  # the trace dies once frozen (swish: tensorflow#27492)
        frozen, inputs, outputs, renames, name = _frozen(served, spec, steps)
    # the trace and the BatchNorm-folded copy are webs of reference cycles: freed here, before Grappler and
    # tf2onnx, not at the end (SE-ResNeXt-101 32x8d: +5.1x -> +4.3x its weight bytes, benchmarks/NOTES.md)
    gc.collect()
    with tf.device("/cpu:0"):
        with tf.Graph().as_default():
            graph_def = steps.grappler(inputs, outputs, _weights_as_placeholders(frozen))
        weights = _weights_back(graph_def, frozen, inputs)
        del frozen
        with _compat.lean_tf2onnx(catch_errors=catch_errors, weights=weights):
            model, storage = steps.convert(graph_def, name=name, continue_on_error=True, opset=opset,
                                           input_names=inputs, output_names=outputs, tensors_to_rename=renames,
                                           large_model=True)
    del graph_def, weights
    tensors = storage.name_to_tensor_data if storage is not None else {}
    for initializer in model.graph.initializer:
        if uses_external_data(initializer):
            location = {entry.key: entry.value for entry in initializer.external_data}["location"]
            initializer.raw_data = tensors.pop(location)
            del initializer.external_data[:]
            initializer.data_location = TensorProto.DEFAULT
    del storage, tensors
    # tf2onnx's graph is a web of reference cycles (nodes and graph point at each other): collected only here,
    # and glibc keeps what it frees. Done before the file is serialised (protobuf's bytes, then Python's copy):
    # ReXNet-300's ONNX export peaked there at +8.2x the weight bytes, +6.2x with this (benchmarks/NOTES.md).
    gc.collect()
    _compat.release_freed_memory()
    return model


def _frozen(served, spec, steps):
    """`served` (BatchNorm folded into a copy where it can be) traced at `spec` and frozen to a GraphDef;
    returns it with the input and output names, tf2onnx's output renames and the function's name."""
    import tensorflow as tf

    from keras_senet import folding

    source = served
    if folding.foldable_pairs(served):
        try:
            source = folding.fold_batchnorm(served)[0]
        except ValueError:  # a model Keras cannot copy: converted as it is
            pass
    concrete = steps.keras_function(source, [spec]).get_concrete_function(spec)
    inputs = [t.name for t in concrete.inputs if t.dtype != tf.dtypes.resource]
    outputs = [t.name for t in concrete.outputs if t.dtype != tf.dtypes.resource]
    renames = steps.output_names(concrete, inputs, outputs)
    with tf.device("/cpu:0"):
        frozen = steps.fix_freezing(steps.freeze(concrete))
    return frozen, inputs, outputs, renames, concrete.name


def _is_weight(node):
    return node.op == "Const" and len(node.attr["value"].tensor.tensor_content) > _WEIGHT_BYTES


def _weights_as_placeholders(graph_def):
    """A new GraphDef: `graph_def` with each Const node holding over 1 KiB replaced by a Placeholder of its
    dtype and shape (`graph_def` itself is left as it is: it keeps the weights for `_weights_back`)."""
    from tensorflow.core.framework import graph_pb2

    light = graph_pb2.GraphDef()
    light.versions.CopyFrom(graph_def.versions)
    light.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if not _is_weight(node):
            light.node.add().CopyFrom(node)
            continue
        placeholder = light.node.add(name=node.name, op="Placeholder", device=node.device)
        placeholder.attr["dtype"].type = node.attr["dtype"].type
        placeholder.attr["shape"].shape.CopyFrom(node.attr["value"].tensor.tensor_shape)
    return light


def _weights_back(optimized, frozen, inputs):
    """Turn the Placeholders `_weights_as_placeholders` made back into Const nodes of their dtype and shape
    in the GraphDef Grappler returned (`optimized`, in place), without their bytes: returns ``{node name:
    tensor bytes}`` from `frozen`, which tf2onnx's ``large_model`` takes as its `compress_graph_def` result
    (`keras_senet._compat.lean_tf2onnx(weights=...)`), so no GraphDef holds the weights during the
    conversion. A Placeholder that is neither one of them nor one of the function's `inputs` would become
    an ONNX input: refused (RuntimeError)."""
    inputs = {name.split(":")[0] for name in inputs}
    weights = {node.name: node for node in frozen.node if _is_weight(node)}
    values = {}
    for node in optimized.node:
        if node.op != "Placeholder" or node.name in inputs:
            continue
        weight = weights.get(node.name)
        if weight is None:
            raise RuntimeError(f"Grappler left a placeholder {node.name!r} that is not a weight held out of it "
                               "(renamed?): the ONNX file would take it as an input")
        tensor = weight.attr["value"].tensor
        node.op = "Const"
        node.attr.clear()
        node.attr["dtype"].type = weight.attr["dtype"].type
        node.attr["value"].tensor.dtype = tensor.dtype
        node.attr["value"].tensor.tensor_shape.CopyFrom(tensor.tensor_shape)
        values[node.name] = tensor.tensor_content
    return values


def hard_activations_fused(model):
    """Fuse what tf2onnx writes for Keras' hard-swish, ``Mul(x, Mul(Clip(Add(x, 3), 0, 6), 1/6))`` (or ``Div(.., 6)``),
    into one ``HardSwish(x)`` (opset >= 14), and the hard-sigmoid gate ``Mul(Clip(Add(x, 3), 0, 6), 1/6)`` into
    ``HardSigmoid(x, alpha=1/6, beta=0.5)``, as timm's own ONNX has them: one pass over the feature map
    instead of four. Equal up to float round-off (verification re-checks the model); returns the count.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}  # as protos: only the scalars are read as arrays
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)

    def constant(name, value):
        tensor = initializers.get(name)
        if tensor is None or int(np.prod(tensor.dims)) != 1:
            return False
        return bool(np.isclose(float(numpy_helper.to_array(tensor).reshape(())), value, rtol=1e-6))

    def only_consumer(node, op_type):
        users = consumers.get(node.output[0], [])
        ok = len(users) == 1 and users[0].op_type == op_type and node.output[0] not in outputs
        return users[0] if ok else None

    fused = 0
    for add in [n for n in graph.node if n.op_type == "Add" and len(n.input) == 2 and constant(n.input[1], 3.0)]:
        clip = only_consumer(add, "Clip")
        if clip is None or len(clip.input) != 3 or not (constant(clip.input[1], 0.0) and constant(clip.input[2], 6.0)):
            continue
        scale = only_consumer(clip, "Mul") or only_consumer(clip, "Div")  # x * (1/6), or x / 6 (no Grappler)
        if scale is None or not constant(scale.input[1], 1.0 / 6.0 if scale.op_type == "Mul" else 6.0):
            continue
        x, product = add.input[0], only_consumer(scale, "Mul")
        position = list(graph.node).index(add)
        if product is not None and x in product.input and opset >= 14:
            graph.node.insert(position, helper.make_node("HardSwish", [x], [product.output[0]],
                                                         name=product.name + "_hardswish"))
            replaced = [add, clip, scale, product]
        else:
            graph.node.insert(position, helper.make_node("HardSigmoid", [x], [scale.output[0]], alpha=1.0 / 6.0,
                                                         beta=0.5, name=scale.name + "_hardsigmoid"))
            replaced = [add, clip, scale]
        for node in replaced:
            graph.node.remove(node)
        fused += 1
    if fused:
        _drop_unused_initializers(graph)
    return fused


def _check_in_memory(model):
    """ONNX's checker on a rewritten model, where it fits one protobuf message (2 GiB); a larger one is
    checked by path once written (`write_onnx`): the checker (and ``ByteSize()``) must serialise it."""
    import onnx

    weight_bytes = sum(len(tensor.raw_data) for tensor in model.graph.initializer)
    if weight_bytes < 2 ** 31 - 2 ** 27:  # 128 MiB left for the graph itself
        onnx.checker.check_model(model)


def _drop_unused_initializers(graph):
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def outputs_as_leaves(model):
    """Give every graph output that other nodes also read (a feature map tapped mid-network, e.g.
    ``P2`` feeding the next stage) its own ``Identity``: the nodes inside read the original tensor.

    onnxconverter-common's fp16 conversion with ``keep_io_types`` casts a graph output back to
    float32 in place, so a node inside that read it would get float32 where its other inputs are fp16
    (onnxruntime: "Type (tensor(float16)) ... does not match expected type (tensor(float))"). Exact;
    returns the number of outputs given an Identity.
    """
    from onnx import helper

    graph = model.graph
    consumed = {name for node in graph.node for name in node.input}
    inputs = {i.name for i in graph.input}
    rewritten = 0
    for output in graph.output:
        if output.name not in consumed or output.name in inputs:
            continue
        inner = output.name + "__inner"
        for node in graph.node:
            node.output[:] = [inner if name == output.name else name for name in node.output]
            node.input[:] = [inner if name == output.name else name for name in node.input]
        graph.node.append(helper.make_node("Identity", [inner], [output.name], name=output.name + "__leaf"))
        rewritten += 1
    return rewritten


def _without_large_tensors(model):
    """A copy of `model` for shape inference: initializers over 1 KiB keep their name, type and dims but
    not their data (inference reads only those; shape tensors, which it reads, are small). Shape
    inference on the whole model serialised and copied every weight twice, the export's peak."""
    import onnx
    from onnx import TensorProto

    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    graph = light.graph
    graph.node.extend(model.graph.node)
    graph.input.extend(model.graph.input)
    graph.output.extend(model.graph.output)
    graph.value_info.extend(model.graph.value_info)
    for initializer in model.graph.initializer:
        if initializer.ByteSize() > 1024:
            initializer = TensorProto(name=initializer.name, data_type=initializer.data_type, dims=initializer.dims)
        graph.initializer.append(initializer)
    return light


def _perm(node):
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), None)


def channel_scale_in_nchw(model):
    """Rescale channels in NCHW: rewrite ``Transpose(NCHW->NHWC) -> Mul(x, gate) -> Transpose(NHWC->NCHW)``
    as ``Mul(x, Transpose(gate))`` when the gate is ``(N, 1, 1, C)``. Returns the number rewritten.

    tf2onnx runs convolutions in NCHW and moves the layout transposes out of the way, but not past the
    SE/ECA channel-rescaling multiply (its gate comes from a rank-2 vector), so each attention block
    transposed its full feature map twice: ~1.5x the latency of timm's own ONNX on onnxruntime. The
    gate is tiny; transposing it instead is exact (verification re-checks the whole model).
    """
    from onnx import helper, shape_inference

    inferred = shape_inference.infer_shapes(_without_large_tensors(model))
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    rewritten = 0
    for first in list(graph.node):
        if first.op_type != "Transpose" or _perm(first) != [0, 2, 3, 1] or first.output[0] in outputs:
            continue
        users = consumers.get(first.output[0], [])
        if len(users) != 1 or users[0].op_type != "Mul" or users[0].output[0] in outputs:
            continue
        mul = users[0]
        after = consumers.get(mul.output[0], [])
        if len(after) != 1 or after[0].op_type != "Transpose" or _perm(after[0]) != [0, 3, 1, 2]:
            continue
        gate = [name for name in mul.input if name != first.output[0]]
        shape = shapes.get(gate[0]) if len(gate) == 1 else None
        if not shape or len(shape) != 4 or shape[1:3] != [1, 1]:
            continue
        second = after[0]
        gate_nchw = helper.make_node("Transpose", [gate[0]], [gate[0] + "_nchw"], perm=[0, 3, 1, 2],
                                     name=(mul.name or gate[0]) + "_gate_nchw")
        position = list(graph.node).index(mul)
        graph.node.insert(position, gate_nchw)
        mul.input[:] = [first.input[0], gate_nchw.output[0]]
        mul.output[0] = second.output[0]
        graph.node.remove(first)
        graph.node.remove(second)
        rewritten += 1
    if rewritten:
        _check_in_memory(model)
    return rewritten


_ELEMENTWISE = {"Relu", "Sigmoid", "HardSigmoid", "Tanh", "HardSwish", "LeakyRelu", "Elu"}


def _is_gate_op(node, initializers):
    """An op of an SE gate's vector chain: an activation, MatMul/Add/Mul by a constant, Clip by constants."""
    if node.op_type in _ELEMENTWISE:
        return True
    if node.op_type in ("MatMul", "Add", "Mul"):
        return len(node.input) == 2 and node.input[1] in initializers
    return node.op_type == "Clip" and all(name in initializers for name in node.input[1:])


def _swish(name, consumers, outputs):
    """(Sigmoid, Mul) when `name` is read only by ``Mul(name, Sigmoid(name))`` (tf2onnx's SiLU); else ()."""
    users = consumers.get(name, [])
    if name in outputs or len(users) != 2:
        return ()
    sigmoid = next((n for n in users if n.op_type == "Sigmoid"), None)
    mul = next((n for n in users if n.op_type == "Mul"), None)
    if sigmoid is None or mul is None or sorted(mul.input) != sorted([name, sigmoid.output[0]]):
        return ()
    if consumers.get(sigmoid.output[0], []) != [mul] or sigmoid.output[0] in outputs:
        return ()
    return (sigmoid, mul)


def _gate_to_nhwc(node, only_consumer, initializers):
    """The nodes that turn the (N, C) gate into (N, 1, 1, C): ``Unsqueeze -> Unsqueeze`` or one ``Reshape``
    to a constant ``[-1 or N, 1, 1, C]`` (`keras_senet.layers._common.channel_scale`); [] otherwise."""
    from onnx import numpy_helper

    if node is None:
        return []
    if node.op_type == "Reshape" and len(node.input) == 2 and node.input[1] in initializers:
        shape = list(numpy_helper.to_array(initializers[node.input[1]]))
        return [node] if len(shape) == 4 and shape[1:3] == [1, 1] else []
    second = only_consumer(node.output[0]) if node.op_type == "Unsqueeze" else None
    return [node, second] if second is not None and second.op_type == "Unsqueeze" else []


def se_gate_as_conv(model):
    """Compute SE gates on ``(N, C, 1, 1)`` tensors, as timm's own ONNX does: rewrite
    ``GlobalAveragePool -> Squeeze -> MatMul(W) [-> Add(b)] -> act -> ... -> Reshape (or Unsqueeze x2) ->
    Transpose -> Mul`` (what tf2onnx makes of a Dense-on-pooled-vector SE after `channel_scale_in_nchw`;
    the activations may be decomposed into Add/Mul by constants and Clip, as tf2onnx writes hard-sigmoid)
    as ``GlobalAveragePool -> Conv 1x1 -> act -> ... -> Mul``. Exact (the same products and sums);
    returns the number of gates rewritten. Chains of any other shape are left as they are.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}

    def only_consumer(name):
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in outputs else None

    rewritten = 0
    for squeeze in [n for n in graph.node if n.op_type == "Squeeze"]:
        pool = producers.get(squeeze.input[0])
        if pool is None or pool.op_type != "GlobalAveragePool" or len(squeeze.input) < 2:
            continue
        if squeeze.input[1] not in initializers or sorted(numpy_helper.to_array(initializers[squeeze.input[1]])) != [2, 3]:
            continue
        chain, last = [], squeeze.output[0]
        while True:
            node = only_consumer(last)
            link = (node,) if node is not None and _is_gate_op(node, initializers) else _swish(last, consumers, outputs)
            if not link:
                break
            chain.append(link)
            last = link[-1].output[0]
        tail = _gate_to_nhwc(node, only_consumer, initializers)
        transpose = only_consumer(tail[-1].output[0]) if tail else None
        mul = only_consumer(transpose.output[0]) if transpose is not None else None
        if (not chain or chain[0][0].op_type != "MatMul" or mul is None or mul.op_type != "Mul"
                or transpose.op_type != "Transpose" or _perm(transpose) != [0, 3, 1, 2]):
            continue
        new_nodes, previous = [], pool.output[0]
        for link in chain:
            node = link[0]
            out = link[-1].output[0] + "_nc11"
            if len(link) == 2:  # swish: x * sigmoid(x)
                new_nodes.append(helper.make_node("Sigmoid", [previous], [out + "_sigmoid"], name=out + "_sigmoid"))
                new_nodes.append(helper.make_node("Mul", [previous, out + "_sigmoid"], [out], name=out + "_swish"))
            elif node.op_type == "MatMul":
                weight = numpy_helper.to_array(initializers[node.input[1]])
                name = node.input[1] + "_conv1x1"
                graph.initializer.append(numpy_helper.from_array(weight.T[:, :, None, None].copy(), name))
                new_nodes.append(helper.make_node("Conv", [previous, name], [out], kernel_shape=[1, 1],
                                                  name=(node.name or out) + "_conv1x1"))
            elif node.op_type in ("Add", "Mul"):  # a bias, or the constants of a decomposed hard-sigmoid
                constant = numpy_helper.to_array(initializers[node.input[1]])
                name = out + "_constant"  # constants may be shared between nodes; each copy gets its own name
                if constant.size > 1:
                    constant = constant.reshape(1, -1, 1, 1)
                graph.initializer.append(numpy_helper.from_array(constant.copy(), name))
                new_nodes.append(helper.make_node(node.op_type, [previous, name], [out],
                                                  name=(node.name or out) + "_nc11"))
            elif node.op_type == "Clip":
                new_nodes.append(helper.make_node("Clip", [previous, *node.input[1:]], [out],
                                                  name=(node.name or out) + "_nc11"))
            else:
                new_nodes.append(helper.make_node(node.op_type, [previous], [out], name=(node.name or out) + "_nc11"))
                new_nodes[-1].attribute.extend(node.attribute)
            previous = out
        position = list(graph.node).index(squeeze)
        for offset, new in enumerate(new_nodes):
            graph.node.insert(position + offset, new)
        mul.input[list(mul.input).index(transpose.output[0])] = previous
        for old in [squeeze, *(node for link in chain for node in link), *tail, transpose]:
            graph.node.remove(old)
        rewritten += 1
    if rewritten:
        _drop_unused_initializers(graph)
        _check_in_memory(model)
    return rewritten
