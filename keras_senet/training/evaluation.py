"""Evaluation: a model from a model, ``.keras`` file or registry name; top-1 / top-k accuracy."""

from __future__ import annotations

import os


def load_model(model_or_file, *, weights="imagenet"):
    """A `keras.Model` from a model, a ``.keras`` file or a registry name (built with `weights`)."""
    import keras

    if isinstance(model_or_file, keras.Model):
        return model_or_file
    path = os.fspath(model_or_file)
    if path.endswith(".keras") or os.path.exists(path):
        if not os.path.isfile(path):
            raise ValueError(f"No such model file: {path!r}")
        import keras_senet  # noqa: F401  (registers the attention layers for deserialisation)

        return keras.saving.load_model(path)
    from keras_senet.factory import create_model

    return create_model(path, weights=weights)


def evaluate(model_or_file, data, *, top_k=5, weights="imagenet", verbose=True):
    """Top-1 / top-k accuracy of a classifier on `data`.

    Args:
        model_or_file: `keras.Model`, ``.keras`` file, or registry name (built with `weights`).
        data: dataset of ``(images, labels)`` batches, labels int ``(batch,)`` or one-hot.
        top_k: the k of top-k accuracy (default 5).

    Returns:
        ``{"top1": float, "top5": float, "examples": int}`` (the key is ``f"top{top_k}"``).
    """
    import numpy as np

    model = load_model(model_or_file, weights=weights)
    outputs = model.output_shape[-1]
    classes = getattr(data, "num_classes", None)
    if classes is not None and classes != outputs:
        raise ValueError(f"The model has {outputs} outputs but the data has {classes} classes.")
    correct1 = correctk = total = 0
    for step, (images, labels) in enumerate(data):
        scores = np.asarray(model.predict_on_batch(images))
        labels = np.asarray(labels)
        if labels.ndim == 2:
            labels = labels.argmax(-1)
        order = np.argsort(-scores, axis=-1)[:, :top_k]
        correct1 += int((order[:, 0] == labels).sum())
        correctk += int((order == labels[:, None]).any(-1).sum())
        total += len(labels)
        if verbose and step % 20 == 0:
            print(f"\revaluated {total} images", end="", flush=True)
    if verbose:
        print(f"\revaluated {total} images")
    if not total:
        raise ValueError("The evaluation data is empty.")
    return {"top1": correct1 / total, f"top{top_k}": correctk / total, "examples": total}

