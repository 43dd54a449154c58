"""`feature_pyramid`: any backbone argument -> a functional model returning ``{"P<level>": features}``.

keras-hub's contract (``pyramid_outputs``): the key ``"P<n>"`` names a feature map ``2**n`` times smaller
than the input in height and width. Decoders (`keras_senet.segmentation.UNet`, keras-hub's RetinaNet and
DeepLabV3 through `keras_senet.hub.SEBackbone`) read the levels from the keys.
"""

from __future__ import annotations

import re

import keras

DEFAULT_OUT_INDICES = (1, 2, 3, 4)
_LEVEL = re.compile(r"^P([1-9])$")


def level_of(key):
    """The pyramid level of a ``"P<n>"`` key (1..9, keras-hub's single-digit convention)."""
    match = _LEVEL.match(str(key))
    if match is None:
        raise ValueError(f"pyramid output key {key!r} is not 'P1'..'P9' (log2 of the feature map's stride)")
    return int(match.group(1))


def _from_registry(name, weights, out_indices, input_shape):
    from keras_senet import factory

    return factory.create_model(name, weights=weights, features_only=True, out_indices=out_indices,
                                input_shape=input_shape)


def _from_model(model):
    """A model whose outputs are a dict of ``P<n>`` feature maps, or a keras-hub backbone
    (``pyramid_outputs``), as a functional model over the same layers (nothing copied)."""
    outputs = getattr(model, "pyramid_outputs", None) or model.output
    if not isinstance(outputs, dict) or not outputs:
        raise ValueError(
            f"backbone {model.name!r} has no feature pyramid: pass a registry name, a model from "
            "keras_senet.create_model(name, features_only=True), or a keras-hub backbone with pyramid_outputs "
            f"(a dict keyed 'P1'..'P5'); its outputs are {type(outputs).__name__}.")
    for key in outputs:
        level_of(key)
    if getattr(model, "pyramid_outputs", None) and model.output is not outputs:
        return keras.Model(model.inputs, dict(outputs), name=model.name)
    return model


def feature_pyramid(backbone, *, weights=None, out_indices=DEFAULT_OUT_INDICES, input_shape=(None, None, 3)):
    """The backbone as a functional model returning ``{"P<level>": (batch, H / 2**level, W / 2**level, C)}``.

    Args:
        backbone: a registry name (``"seresnet18"``, ``"seresnet50.a1_in1k"``), built with
            ``keras_senet.create_model(name, features_only=True, ...)``; or a model whose outputs are a dict
            keyed ``"P1"``..``"P9"``; or a keras-hub backbone exposing ``pyramid_outputs``.
        weights: with a registry name: its ``weights`` (None: random; ``"imagenet"``, a tag, a file ...).
            Must be None when `backbone` is a model (it has its own weights).
        out_indices: with a registry name: the feature levels to return, timm's numbering (0: the stem,
            stride 2; 4: stride 32; None: all). Default ``(1, 2, 3, 4)``: P2..P5.
        input_shape: with a registry name: ``(height, width, 3)``; default ``(None, None, 3)``, any size.

    Returns:
        A `keras.Model` (for a registry name: a `keras_senet.models.ZooModel` carrying the model's
        preprocessing config and ``feature_info``) whose output is the dict of feature maps.
    """
    if isinstance(backbone, str):
        return _from_registry(backbone, weights, out_indices, input_shape)
    if isinstance(backbone, keras.Model):
        if weights is not None:
            raise ValueError(f"weights={weights!r} applies to a registry name only; backbone {backbone.name!r} is a "
                             "model and has its own weights (pass weights=None).")
        return _from_model(backbone)
    raise ValueError(f"backbone must be a registry name (see keras_senet.list_models()) or a keras.Model, got "
                     f"{type(backbone).__name__}")
