"""Export a registry model or a saved ``.keras`` file, calibrating on a folder or TFDS dataset: the
library side of ``keras-senet export``."""

from __future__ import annotations

import numpy as np

from keras_senet.export.api import CALIBRATION_IMAGES, export


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


# `export` keywords the low-memory path takes; the others need the Keras model beside the file
LOW_MEMORY_OPTIONS = ("quantize", "io_type", "batch_size", "tolerances", "verify", "overwrite", "num_threads",
                      "reparameterize")


def export_from_source(model, path, format, *, weights="imagenet", input_size=None, calibration=None,
                       include_preprocessing=False, eval_data=None, low_memory=False, **kwargs):
    """`export` a registry name or ``.keras`` file, with calibration images read from `calibration` and,
    with `eval_data` (a class-folder path or ``tfds:NAME[:SPLIT]``), the accuracy change of the export
    on those labelled held-out images (`export`'s ``evaluation_data``).

    `low_memory` (TFLite only): load the model, convert and verify each in its own process, so that the
    Keras model and TensorFlow's converter never hold memory at the same time
    (`keras_senet.export.low_memory`: for models whose weights are several GB, e.g. ``regnety_2560``)."""
    from keras_senet.export.serving import preprocessing_config

    if kwargs.get("quantize") == "int8" and not calibration:
        raise ValueError("quantize='int8' needs calibration images: calibration=DIR (class sub-folders) or "
                         "'tfds:NAME[:SPLIT]' (CLI: --calibration DIR|tfds:NAME[:SPLIT]), a few hundred real "
                         "images to calibrate the activation ranges.")
    if low_memory:
        _check_low_memory(format, eval_data, kwargs)
        from keras_senet.export.low_memory import export_low_memory

        return export_low_memory(model, path, weights=weights, input_size=input_size, calibration=calibration,
                                 include_preprocessing=include_preprocessing,
                                 **{k: v for k, v in kwargs.items() if k in LOW_MEMORY_OPTIONS})
    keras_model = load_model(model, weights=weights, input_size=input_size)
    config = preprocessing_config(keras_model, include_preprocessing)
    data = calibration_images(calibration, keras_model, config) if calibration else None
    held_out = evaluation_data(eval_data, keras_model, config) if eval_data else None
    return export(keras_model, path, format, representative_data=data, input_size=input_size,
                  include_preprocessing=include_preprocessing, evaluation_data=held_out, **kwargs)


def _check_low_memory(format, eval_data, options):
    """The low-memory path writes TFLite for the CPU; refuse what needs the Keras model beside the file."""
    from keras_senet.export.low_memory import FORMAT

    if format != FORMAT:
        raise ValueError(f"low_memory (--low-memory) writes format={FORMAT!r} only, not {format!r}: the SavedModel "
                         "export holds no converter (export it without low_memory), and the ONNX converter "
                         "needs the Keras model in its own process.")
    given = [name for name, value in options.items()
             if name not in LOW_MEMORY_OPTIONS and value not in (None, False, (), "cpu")]
    given += ["eval_data"] if eval_data else []
    if given:
        raise ValueError(f"low_memory (--low-memory) takes none of {', '.join(given)}: they need the Keras model "
                         "in the process that writes or checks the file. Export without low_memory for them.")
