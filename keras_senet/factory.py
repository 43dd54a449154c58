"""`create_model`: registry name + keras.applications arguments -> a built `keras.Model`.

All arguments are checked before any layer is made; a bad value raises ValueError naming the
argument, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses

import keras

from keras_senet import zoo
from keras_senet._deprecation import renamed
from keras_senet.weights.source import resolve

POOLING = (None, "avg", "max")


def _channels_axis():
    return -1 if keras.config.image_data_format() == "channels_last" else 0


def _resolve_input_shape(input_shape, input_tensor, include_top, entry, default_size):
    """keras.applications' input-shape rules, adapted to fully convolutional models.

    Unlike keras.applications' ResNet, any input size >= `entry.min_input_size` is allowed with the top
    (the classifier follows global pooling), as in timm.
    """
    channels_last = keras.config.image_data_format() == "channels_last"
    if input_shape is None and input_tensor is not None and keras.backend.is_keras_tensor(input_tensor):
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        size = default_size if include_top else None
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
        if dim is not None and dim < entry.min_input_size:
            raise ValueError(f"input_shape={input_shape!r}: height and width must be at least "
                             f"{entry.min_input_size} for {entry.name!r}.")
    return input_shape


def create_model(model=None, weights=None, *, include_top=True, input_tensor=None, input_shape=None,
                 pooling=None, classes=1000, classifier_activation="softmax", name=None, features_only=False,
                 out_indices=None, **overrides):
    """Build a registered model with the keras.applications arguments.

    Args:
        model: a name from `keras_senet.list_models()`, e.g. ``"seresnet50"``, optionally with a
            pretrained tag: ``"seresnet50.a1_in1k"``.
        weights: ``None`` (random initialisation, the default), ``"imagenet"`` (the model's default
            upstream checkpoint), a tag (``"a1_in1k"``; or put it in the name: ``"seresnet50.a1_in1k"``),
            a checkpoint file (``.safetensors``/``.pth`` in timm layout, ``.weights.h5``, ``.keras``),
            an ``https://`` URL of one, or ``"hf://org/repo"``. See `keras_senet.weights`.
        include_top: include global average pooling and the ``classes``-way classifier.
        input_tensor: optional Keras tensor (output of `keras.Input`) to use as the image input.
        input_shape: ``(height, width, channels)``; default ``(S, S, 3)`` with the top (S the input
            size of the pretrained tag, else the model's default size) and ``(None, None, 3)`` without.
        pooling: without the top: ``None`` (4-D features), ``"avg"`` or ``"max"``.
        classes: number of classes of the classifier.
        classifier_activation: ``"softmax"`` (default), another activation, or ``None`` for logits.
        name: model name; default the registry name.
        features_only: return the feature extractor instead (timm's ``features_only``): a model whose
            outputs are a dict ``{"P<k>": (batch, H / 2**k, W / 2**k, channels)}``, one entry per chosen
            level of the model's ``feature_info`` (k = log2 of the stride: keras-hub's
            ``pyramid_outputs`` keys), with ``model.feature_info`` describing them. `include_top`,
            `classes` and `classifier_activation` do not apply; `pooling` must stay None; the default
            `input_shape` is ``(None, None, 3)``. Pretrained weights load without the classifier.
        out_indices: with `features_only`, which levels (timm's numbering: 0 is the stem, see
            ``model_info(name)["feature_info"]``; negative counts from the deepest); default all.
        **overrides: architecture ablations applied to the registered spec: ``attention`` (a name
            from `keras_senet.layers.list_attention()` or None), ``attention_kwargs`` (dict; a new
            ``attention`` without it starts from none: the registered kwargs, such as the GC models'
            ``fuse_add=True, fuse_scale=False``, belong to the registered attention), ``drop_rate``
            (classifier dropout).

    Returns:
        A `keras.Model` mapping images to class scores (or features without the top, or the dict of
        feature maps with `features_only`).
    """
    model = renamed("create_model", overrides, "model_name", "model", model)
    if model is None:
        raise TypeError("create_model() needs the registry name of a model, e.g. create_model('seresnet50')")
    model_name, _, tag = str(model).partition(".")
    entry = zoo.get_entry(model_name)
    allowed = type(entry.spec).OVERRIDES
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown argument(s) {', '.join(unknown)} for create_model; architecture "
                         f"overrides allowed for {model_name!r}: {', '.join(allowed)}.")
    if not isinstance(features_only, bool):
        raise ValueError(f"features_only must be True or False, got {features_only!r}")
    features = None
    if features_only:
        from keras_senet.models.features import select_features

        if pooling is not None:
            raise ValueError(f"pooling={pooling!r} does not apply with features_only=True (the outputs are "
                             "feature maps); leave pooling=None.")
        features = select_features(entry.feature_info, out_indices, model_name)
        include_top = False
    elif out_indices is not None:
        raise ValueError(f"out_indices={out_indices!r} needs features_only=True.")
    if not isinstance(include_top, bool):
        raise ValueError(f"include_top must be True or False, got {include_top!r}")
    if pooling not in POOLING:
        raise ValueError(f"pooling={pooling!r} is not one of None, 'avg', 'max'")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    source = resolve(weights, model_name, tag or None)
    pretrained = source.pretrained if source is not None else None
    changed = [key for key, value in overrides.items() if key != "drop_rate" and value != getattr(entry.spec, key)]
    if source is not None and changed:
        raise ValueError(f"{', '.join(changed)} changes the architecture of {model_name!r}, so its weights cannot "
                         "be loaded; use weights=None for an ablation.")
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
    default_size = pretrained.input_size if pretrained is not None else entry.preprocessing.input_size
    input_shape = _resolve_input_shape(input_shape, input_tensor, include_top, entry, default_size)
    if source is not None and input_shape[_channels_axis()] != 3:
        raise ValueError(f"input_shape={input_shape!r}: pretrained weights need 3 channels (RGB) "
                         "images; use weights=None for another channel count.")

    spec = entry.spec
    if overrides:
        if "attention_kwargs" in overrides:
            overrides["attention_kwargs"] = tuple(sorted(dict(overrides["attention_kwargs"] or {}).items()))
        elif overrides.get("attention", spec.attention) != spec.attention:
            overrides["attention_kwargs"] = ()  # the registered kwargs configure the registered attention
        if overrides.get("attention"):
            from keras_senet.layers import get_attention

            get_attention(overrides["attention"])  # validates the name before building
        spec = dataclasses.replace(spec, **overrides)

    from keras_senet.models import build_model
    from keras_senet.preprocessing import for_model

    preprocessing = for_model(pretrained.name if pretrained is not None else model_name)
    if source is not None and pretrained is None:
        preprocessing = preprocessing.replace(weights=source.name)
    spatial = input_shape[:2] if _channels_axis() == -1 else input_shape[1:]
    if spatial[0] is not None and spatial[0] == spatial[1]:
        preprocessing = preprocessing.replace(input_size=spatial[0])  # the size this model is built for
    model = build_model(spec, input_shape, include_top=include_top, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name or model_name,
                        preprocessing=preprocessing, input_tensor=input_tensor)
    if source is not None:
        from keras_senet.weights.loading import load_source

        load_source(model, source)
    if features is not None:
        from keras_senet.models import ZooModel
        from keras_senet.models.features import pyramid_outputs

        model = ZooModel(model.inputs[0] if len(model.inputs) == 1 else model.inputs,
                         pyramid_outputs(model, features), name=model.name, preprocessing=model.preprocessing,
                         feature_info=features)
    return model


def load_model(model, *, weights="imagenet", input_size=None):
    """A `keras.Model` to run: `model` itself, a ``.keras`` file (``safe_mode=True``; it has its own
    weights) or a registry name (``"seresnet50"``, ``"seresnet50.a1_in1k"``) built with `weights`
    (default ``"imagenet"``: a name stands for the pretrained model, in the API and the CLI alike) at
    ``input_size`` x ``input_size`` (default: the tag's input size, else the model's default size).
    """
    import os

    if isinstance(model, keras.Model):
        return model
    path = os.fspath(model)
    if path.endswith(".keras") or os.path.exists(path):
        if not os.path.isfile(path):
            raise ValueError(f"No such model file: {path!r}")
        import keras_senet  # noqa: F401  (registers ZooModel and the attention layers)
        from keras_senet.weights.loading import check_keras_archive

        check_keras_archive(path, path)
        return keras.saving.load_model(path, safe_mode=True)
    # Without input_size, create_model picks the size (the tag's input size, else the model's default).
    shape = None if input_size is None else (input_size, input_size, 3) if _channels_axis() == -1 else (
        3, input_size, input_size)
    return create_model(path, weights=weights, input_shape=shape)
