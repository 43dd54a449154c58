"""A functional Keras model cut into consecutive pieces, so that a converter never holds the whole of it.

A *cut* is a tensor that every path from the model's input to its outputs goes through: a stem's output,
each residual block's output, each stage's output. Running the pieces one after the other, each on the
previous one's output, is running the model; `split` returns them as Keras models sharing the model's
layers (no weights are copied). The low-memory export converts each piece in its own process and joins the
files (`keras_senet.export.tflite_merge`, `keras_senet.export.onnx_merge`), so the converter's copies of the
weights (about 5x the weight bytes at its peak: benchmarks/NOTES.md) are a piece's, not the model's.

A model with several outputs (a feature pyramid) is cut only before its first output: the last piece gives them
all.

Cuts are found from the graph's structure: `model.operations` (in the order Keras runs them) and each
operation's call in this model (`keras_senet._compat.functional_calls`: the tensors it reads and makes). A model
with a layer called more than once (a shared layer) is refused.
"""

from __future__ import annotations

import math

import numpy as np

# The weight bytes one piece holds at most when `pieces` is chosen automatically. TensorFlow's converter
# peaks at about +5x a SavedModel's weight bytes (README, "Memory and time of an export"): 1 GiB pieces
# keep each converting process near 6 GB, whatever the model's size.
PIECE_BYTES = 2 ** 30
# TensorFlow's int8: its calibrator holds about 8x the weight bytes it converts, where the export's first
# process, which loads the Keras model, holds about 3x. So a model of `INT8_PIECES_FROM` or more of weights
# is cut in at least `INT8_MIN_PIECES`: each converting process then holds about what the first one does
# (SE-ResNeXt-101 32x8d, 358 MiB: +1.7x the weights over the held model in 3 pieces, +6.9x whole;
# benchmarks/NOTES.md, "TensorFlow's int8 in three pieces"). Below it the converter's fixed ~0.5 GB dominates.
INT8_MIN_PIECES = 3
INT8_PIECES_FROM = 100 * 2 ** 20


def automatic_pieces(model, calibrated_int8=False):
    """How many pieces the low-memory export cuts `model` into when not told: 1 up to `PIECE_BYTES` of
    weights, then one per `PIECE_BYTES`; for TensorFlow's int8 (`calibrated_int8`) at least
    `INT8_MIN_PIECES` from `INT8_PIECES_FROM` of weights. Never more than the model's cuts + 1."""
    weight_bytes = _weight_bytes(model.weights)
    needed = max(1, math.ceil(weight_bytes / PIECE_BYTES))
    wanted = max(needed, INT8_MIN_PIECES) if calibrated_int8 and weight_bytes >= INT8_PIECES_FROM else needed
    if wanted == 1:
        return 1
    try:
        return min(wanted, len(cuts(model)) + 1)
    except ValueError:  # a model that cannot be cut (shared layers): whole, unless its size needs pieces
        if needed == 1:
            return 1
        raise


def cuts(model):
    """The model's cut tensors, in order, as ``(position, tensor, weight bytes before it)``; `position` is
    the index in ``model.operations`` of the operation that produces it.

    A tensor read next by a BatchNormalization or by a weightless op that keeps its shape (an activation,
    a dropout) is not a cut worth making: converters fuse those into the op before (conv -> BatchNorm ->
    ReLU, a residual ``Add`` and its ReLU), and a cut between them would keep them apart.
    """
    from keras_senet._compat import functional_calls

    operations = list(model.operations)
    calls = functional_calls(model)
    shared = [op.name for op in operations if len(calls.get(id(op), ())) != 1]
    if shared:
        raise ValueError(f"{model.name!r} cannot be cut into pieces: {', '.join(shared[:3])} "
                         f"{'is' if len(shared) == 1 else 'are'} called more than once (shared layers); export it "
                         "whole (pieces=1)")
    inputs = [_tensors(calls[id(op)][0].input_tensors) for op in operations]
    outputs = [_tensors(calls[id(op)][0].output_tensors) for op in operations]
    last_use = {}
    for position, tensors in enumerate(inputs):
        for tensor in tensors:
            last_use[id(tensor)] = position
    for tensor in _tensors(model.output):  # the model's outputs are used after the last operation
        last_use[id(tensor)] = len(operations)
    model_outputs = {id(tensor) for tensor in _tensors(model.output)}
    live, found, weight_bytes = {}, [], 0
    for position, op in enumerate(operations):
        for tensor in inputs[position]:
            if last_use.get(id(tensor)) == position:
                live.pop(id(tensor), None)
        for tensor in outputs[position]:
            if last_use.get(id(tensor), -1) > position:
                live[id(tensor)] = tensor
        weight_bytes += _weight_bytes(getattr(op, "weights", []))
        if len(live) == 1 and position < len(operations) - 1:
            (tensor,) = live.values()
            if id(tensor) in model_outputs or _fused_into_the_op_before(operations[position + 1],
                                                                        outputs[position + 1], tensor):
                continue
            found.append((position, tensor, weight_bytes))
    return [cut for cut in found if cut[0] > 0]  # (the input itself is not a cut worth making)


def check_count(pieces):
    """Refuse a number of pieces that is not a positive integer."""
    if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1:
        raise ValueError(f"pieces={pieces!r}: give a positive whole number of pieces (1: the whole model), or None "
                         "to choose by the weights' size")


def split(model, pieces):
    """`model` as `pieces` Keras models run one after the other: piece 0 takes the model's input, each
    next one the previous one's output, the last one gives the model's outputs (their names kept).

    The cuts are chosen so that each piece holds about the same weight bytes (`cuts`). Raises
    `ValueError` when `pieces` is not a positive integer or the model has fewer cuts than it needs.
    """
    import keras

    check_count(pieces)
    if pieces == 1:
        return [model]
    available = cuts(model)
    if len(available) < pieces - 1:
        raise ValueError(f"pieces={pieces}: {model.name!r} can be cut into at most {len(available) + 1} pieces (it "
                         f"has {len(available)} tensors every path goes through)")
    total = _weight_bytes(model.weights)
    chosen = []
    for j in range(1, pieces):  # the cut nearest to j/pieces of the weights, after the one chosen before
        after = [cut for cut in available if not chosen or cut[0] > chosen[-1][0]]
        after = after[: len(after) - (pieces - 1 - j)]  # leave a cut for each piece still to come
        chosen.append(min(after, key=lambda cut: abs(cut[2] - total * j / pieces)))
    boundaries = [model.input] + [tensor for _, tensor, _ in chosen] + [model.output]
    return [keras.Model(boundaries[i], boundaries[i + 1], name=f"{model.name}_piece{i}")
            for i in range(pieces)]


def _fused_into_the_op_before(op, outputs, tensor):
    """Whether `op` (making `outputs`), which reads `tensor`, is what converters fuse into the op that made it."""
    import keras

    if isinstance(op, keras.layers.BatchNormalization):
        return True
    if getattr(op, "weights", None):
        return False
    return len(outputs) == 1 and tuple(outputs[0].shape) == tuple(tensor.shape)


def _tensors(structure):
    import keras

    return [t for t in keras.tree.flatten(structure) if t is not None]


def _weight_bytes(weights):
    return sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in weights)
