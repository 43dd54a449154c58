"""What an export serves: the model with its input fixed, optional built-in preprocessing, and the
caller's representative data turned into float32 image batches."""

from __future__ import annotations

import itertools

import numpy as np

from keras_senet.preprocessing import eval_transform


def preprocessing_config(model, include_preprocessing):
    """The `PreprocessingConfig` whose mean/std/size/crop the export builds in.

    `include_preprocessing`: ``False`` -> ``None``; ``True`` -> the config the model carries (models
    built by keras-senet do, also after ``.keras`` save/load and fine-tuning); a string -> that registry
    name or ``name.tag``; a `PreprocessingConfig` -> itself.
    """
    from keras_senet.preprocessing import preprocessing_of

    if include_preprocessing is False or include_preprocessing is None:
        return None
    try:
        return preprocessing_of(model if include_preprocessing is True else include_preprocessing)
    except ValueError as error:
        raise ValueError(f"include_preprocessing={include_preprocessing!r}: {error}") from None


def ends_in_softmax(model):
    """True when the model's last layer applies softmax (its outputs are probabilities)."""
    import keras

    layer = model.layers[-1]
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") == "softmax"


def named_outputs(outputs, model):
    """A model call's outputs as one tensor (a single output) or a dict ``{name: tensor}``.

    A dict keeps its keys (e.g. pyramid levels ``{"P2": ..., "P5": ...}``); a list or tuple of several
    tensors is named by ``model.output_names`` (the output layers' names) or ``output_0``, ``output_1``, ...
    Every export format stores these names (SavedModel signature keys, TFLite signature outputs, ONNX
    graph outputs), and verification matches outputs by them.
    """
    if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
        outputs = outputs[0]
    if isinstance(outputs, (list, tuple)):
        names = list(getattr(model, "output_names", None) or [])
        if len(names) != len(outputs) or len(set(names)) != len(names):
            names = [f"output_{i}" for i in range(len(outputs))]
        outputs = dict(zip(names, outputs))
    if isinstance(outputs, dict):
        for name, value in outputs.items():
            if not isinstance(name, str) or not name or isinstance(value, (dict, list, tuple)):
                raise ValueError(f"model {model.name!r}: export takes a tensor, or a flat dict / list of tensors "
                                 f"with non-empty string names, as outputs; got {name!r}: {type(value).__name__}")
    return outputs


def output_names(model):
    """None for a single-output model; else the names its exports give the outputs (see `named_outputs`)."""
    try:
        structure = model.output
    except (AttributeError, ValueError):  # a subclassed model that was never called symbolically
        return None
    structure = named_outputs(structure, model)
    return tuple(structure) if isinstance(structure, dict) else None


def serving_model(model, input_shape, config):
    """`model` on a fixed ``(height, width, 3)`` input; with `config`, it takes RGB pixels in
    [0, 255] and normalises them with the config's mean/std inside the graph. Its outputs are one
    tensor or a dict ``{name: tensor}`` (`named_outputs`)."""
    import keras

    if config is None:
        image = keras.Input(input_shape, name="image")
        return keras.Model(image, named_outputs(model(image, training=False), model), name=model.name)
    pixels = keras.Input(input_shape, name="pixels")
    mean = np.asarray(config.mean, "float64") * 255.0
    std = np.asarray(config.std, "float64") * 255.0
    # (x - mean) / std as x * (1/std) - mean/std with the constants inside the traced graph: the
    # Normalization layer keeps them as captured tensors, which tf2onnx turns into extra ONNX inputs
    # ("Required inputs ['.../normalize_1/Sub/y:0', ...] are missing").
    normalised = keras.layers.Rescaling(scale=(1.0 / std).tolist(), offset=(-mean / std).tolist(),
                                        name="normalize")(pixels)
    return keras.Model(pixels, named_outputs(model(normalised, training=False), model), name=model.name)


def pixel_preprocessing(config, size):
    """The eval transform of `config` at side `size` (`keras_senet.preprocessing.eval_transform`):
    uint8 ``(batch, height, width, 3)`` of any size -> float32 pixels in [0, 255]."""
    return eval_transform(config.replace(input_size=size))


def as_images(data, limit):
    """Up to `limit` float32 images ``(n, height, width, channels)`` from representative data.

    `data`: a NumPy array of images, a `tf.data.Dataset` or any iterable yielding image batches or
    ``(images, labels)`` pairs (a single image is taken as a batch of one).
    """
    if data is None:
        return None
    if isinstance(data, np.ndarray):
        batches = [data]
    else:
        batches = data.as_numpy_iterator() if hasattr(data, "as_numpy_iterator") else iter(data)
    images, count = [], 0
    for batch in itertools.islice(batches, limit):
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        if isinstance(batch, dict):
            batch = batch.get("image", next(iter(batch.values())))
        batch = np.asarray(batch, "float32")
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4:
            raise ValueError(f"representative_data must yield images of shape (batch, height, width, "
                             f"channels); got an array of shape {batch.shape}")
        images.append(batch[: limit - count])
        count += len(images[-1])
        if count >= limit:
            break
    if not count:
        raise ValueError("representative_data yielded no images")
    return np.concatenate(images)
