"""Freezing: which layers train in each phase (the head; the top stages or all).

Stages come from the architecture's `feature_info` (the registry entry the model carries), never from
layer-name patterns, so every family freezes the same way.
"""

from __future__ import annotations


def _stages(model):
    """``{id(layer): stage}`` from the architecture's `feature_info` (0: the stem, 1..n: the stages,
    None: the head after the last stage), for a model that carries its registry name; else None.

    `model.layers` is in topological order, so a layer belongs to the stage whose feature layer (the
    stage's output) is the next one at or after it.
    """
    from keras_senet import zoo

    name = getattr(getattr(model, "preprocessing", None), "model", None)
    if name is None:
        return None
    boundaries = {info.layer: info.index for info in zoo.get_entry(name).feature_info}
    if not boundaries.keys() <= {layer.name for layer in model.layers}:
        return None  # rebuilt or cut: the stages cannot be located
    last, stage, stages = max(boundaries.values()), 0, {}
    for layer in model.layers:
        stages[id(layer)] = stage if stage <= last else None
        if layer.name in boundaries:
            stage = boundaries[layer.name] + 1
    return stages


def _head_layers(model, stages):
    """The layers after the last stage; for a model of unknown architecture, the layers after the last
    global pooling layer (the classifier), else the last weighted layer on."""
    import keras

    layers = model.layers
    if stages is not None:
        return [layer for layer in layers if stages[id(layer)] is None]
    pools = [i for i, layer in enumerate(layers)
             if isinstance(layer, (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D))]
    if pools:
        start = pools[-1] + 1
    else:
        weighted = [i for i, layer in enumerate(layers) if layer.weights]
        start = weighted[-1] if weighted else len(layers) - 1
    return layers[start:]


def set_trainable(model, phase, *, unfreeze="all", freeze_batchnorm=False):
    """Phase 1: only the head trains. Phase 2: the top `unfreeze` stages (int) or ``"all"``.

    Frozen layers get ``trainable=False``, which in Keras 3 also runs their BatchNorm in inference
    mode (moving statistics untouched). ``freeze_batchnorm`` keeps every BatchNorm frozen in phase 2.
    """
    import keras

    stage_of = _stages(model)
    head = {id(layer) for layer in _head_layers(model, stage_of)}
    stages = sorted({s for s in (stage_of or {}).values() if s})  # the stem (0) never counts as a stage
    if phase == 2 and unfreeze != "all":
        if isinstance(unfreeze, bool) or not isinstance(unfreeze, int) or unfreeze < 0:
            raise ValueError(f"unfreeze must be 'all' or a non-negative number of stages, got {unfreeze!r}")
        if not stages:
            raise ValueError(f"unfreeze={unfreeze}: model {model.name!r} carries no keras-senet architecture (its "
                             "stages are unknown); use unfreeze='all'.")
    top = set(stages[len(stages) - unfreeze:]) if phase == 2 and unfreeze not in ("all", 0) else set()
    model.trainable = True
    for layer in model.layers:
        if id(layer) in head:
            trainable = True
        elif phase == 1:
            trainable = False
        else:
            trainable = unfreeze == "all" or stage_of[id(layer)] in top
        if freeze_batchnorm and phase == 2 and isinstance(layer, keras.layers.BatchNormalization):
            trainable = False
        layer.trainable = trainable

