"""Export a registry model or a saved ``.keras`` file, calibrating on a folder or TFDS dataset: the
library side of ``keras-senet export``."""

from __future__ import annotations

import os

import numpy as np

from keras_senet.export.api import CALIBRATION_IMAGES, export


def load_model(model, weights=None, input_size=None):
    """A `keras.Model` from a registry name (``"seresnet50"``, ``"seresnet50.a1_in1k"``) built at
    `input_size` (default: the model's default size) with `weights`, or from a ``.keras`` file (loaded
    with ``safe_mode=True``; `weights` not allowed)."""
    import keras

    import keras_senet as ks

    if str(model).endswith(".keras"):
        if weights is not None:
            raise ValueError("--weights applies to a registry model, not to a .keras file (it has its weights)")
        if not os.path.isfile(model):
            raise FileNotFoundError(f"no such file: {model}")
        return keras.saving.load_model(model, safe_mode=True)
    name = str(model).partition(".")[0]
    size = input_size or ks.zoo.get_entry(name).default_size
    if "." in str(model) and weights is None:
        weights = "imagenet"
    return ks.create_model(model, weights=weights, input_shape=(size, size, 3))


def calibration_images(source, model, preprocessing_config=None, limit=CALIBRATION_IMAGES):
    """Up to `limit` eval-transformed images of `source` (a class-folder path or ``tfds:NAME[:SPLIT]``)
    at `model`'s input size: normalised, or [0, 255] pixels when `preprocessing_config` is given
    (the normalisation is then inside the export)."""
    from keras_senet.data import load_dataset

    split = None
    if source.startswith("tfds:"):
        _, name, *rest = source.split(":", 2)
        source, split = f"tfds:{name}", (rest[0] if rest else "train")
    size = model.inputs[0].shape[1]
    dataset = load_dataset(source, split, model=model.name if _registered(model.name) else model,
                           batch_size=32, training=False, shuffle=True, seed=0, image_size=size)
    images = []
    for batch, _ in dataset.take(-(-limit // 32)).as_numpy_iterator():
        images.append(batch)
    images = np.concatenate(images)[:limit]
    if preprocessing_config is not None:
        mean = np.asarray(dataset.preprocessing.mean, "float32") * 255.0
        std = np.asarray(dataset.preprocessing.std, "float32") * 255.0
        images = images * std + mean
    return images


def _registered(name):
    from keras_senet import zoo

    return name.partition(".")[0] in zoo.list_models()


def export_from_source(model, path, format, *, weights=None, input_size=None, calibration=None,
                       include_preprocessing=False, **kwargs):
    """`export` a registry name or ``.keras`` file, with calibration images read from `calibration`."""
    from keras_senet.export.serving import preprocessing_config

    keras_model = load_model(model, weights=weights, input_size=input_size)
    config = preprocessing_config(keras_model, include_preprocessing)
    data = calibration_images(calibration, keras_model, config) if calibration else None
    return export(keras_model, path, format, representative_data=data, input_size=input_size,
                  include_preprocessing=include_preprocessing, **kwargs)
