"""`create_model`: registry name + keras.applications arguments -> a built `keras.Model`.

All arguments are checked before any layer is made; a bad value raises ValueError naming the
argument, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os

import keras
from keras import layers

from keras_senet import zoo
from keras_senet.models.resnet import build_resnet

POOLING = (None, "avg", "max")
_SPEC_OVERRIDES = ("attention", "attention_kwargs", "drop_rate")


def _resolve_weights(weights, model_name, tag):
    """Check `weights` before building. Returns (source or None, PretrainedConfig or None).

    A pretrained source (``"imagenet"``, a tag) yields its config, so classes and channels can be
    checked against it; files and URLs are checked for existence / allowed scheme.
    """
    from keras_senet.weights import loading
    from keras_senet.weights.pretrained import get_pretrained

    if tag and weights != "imagenet":
        raise ValueError(f"{model_name}.{tag}: a tag in the model name picks pretrained weights and needs "
                         f"weights='imagenet'; got weights={weights!r}.")
    if weights is None:
        return None, None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str) or not weights:
        raise ValueError(f"weights={weights!r} is not allowed: use None, 'imagenet', a tag, a file path, "
                         "an https:// URL or 'hf://org/repo'.")
    if weights.startswith("hf://"):
        loading.hub_url(weights)
        return weights, None
    if weights.startswith(("http://", "https://")):
        from keras_senet.weights.download import check_url

        check_url(weights)
        suffixes = loading.KERAS_SUFFIXES + loading.STATE_DICT_SUFFIXES
        if not any(weights.split("?")[0].lower().endswith(s) for s in suffixes):
            raise ValueError(f"weights={weights!r}: unknown checkpoint kind; the URL must end in one of "
                             f"{', '.join(suffixes)}")
        return weights, None
    if "://" in weights:
        raise ValueError(f"weights={weights!r}: unsupported URL scheme; use https:// (http:// for loopback "
                         "hosts) or hf://org/repo.")
    if weights == "imagenet":
        return "pretrained", get_pretrained(model_name, tag)
    if os.path.isfile(weights):
        if not any(weights.lower().endswith(s) for s in loading.KERAS_SUFFIXES + loading.STATE_DICT_SUFFIXES):
            raise ValueError(f"weights={weights!r}: unknown checkpoint kind; a file must end in one of "
                             f"{', '.join(loading.KERAS_SUFFIXES + loading.STATE_DICT_SUFFIXES)}")
        return weights, None
    if loading.looks_like_path(weights):
        raise ValueError(f"weights={weights!r}: no such file. Allowed: None, 'imagenet', a tag, an "
                         "existing checkpoint file, an https:// URL or 'hf://org/repo'.")
    if weights != "imagenet":
        tag = weights[len(model_name) + 1:] if weights.startswith(model_name + ".") else weights
    return "pretrained", get_pretrained(model_name, tag)


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
        order = "(height, width, channels)" if channels_last else "(channels, height, width)"
        raise ValueError(f"input_shape must have 3 entries {order}, got {input_shape!r}")
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


def create_model(model_name, weights=None, *, include_top=True, input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax", name=None, **overrides):
    """Build a registered model with the keras.applications arguments.

    Args:
        model_name: a name from `keras_senet.list_models()`, e.g. ``"seresnet50"``, optionally with a
            pretrained tag: ``"seresnet50.a1_in1k"``.
        weights: ``None`` (random initialisation, the default), ``"imagenet"`` (the model's default
            upstream checkpoint), a tag (``"a1_in1k"``; or put it in the name: ``"seresnet50.a1_in1k"``),
            a checkpoint file (``.safetensors``/``.pth`` in timm layout, ``.weights.h5``, ``.keras``),
            an ``https://`` URL of one, or ``"hf://org/repo"``. See `keras_senet.weights`.
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
    model_name, _, tag = str(model_name).partition(".")
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
    source, pretrained = _resolve_weights(weights, model_name, tag)
    if source is not None and overrides.get("attention", entry.spec.attention) != entry.spec.attention:
        raise ValueError(f"attention={overrides['attention']!r} changes the architecture of {model_name!r}, "
                         "so its weights cannot be loaded; use weights=None for an ablation.")
    if source is not None and "attention_kwargs" in overrides:
        raise ValueError("attention_kwargs changes the architecture, so pretrained or saved weights cannot be "
                         "loaded; use weights=None for an ablation.")
    if pretrained is not None and pretrained.num_classes == 0 and include_top:
        raise ValueError(f"{pretrained.name} has no classifier (a feature extractor checkpoint); use "
                         "include_top=False.")
    if pretrained is not None and include_top and classifier_activation not in (None, "softmax"):
        raise ValueError(f"classifier_activation={classifier_activation!r}: only None and 'softmax' are "
                         "allowed with pretrained weights and include_top=True.")
    if pretrained is not None and include_top and classes != pretrained.num_classes:
        raise ValueError(f"If using weights={weights!r} ({pretrained.name}) with include_top=True, classes "
                         f"should be {pretrained.num_classes}; received classes={classes}")
    if input_tensor is not None and not keras.backend.is_keras_tensor(input_tensor):
        raise ValueError(f"input_tensor must be a Keras tensor (from keras.Input or a layer), got "
                         f"{type(input_tensor).__name__}")
    input_shape = _resolve_input_shape(input_shape, input_tensor, include_top, entry)
    if pretrained is not None and input_shape[_channels_axis()] != 3:
        raise ValueError(f"input_shape={input_shape!r}: pretrained weights need 3 channels (RGB) "
                         "images; use weights=None for another channel count.")

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
    model = build_resnet(spec, image, include_top=include_top, pooling=pooling, classes=classes,
                         classifier_activation=classifier_activation, name=name or model_name,
                         model_inputs=model_inputs)
    if pretrained is not None:
        from keras_senet.weights.loading import load_pretrained

        load_pretrained(model, model_name, pretrained.tag)
    elif source is not None:
        from keras_senet.weights.loading import load

        load(model, source, model_name=model_name)
    return model
