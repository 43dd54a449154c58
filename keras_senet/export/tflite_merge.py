"""TFLite files of consecutive model pieces joined into one file, as if the whole model had been converted.

`merge_tflite(piece_paths, path)`: piece k's input tensor becomes piece k-1's output tensor (int8 pieces
calibrated apart: a QUANTIZE op requantises the one into the other where their scales differ); the pieces'
tensors, operators, operator codes and buffers are appended to the first one's (indices renumbered), the
signature keeps the first piece's input names and takes the last piece's output names, and the file's
``min_runtime_version`` is the highest the pieces need. Pieces are read with LiteRT's own FlatBuffer tools
(`ai_edge_litert.tools.flatbuffer_utils`, through `keras_senet._compat.tflite_flatbuffer`; memory-mapped: their weights are not copied) and a file over
2 GiB is written with its buffers after the FlatBuffer, addressed by 64-bit offsets (the layout TensorFlow's
converter writes with ``_experimental_use_buffer_offset`` and ai-edge-quantizer writes for large models).

Written by hand because no TFLite tool joins models: TensorFlow's converter, LiteRT and ai-edge-quantizer
read, modify and write one model at a time. The join is index bookkeeping over the schema's object API;
`tests/test_export_pieces.py` checks that the joined file runs in LiteRT as the whole conversion does.
"""

from __future__ import annotations

import numpy as np

# The FlatBuffer format addresses at most 2 GiB; a joined model over it keeps its buffers after it.
FLATBUFFER_LIMIT = 2 ** 31
_EXTERNAL_FROM_BYTES = 1024  # buffers this large or larger go after the FlatBuffer (ai-edge-quantizer's rule)


def merge_tflite(piece_paths, path, buffer_offsets=None):
    """Join the single-subgraph ``.tflite`` files `piece_paths` (each piece's input is the previous one's
    output) into one file at `path`. `buffer_offsets`: None -> only when the weights reach 2 GiB; True /
    False to choose. Raises `ValueError` when a piece has several subgraphs or inputs, or when a piece's
    input does not match the previous piece's output (shape, type, quantisation)."""
    from keras_senet._compat import tflite_flatbuffer

    models = [tflite_flatbuffer("litert").read_model(str(piece)) for piece in piece_paths]
    if not models:
        raise ValueError("merge_tflite needs at least one piece")
    for model in models:  # a piece written with buffer offsets reads as memoryviews: packed inline, one byte a step
        for buffer in model.buffers:
            if buffer.data is not None and not isinstance(buffer.data, np.ndarray):
                buffer.data = np.frombuffer(buffer.data, np.uint8)
    for index, model in enumerate(models):
        _check_piece(model, index, piece_paths[index], last=index == len(models) - 1)
    merged = models[0]
    for index, piece in enumerate(models[1:], 1):
        _append(merged, piece, index, piece_paths[index])
    _set_min_runtime_version(merged, max(_min_runtime_version(model) for model in models))
    size = sum(len(buffer.data) for buffer in merged.buffers if buffer.data is not None)
    # (the FlatBuffer's own tables and alignment come on top of the weights: 64 MiB of margin)
    _write(merged, path, size >= FLATBUFFER_LIMIT - 2 ** 26 if buffer_offsets is None else buffer_offsets)


def _check_piece(model, index, path, last):
    graph_count = len(model.subgraphs or [])
    inputs = list(model.subgraphs[0].inputs) if graph_count else []
    outputs = list(model.subgraphs[0].outputs) if graph_count else []
    if graph_count != 1 or len(inputs) != 1 or (not last and len(outputs) != 1) or len(model.signatureDefs or []) != 1:
        raise ValueError(f"piece {index} ({path}): a piece to join has one subgraph, one input, one signature and, "
                         f"unless it is the last, one output; it has {graph_count} subgraphs, {len(inputs)} inputs, "
                         f"{len(outputs)} outputs, {len(model.signatureDefs or [])} signatures")


