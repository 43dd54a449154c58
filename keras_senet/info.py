"""`model_info`: the facts about a registered model, computed from its built graph."""

from __future__ import annotations

import math

from keras_senet import zoo
from keras_senet.complexity import count_macs
from keras_senet.weights.pretrained import pretrained_tags


def _count(weights):
    return int(sum(math.prod(w.shape) for w in weights))


def model_info(model_name, input_size=None):
    """Parameters, compute and input configuration of a registered model.

    Args:
        model_name: a name from `keras_senet.list_models()`.
        input_size: square input side for the compute figures; default the model's default size.

    Returns:
        dict with ``name``, ``params`` (all weights), ``trainable_params``, ``non_trainable_params``
        (BatchNorm running statistics), ``gmacs`` (10^9 multiply-accumulates per image at
        ``input_size``), ``gflops`` (2 x gmacs), ``input_size`` (H, W, C), ``default_size``,
        ``interpolation``, ``crop_pct``, ``mean``, ``std``, ``num_features``, ``paper``,
        ``architecture`` (the spec as a dict) and ``pretrained_tags`` (default first).
    """
    import dataclasses

    from keras_senet.factory import create_model

    entry = zoo.get_entry(model_name)
    size = entry.default_size if input_size is None else int(input_size)
    model = create_model(model_name, weights=None, input_shape=(size, size, 3))
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    macs = count_macs(model)
    return {
        "name": entry.name,
        "params": trainable + non_trainable,
        "trainable_params": trainable,
        "non_trainable_params": non_trainable,
        "gmacs": macs / 1e9,
        "gflops": 2 * macs / 1e9,
        "input_size": (size, size, 3),
        "default_size": entry.default_size,
        "interpolation": entry.interpolation,
        "crop_pct": entry.crop_pct,
        "mean": entry.mean,
        "std": entry.std,
        "num_features": entry.spec.num_features,
        "paper": entry.paper,
        "architecture": dataclasses.asdict(entry.spec),
        "pretrained_tags": pretrained_tags(model_name),
    }
