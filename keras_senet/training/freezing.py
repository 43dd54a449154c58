"""Freezing: which layers train in each phase (the head; the top ``layerN_`` stages or all)."""

from __future__ import annotations

import re


def _head_layers(model):
    """Layers after the last global pooling layer (the classifier), else the last weighted layer on."""
    import keras

    layers = model.layers
    pools = [i for i, layer in enumerate(layers)
             if isinstance(layer, (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D))]
    if pools:
        start = pools[-1] + 1
    else:
        weighted = [i for i, layer in enumerate(layers) if layer.weights]
        start = weighted[-1] if weighted else len(layers) - 1
    return layers[start:]


def _stage_of(layer_name):
    match = re.match(r"layer(\d+)_", layer_name)
    return int(match.group(1)) if match and match.group(1) != "0" else None


def set_trainable(model, phase, *, unfreeze="all", freeze_batchnorm=False):
    """Phase 1: only the head trains. Phase 2: the top `unfreeze` stages (int) or ``"all"``.

    Frozen layers get ``trainable=False``, which in Keras 3 also runs their BatchNorm in inference
    mode (moving statistics untouched). ``freeze_batchnorm`` keeps every BatchNorm frozen in phase 2.
    """
    import keras

    head = {id(layer) for layer in _head_layers(model)}
    stages = sorted({s for s in map(_stage_of, (layer.name for layer in model.layers)) if s is not None})
    if phase == 2 and unfreeze != "all":
        if isinstance(unfreeze, bool) or not isinstance(unfreeze, int) or unfreeze < 0:
            raise ValueError(f"unfreeze must be 'all' or a non-negative number of stages, got {unfreeze!r}")
        if not stages:
            raise ValueError(f"unfreeze={unfreeze}: model {model.name!r} has no 'layerN_' stages (not built by "
                             "keras_senet); use unfreeze='all'.")
    top = set(stages[len(stages) - unfreeze:]) if phase == 2 and unfreeze not in ("all", 0) else set()
    model.trainable = True
    for layer in model.layers:
        if id(layer) in head:
            trainable = True
        elif phase == 1:
            trainable = False
        else:
            trainable = unfreeze == "all" or _stage_of(layer.name) in top
        if freeze_batchnorm and phase == 2 and isinstance(layer, keras.layers.BatchNormalization):
            trainable = False
        layer.trainable = trainable

