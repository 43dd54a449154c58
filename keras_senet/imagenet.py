"""ImageNet input preprocessing and label decoding, with the class index shipped in the package."""

from __future__ import annotations

import functools
import importlib.resources
import json

import numpy as np


NUM_CLASSES = 1000


def preprocess_input(x, model="seresnet50", data_format=None):
    """Scale RGB images in [0, 255] to the normalised input the model was trained on.

    ``(x / 255 - mean) / std`` per channel, with the mean/std of `model`'s pretrained config
    (ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) for every registered model).

    Args:
        x: images, ``(..., height, width, 3)`` channels-last or ``(..., 3, height, width)``
            channels-first; a NumPy array (uint8 or float) or a backend tensor, RGB order, values in
            [0, 255].
        model: registry name whose configuration to use, optionally with a pretrained tag
            (``"seresnet50.a1_in1k"``: that checkpoint's mean/std), a model built by keras-senet
            (its own config) or a `PreprocessingConfig`. Default ``"seresnet50"``.
        data_format: ``"channels_last"`` / ``"channels_first"``; default
            ``keras.config.image_data_format()``.

    Returns:
        float32 array/tensor of the same shape as `x`.
    """
    import keras

    from keras_senet.preprocessing import normalize, preprocessing_of

    config = preprocessing_of(model)
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format={data_format!r} is not one of 'channels_last', 'channels_first'")
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[-3]
    if channels != 3:
        raise ValueError(f"preprocess_input expects 3 (RGB) channels on the "
                         f"{'last' if data_format == 'channels_last' else 'third-from-last'} axis; "
                         f"got an input of shape {tuple(x.shape)}")
    return normalize(x, config, data_format)


@functools.lru_cache(maxsize=1)
def _class_index():
    text = importlib.resources.files("keras_senet").joinpath("data/imagenet_class_index.json").read_text()
    index = json.loads(text)
    return [tuple(index[str(i)]) for i in range(NUM_CLASSES)]


def decode_predictions(preds, top=5):
    """Decode ImageNet class scores into ``(wordnet_id, label, score)`` triples, best first.

    Same contract as ``keras.applications.imagenet_utils.decode_predictions``, but the class index
    ships with the package (no download).

    Args:
        preds: scores of shape ``(batch, 1000)`` (probabilities or logits).
        top: how many classes to return per sample, 1..1000. Default 5.

    Returns:
        A list (one per sample) of lists of ``(wordnet_id, label, score)`` tuples.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError(f"decode_predictions expects a batch of ImageNet scores of shape "
                         f"(samples, {NUM_CLASSES}); got shape {preds.shape}")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"top must be an integer in [1, {NUM_CLASSES}], got {top!r}")
    index = _class_index()
    results = []
    for row in preds:
        best = np.argsort(row)[::-1][:top]
        results.append([(*index[i], float(row[i])) for i in best])
    return results
