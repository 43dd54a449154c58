"""`create_model`: registry name + keras.applications arguments -> a built `keras.Model`.

All arguments are checked before any layer is made; a bad value raises ValueError naming the
argument, the value and what is allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys

import keras
from keras import layers

from keras_senet import zoo
from keras_senet.models.resnet import build_resnet

POOLING = (None, "avg", "max")
_SPEC_OVERRIDES = ("attention", "attention_kwargs", "drop_rate")


def _check_weights(weights):
    """Return the weights source kind: None, "imagenet" or "file"."""
    if weights is None:
        return None
    if weights == "imagenet":
        from keras_senet import __version__

        raise ValueError(
            f"weights='imagenet': pretrained ImageNet weights are not available in keras-senet "
            f"{__version__} yet (they arrive with the weights subpackage). Use weights=None for a "
            "randomly initialised model, or weights='/path/to/model.weights.h5' for weights you saved.")
    if isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if not path.endswith(".weights.h5"):
            raise ValueError(f"weights={path!r}: a weights file must end in '.weights.h5' (Keras "
                             "model.save_weights format). Allowed: None, 'imagenet' or such a path.")
        if not os.path.isfile(path):
            raise ValueError(f"weights={path!r}: no such file. Allowed: None, 'imagenet' or the path "
                             "to an existing '.weights.h5' file.")
        return "file"
    raise ValueError(f"weights={weights!r} is not allowed: use None, 'imagenet' or the path to a "
                     "'.weights.h5' file.")


def _channels_axis():
    return -1 if keras.config.image_data_format() == "channels_last" else 0


def _resolve_input_shape(input_shape, input_tensor, include_top, entry):
    """keras.applications' input-shape rules, adapted to fully convolutional models.

    Unlike keras.applications' ResNet, any input size >= `entry.min_size` is allowed with the top
    (the classifier follows global pooling), as in timm.
    """
    channels_last = keras.config.image_data_format() == "channels_last"
    if input_shape is None and input_tensor is not None and keras.backend.is_keras_tensor(input_tensor):
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        size = entry.default_size if include_top else None
        input_shape = (size, size, 3) if channels_last else (3, size, size)
    try:
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be a tuple of 3 integers (or None), got {input_shape!r}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must have 3 entries (height, width, channels) for "
                         f"channels_last, got {input_shape!r}")
    channels = input_shape[_channels_axis()]
    spatial = input_shape[:2] if channels_last else input_shape[1:]
    if channels is None or channels < 1:
        raise ValueError(f"input_shape={input_shape!r}: the channel dimension must be a positive "
                         "integer.")
    for dim in spatial:
        if dim is not None and dim < entry.min_size:
            raise ValueError(f"input_shape={input_shape!r}: height and width must be at least "
                             f"{entry.min_size} (the network downsamples by 32).")
    return input_shape


@contextlib.contextmanager
def _recursion_limit(limit):
    """Keras walks the functional graph recursively; the 269-layer models exceed Python's default."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def create_model(model_name, weights=None, *, include_top=True, input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax", name=None, **overrides):
    """Build a registered model with the keras.applications arguments.

    Args:
        model_name: a name from `keras_senet.list_models()`, e.g. ``"seresnet50"``.
        weights: ``None`` (random initialisation), ``"imagenet"`` or a path to a ``.weights.h5`` file
            saved from the same architecture. Default None.
        include_top: include global average pooling and the ``classes``-way classifier.
        input_tensor: optional Keras tensor (output of `keras.Input`) to use as the image input.
        input_shape: ``(height, width, channels)``; default ``(S, S, 3)`` with the top (S the model's
            default size) and ``(None, None, 3)`` without.
        pooling: without the top: ``None`` (4-D features), ``"avg"`` or ``"max"``.
        classes: number of classes of the classifier.
        classifier_activation: ``"softmax"`` (default), another activation, or ``None`` for logits.
        name: model name; default `model_name`.
        **overrides: architecture ablations applied to the registered spec: ``attention`` (a name
            from `keras_senet.layers.list_attention()` or None), ``attention_kwargs`` (dict),
            ``drop_rate`` (classifier dropout).

    Returns:
        A `keras.Model` mapping images to class scores (or features without the top).
    """
    entry = zoo.get_entry(model_name)
    unknown = sorted(set(overrides) - set(_SPEC_OVERRIDES))
    if unknown:
        raise ValueError(f"Unknown argument(s) {', '.join(unknown)} for create_model; architecture "
                         f"overrides allowed: {', '.join(_SPEC_OVERRIDES)}.")
    if not isinstance(include_top, bool):
        raise ValueError(f"include_top must be True or False, got {include_top!r}")
    if pooling not in POOLING:
        raise ValueError(f"pooling={pooling!r} is not one of None, 'avg', 'max'")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"If using weights='imagenet' with include_top=True, classes should be 1000; "
                         f"received classes={classes}")
    if input_tensor is not None and not keras.backend.is_keras_tensor(input_tensor):
        raise ValueError(f"input_tensor must be a Keras tensor (from keras.Input or a layer), got "
                         f"{type(input_tensor).__name__}")
    input_shape = _resolve_input_shape(input_shape, input_tensor, include_top, entry)
    if weights == "imagenet" and input_shape[_channels_axis()] != 3:
        raise ValueError(f"input_shape={input_shape!r}: ImageNet weights need 3 channels (RGB) "
                         "images; use weights=None for another channel count.")
    weights_kind = _check_weights(weights)

    spec = entry.spec
    if overrides:
        if "attention_kwargs" in overrides:
            overrides["attention_kwargs"] = tuple(sorted(dict(overrides["attention_kwargs"] or {}).items()))
        if overrides.get("attention"):
            from keras_senet.layers import get_attention

            get_attention(overrides["attention"])  # validates the name before building
        spec = dataclasses.replace(spec, **overrides)

    image = layers.Input(shape=input_shape, name="image") if input_tensor is None else input_tensor
    model_inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else image
    with _recursion_limit(10_000):
        model = build_resnet(spec, image, include_top=include_top, pooling=pooling, classes=classes,
                             classifier_activation=classifier_activation, name=name or model_name,
                             model_inputs=model_inputs)
    if weights_kind == "file":
        model.load_weights(os.fspath(weights))
    return model
