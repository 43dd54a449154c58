"""ONNX files of consecutive model pieces joined into one model, as if the whole model had been converted.

`merge_onnx(piece_paths, path, external_data)`: the pieces are read without their weights
(``load_external_data=False``: each piece is written with external data), their names prefixed and their
graphs joined by `onnx.compose.merge_graphs` (piece k's input fed by piece k-1's output); the joined model
keeps the first piece's input names and the last piece's output names. Its weights are then either the
pieces' weight files concatenated into one (``path + ".data"``, offsets renumbered: a copy on disk, never
in memory) or, for a model under protobuf's 2 GiB, read in and stored inside the ``.onnx``.

The graph join is onnx's own; what is written here is the renaming of the joined model's inputs and outputs
back to the model's names and the concatenation of the weight files, which no onnx tool does for models
whose weights are not loaded.
"""

from __future__ import annotations

import os
import shutil

_ALIGNMENT = 4096  # each piece's weights start on a page in the joined file (memory-mapped by onnxruntime)


def merge_onnx(piece_paths, path, external_data):
    """Join the ONNX files `piece_paths` (each written with external data, all in one folder, their data files
    named apart; each piece's single input is the previous piece's single output) into `path`, with the
    weights beside it at ``path + ".data"`` when `external_data`, else inside it. Raises `ValueError` when the
    pieces do not fit together."""
    import onnx
    import onnx.compose

    folder = os.path.dirname(os.path.abspath(piece_paths[0]))
    if any(os.path.dirname(os.path.abspath(piece)) != folder for piece in piece_paths):
        raise ValueError(f"merge_onnx: the pieces must be in one folder (their weights are found by file name): "
                         f"{[str(piece) for piece in piece_paths]}")

    pieces = [onnx.load(str(piece), load_external_data=False) for piece in piece_paths]
    inputs = [value.name for value in pieces[0].graph.input]
    outputs = [value.name for value in pieces[-1].graph.output]
    prefixed = [onnx.compose.add_prefix(piece, f"piece{index}/") for index, piece in enumerate(pieces)]
    merged = prefixed[0]
    for index, piece in enumerate(prefixed[1:], 1):
        if len(merged.graph.output) != 1 or len(piece.graph.input) != 1:
            raise ValueError(f"piece {index} ({piece_paths[index]}): pieces to join have one input each and, but for "
                             f"the last, one output; the joined model before it has {len(merged.graph.output)} "
                             f"outputs, the piece {len(piece.graph.input)} inputs")
        given, taken = merged.graph.output[0], piece.graph.input[0]
        if _described(given) != _described(taken):
            raise ValueError(f"piece {index} ({piece_paths[index]}) takes {_described(taken)}, the piece before gives "
                             f"{_described(given)}: the pieces are not consecutive pieces of one model")
        if (merged.ir_version, list(merged.opset_import)) != (piece.ir_version, list(piece.opset_import)):
            raise ValueError(f"piece {index} ({piece_paths[index]}) has IR version {piece.ir_version} and opsets "
                             f"{list(piece.opset_import)}, the first piece {merged.ir_version} and "
                             f"{list(merged.opset_import)}: convert the pieces with the same opset")
        # (merge_graphs, not merge_models: that one checks the model in memory, where the checker looks for the
        # pieces' weight files from the working directory)
        graph = onnx.compose.merge_graphs(merged.graph, piece.graph, io_map=[(given.name, taken.name)],
                                          name=pieces[0].graph.name)
        merged = onnx.helper.make_model(graph, producer_name=pieces[0].producer_name,
                                        producer_version=pieces[0].producer_version,
                                        opset_imports=list(merged.opset_import), ir_version=merged.ir_version)
        _transposes_cancelled(merged.graph, given.name)
    for value, name in zip(list(merged.graph.input), inputs):
        _rename(merged.graph, value.name, name)
    for value, name in zip(list(merged.graph.output), outputs):
        _rename(merged.graph, value.name, name)
    if external_data:
        _concatenate_weights(merged, path, folder)
        onnx.save(merged, str(path))
    else:
        onnx.load_external_data_for_model(merged, folder)
        onnx.save(merged, str(path))
    del merged, prefixed, pieces
    onnx.checker.check_model(str(path))  # by path: the checker reads the external data from beside it


def _described(value):
    """(element type, shape) of a graph input or output; a dynamic dimension (named by the converter,
    differently in each piece) is None."""
    tensor = value.type.tensor_type
    return tensor.elem_type, [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]


def _external(tensor):
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL


def _concatenate_weights(model, path, folder):
    """Copy every piece's data file into ``path + ".data"`` (each on a page boundary) and point the tensors
    at it: location the new file's name, offsets moved by where its piece's file starts."""
    data_path = str(path) + ".data"
    starts = {}
    for tensor in model.graph.initializer:
        if _external(tensor):
            for entry in tensor.external_data:
                if entry.key == "location":
                    starts.setdefault(entry.value, None)
    with open(data_path, "wb") as joined:
        for source in starts:
            joined.write(b"\0" * (-joined.tell() % _ALIGNMENT))
            starts[source] = joined.tell()
            with open(os.path.join(folder, source), "rb") as piece:
                shutil.copyfileobj(piece, joined, 16 * 2 ** 20)
    for tensor in model.graph.initializer:
        if not _external(tensor):
            continue
        entries = {entry.key: entry for entry in tensor.external_data}
        start = starts[entries["location"].value]
        entries["location"].value = os.path.basename(data_path)
        if "offset" in entries:
            entries["offset"].value = str(int(entries["offset"].value) + start)
        else:
            entry = tensor.external_data.add()
            entry.key, entry.value = "offset", str(start)


def _transposes_cancelled(graph, name):
    """Drop the Transpose pair at a join: tf2onnx ends a piece by transposing its NCHW result back to the
    model's NHWC (`name`), and starts the next by transposing NHWC to NCHW; where every reader of `name` is
    that inverse Transpose, both go and the readers of its output read the NCHW tensor."""
    producers = [node for node in graph.node if name in node.output]
    readers = [node for node in graph.node if name in node.input]
    if len(producers) != 1 or producers[0].op_type != "Transpose" or not readers:
        return
    first = _perm(producers[0])
    if any(node.op_type != "Transpose" or [first[i] for i in _perm(node)] != list(range(len(first)))
           for node in readers):
        return
    source = producers[0].input[0]
    for reader in readers:
        for node in graph.node:
            for index, value in enumerate(node.input):
                if value == reader.output[0]:
                    node.input[index] = source
    for node in [producers[0]] + readers:
        graph.node.remove(node)


def _perm(node):
    return next(list(attribute.ints) for attribute in node.attribute if attribute.name == "perm")


def _rename(graph, old, new):
    """Rename the value `old` to `new` everywhere in `graph` (nodes, inputs, outputs, value infos)."""
    for node in graph.node:
        for values in (node.input, node.output):
            for index, name in enumerate(values):
                if name == old:
                    values[index] = new
    for values in (graph.input, graph.output, graph.value_info):
        for value in values:
            if value.name == old:
                value.name = new
