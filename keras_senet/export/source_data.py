"""The model and images an export from a source reads: a registry name or ``.keras`` file, and calibration or
held-out images from a class folder or TFDS dataset. Shared by `keras_senet.export.from_source` and the
low-memory path's model-loading process (`keras_senet.export.low_memory`)."""

from __future__ import annotations

import numpy as np

from keras_senet.export.api import CALIBRATION_IMAGES


def load_model(model, weights="imagenet", input_size=None):
    """`keras_senet.factory.load_model`: a registry name built with `weights` (default ``"imagenet"``,
    as `keras-senet evaluate`) at `input_size`, or a ``.keras`` file (`weights` must then be None or
    ``"imagenet"``: the file has its own)."""
    from keras_senet.factory import load_model as load

    if str(model).endswith(".keras") and weights not in (None, "imagenet"):
        raise ValueError("--weights applies to a registry model, not to a .keras file (it has its weights)")
    return load(model, weights=weights, input_size=input_size)


EVALUATION_IMAGES = 5000  # held-out images scored for the accuracy change, at most


def calibration_images(source, model, preprocessing_config=None, limit=CALIBRATION_IMAGES):
    """Up to `limit` eval-transformed images of `source` (a class-folder path or ``tfds:NAME[:SPLIT]``)
    at `model`'s input size: normalised, or [0, 255] pixels when `preprocessing_config` is given
    (the normalisation is then inside the export)."""
    return _images_and_labels(source, model, preprocessing_config, limit, shuffle=True)[0]


def evaluation_data(source, model, preprocessing_config=None, limit=EVALUATION_IMAGES):
    """``(images, labels)``: up to `limit` labelled held-out images of `source` (as `calibration_images`;
    for a folder, the class sub-folders in sorted order are the labels, as in training)."""
    return _images_and_labels(source, model, preprocessing_config, limit, shuffle=False)


def _images_and_labels(source, model, preprocessing_config, limit, shuffle):
    from keras_senet.data import load_dataset

    split = None
    if source.startswith("tfds:"):
        _, name, *rest = source.split(":", 2)
        source, split = f"tfds:{name}", (rest[0] if rest else "train")
    size = model.inputs[0].shape[1]
    dataset = load_dataset(source, split, model=model, batch_size=32, training=False, shuffle=shuffle, seed=0,
                           input_size=size)
    images, labels = [], []
    for batch, label in dataset.take(-(-limit // 32)).as_numpy_iterator():
        images.append(batch)
        labels.append(label)
    images, labels = np.concatenate(images)[:limit], np.concatenate(labels)[:limit]
    if preprocessing_config is not None:
        mean = np.asarray(dataset.preprocessing.mean, "float32") * 255.0
        std = np.asarray(dataset.preprocessing.std, "float32") * 255.0
        images = images * std + mean
    return images, labels