def _append(merged, piece, index, path):
    """Append `piece` (one subgraph) to `merged`, its input joined to `merged`'s output."""
    graph, addition = merged.subgraphs[0], piece.subgraphs[0]
    (joined_input,) = addition.inputs
    (joined_output,) = graph.outputs
    _check_join(graph.tensors[joined_output], addition.tensors[joined_input], index, path)
    requantize = _quantization(graph.tensors[joined_output]) != _quantization(addition.tensors[joined_input])
    codes = [_code_index(merged, code) for code in piece.operatorCodes]
    buffers = [0] + list(range(len(merged.buffers), len(merged.buffers) + len(piece.buffers) - 1))
    merged.buffers.extend(piece.buffers[1:])  # (buffer 0 is every model's empty buffer)
    names = {tensor.name for tensor in graph.tensors}
    tensors = {-1: -1, joined_input: joined_output}  # (-1: an optional input left out)
    for number, tensor in enumerate(addition.tensors):
        if number == joined_input and not requantize:
            continue
        tensor.buffer = buffers[tensor.buffer]
        if tensor.name in names:  # names stay unique: quantisers and debuggers key tensors by name
            tensor.name = f"piece{index}/".encode() + tensor.name
        tensors[number] = len(graph.tensors)
        graph.tensors.append(tensor)
    if requantize:  # int8 pieces calibrated apart: the output's scale and the next input's differ slightly
        from ai_edge_litert import schema_py_generated as schema

        quantize = schema.OperatorCodeT()
        quantize.builtinCode = quantize.deprecatedBuiltinCode = schema.BuiltinOperator.QUANTIZE
        quantize.version = 2  # (int8 -> int8 requantisation)
        operator = schema.OperatorT()
        operator.opcodeIndex = _code_index(merged, quantize)
        operator.inputs, operator.outputs = [joined_output], [tensors[joined_input]]
        graph.operators.append(operator)
    for operator in addition.operators:
        operator.opcodeIndex = codes[operator.opcodeIndex]
        operator.inputs = [tensors[i] for i in operator.inputs]
        operator.outputs = [tensors[i] for i in operator.outputs]
        if operator.intermediates is not None:
            operator.intermediates = [tensors[i] for i in operator.intermediates]
        operator.debugMetadataIndex = -1  # (the piece's debug metadata is not carried over)
        graph.operators.append(operator)
    graph.outputs = [tensors[i] for i in addition.outputs]
    signature = merged.signatureDefs[0]
    signature.outputs = piece.signatureDefs[0].outputs
    for output in signature.outputs:
        output.tensorIndex = tensors[output.tensorIndex]


def _check_join(output, input, index, path):
    def described(tensor):
        return list(tensor.shape), int(tensor.type)

    if described(output) != described(input):
        raise ValueError(f"piece {index} ({path}) takes (shape, type) {described(input)}, the piece before gives "
                         f"{described(output)}: the pieces are not consecutive pieces of one model")
    if _quantization(output) != _quantization(input) and (None in (_quantization(output), _quantization(input))
                                                          or len(_quantization(output)[0]) != 1):
        raise ValueError(f"piece {index} ({path}) takes quantisation {_quantization(input)}, the piece before gives "
                         f"{_quantization(output)}: only per-tensor scales can be requantised at a join")


def _quantization(tensor):
    """(scales, zero points) of a quantised tensor, None for a float one."""
    quantization = tensor.quantization
    if quantization is None or quantization.scale is None or not len(quantization.scale):
        return None
    return [float(x) for x in quantization.scale], [int(x) for x in quantization.zeroPoint]


def _code_index(merged, code):
    """The index of `code` in `merged`'s operator codes, appended when new."""
    key = (code.builtinCode, code.deprecatedBuiltinCode, code.customCode, code.version)
    for number, known in enumerate(merged.operatorCodes):
        if (known.builtinCode, known.deprecatedBuiltinCode, known.customCode, known.version) == key:
            return number
    merged.operatorCodes.append(code)
    return len(merged.operatorCodes) - 1


def _min_runtime_version(model):
    """The model's ``min_runtime_version`` metadata as a tuple of ints ((0,) when it has none)."""
    for metadata in model.metadata or []:
        if metadata.name == b"min_runtime_version":
            text = bytes(model.buffers[metadata.buffer].data).rstrip(b"\0").decode()
            return tuple(int(part) for part in text.split(".") if part.isdigit())
    return (0,)


def _set_min_runtime_version(model, version):
    for metadata in model.metadata or []:
        if metadata.name == b"min_runtime_version" and version != (0,):
            buffer = model.buffers[metadata.buffer]
            text = ".".join(str(part) for part in version).encode()
            buffer.data = np.frombuffer(text.ljust(max(len(text), len(buffer.data)), b"\0"), np.uint8)


def _round_up_16(offset):
    return (offset + 15) & ~15


def _write(model, path, buffer_offsets):
    """`model` (a ``ModelT``) to `path`; with `buffer_offsets`, its large buffers after the FlatBuffer,
    streamed from the pieces' memory maps (no copy of the weights is held)."""
    from ai_edge_litert import schema_py_generated as schema

    from keras_senet._compat import tflite_flatbuffer

    flatbuffer_utils = tflite_flatbuffer("litert")
    if not buffer_offsets:
        with open(path, "wb") as f:
            f.write(flatbuffer_utils.convert_object_to_bytearray(model))
        return
    outside = {}
    for number, buffer in enumerate(model.buffers):
        if buffer.data is not None and len(buffer.data) >= _EXTERNAL_FROM_BYTES:
            outside[number] = memoryview(np.ravel(np.asarray(buffer.data)).view(np.uint8))
            buffer.data, buffer.offset, buffer.size = None, 1, 1  # (non-default: packed, set below)
    header = flatbuffer_utils.convert_object_to_bytearray(model)
    packed = schema.Model.GetRootAs(header, 0)
    position, placed = _round_up_16(len(header)), []
    for number, data in outside.items():
        flatbuffer_utils.update_packed_buffer(packed.Buffers(number), offset=position, size=len(data))
        placed.append((position, data))
        position = _round_up_16(position + len(data))
    with open(path, "wb") as f:
        f.write(header)
        for position, data in placed:
            f.write(b"\0" * (position - f.tell()))
            f.write(data)
