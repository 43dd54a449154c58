"""Export a registry model or a saved ``.keras`` file, calibrating on a folder or TFDS dataset: the
library side of ``keras-senet export``."""

from __future__ import annotations

from keras_senet.export.api import export
from keras_senet.export.source_data import calibration_images, evaluation_data, load_model

__all__ = ["export_from_source", "load_model", "calibration_images", "evaluation_data"]


# `export` keywords the low-memory path takes; the others need the Keras model beside the file
LOW_MEMORY_OPTIONS = ("quantize", "io_type", "batch_size", "tolerances", "verify", "overwrite", "num_threads",
                      "reparameterize", "quantizer", "opset")


def export_from_source(model, path, format, *, weights="imagenet", input_size=None, calibration=None,
                       include_preprocessing=False, eval_data=None, low_memory=False, pieces=None, **kwargs):
    """`export` a registry name or ``.keras`` file, with calibration images read from `calibration` and,
    with `eval_data` (a class-folder path or ``tfds:NAME[:SPLIT]``), the accuracy change of the export
    on those labelled held-out images (`export`'s ``evaluation_data``).

    `low_memory` (TFLite and ONNX): load the model, convert and verify each in its own process, so that the
    Keras model and the converter never hold memory at the same time (`keras_senet.export.low_memory`: for
    models whose weights are several GB, e.g. ``regnety_2560``).
    `pieces` (with `low_memory` only): convert the model in that many pieces, each in its own process, joined
    into one file; None (default): one piece per GiB of weights, for TensorFlow's int8 at least 3 from
    100 MiB of weights (`keras_senet.export.pieces`)."""
    from keras_senet.export.serving import preprocessing_config

    if kwargs.get("quantize") == "int8" and not calibration:
        raise ValueError("quantize='int8' needs calibration images: calibration=DIR (class sub-folders) or "
                         "'tfds:NAME[:SPLIT]' (CLI: --calibration DIR|tfds:NAME[:SPLIT]), a few hundred real "
                         "images to calibrate the activation ranges.")
    if pieces is not None and not low_memory:
        raise ValueError(f"pieces={pieces!r} needs low_memory=True (CLI: --pieces needs --low-memory): only the "
                         "low-memory export converts a model piece by piece")
    if low_memory:
        _check_low_memory(format, eval_data, kwargs)
        from keras_senet.export.low_memory import export_low_memory

        return export_low_memory(model, path, format=format, weights=weights, input_size=input_size, calibration=calibration,
                                 include_preprocessing=include_preprocessing, pieces=pieces,
                                 **{k: v for k, v in kwargs.items() if k in LOW_MEMORY_OPTIONS})
    keras_model = load_model(model, weights=weights, input_size=input_size)
    config = preprocessing_config(keras_model, include_preprocessing)
    data = calibration_images(calibration, keras_model, config) if calibration else None
    held_out = evaluation_data(eval_data, keras_model, config) if eval_data else None
    return export(keras_model, path, format, representative_data=data, input_size=input_size,
                  include_preprocessing=include_preprocessing, evaluation_data=held_out, **kwargs)


def _check_low_memory(format, eval_data, options):
    """The low-memory path writes TFLite or ONNX for the CPU; refuse what needs the Keras model beside the file."""
    from keras_senet.export.low_memory import FORMATS

    if format not in FORMATS:
        raise ValueError(f"low_memory (--low-memory) writes format {' or '.join(repr(f) for f in FORMATS)}, not "
                         f"{format!r}: the SavedModel export holds no converter (export it without low_memory).")
    given = [name for name, value in options.items()
             if name not in LOW_MEMORY_OPTIONS and value not in (None, False, (), "cpu", "tensorflow")]
    given += ["eval_data"] if eval_data else []
    if given:
        raise ValueError(f"low_memory (--low-memory) takes none of {', '.join(given)}: they need the Keras model "
                         "in the process that writes or checks the file. Export without low_memory for them.")
