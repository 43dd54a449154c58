"""`model_info`: the facts about a registered model, computed from its built graph."""

from __future__ import annotations

import math

from keras_senet import zoo
from keras_senet._deprecation import reject_unknown, renamed
from keras_senet.complexity import count_macs
from keras_senet.weights.pretrained import pretrained_tags


def _count(weights):
    return int(sum(math.prod(w.shape) for w in weights))


def model_info(model=None, input_size=None, **deprecated):
    """Parameters, compute and input configuration of a registered model.

    Args:
        model: a name from `keras_senet.list_models()` (``model_name=`` is the deprecated 0.1 spelling).
        input_size: square input side for the compute figures; default the model's default size.

    Returns:
        dict with ``name``, ``params`` (all weights), ``trainable_params``, ``non_trainable_params``
        (BatchNorm running statistics), ``gmacs`` (10^9 multiply-accumulates per image at
        ``input_size``), ``gflops`` (2 x gmacs), ``input_size`` (H, W, C), ``default_size``,
        ``interpolation``, ``crop_pct``, ``mean``, ``std`` (the default preprocessing),
        ``num_features``, ``classifier`` and ``first_conv`` (layer names), ``feature_info`` (a list of
        dicts: index, layer, channels, stride, level), ``family`` (builder module), ``paper``,
        ``architecture`` (the spec as a dict) and ``pretrained_tags`` (default first).
    """
    import dataclasses

    from keras_senet.factory import create_model

    model_name = renamed("model_info", deprecated, "model_name", "model", model)
    reject_unknown("model_info", deprecated)
    entry = zoo.get_entry(model_name)
    preprocessing = entry.preprocessing
    size = preprocessing.input_size if input_size is None else int(input_size)
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
        "default_size": preprocessing.input_size,
        "interpolation": preprocessing.interpolation,
        "crop_pct": preprocessing.crop_pct,
        "mean": preprocessing.mean,
        "std": preprocessing.std,
        "num_features": entry.num_features,
        "classifier": entry.classifier,
        "first_conv": entry.first_conv,
        "feature_info": [dict(dataclasses.asdict(f), level=f.level) for f in entry.feature_info],
        "family": type(entry.spec).FAMILY,
        "paper": entry.paper,
        "architecture": dataclasses.asdict(entry.spec),
        "pretrained_tags": pretrained_tags(model_name),
    }
