"""Evaluation: a model from a model, ``.keras`` file or registry name; top-1 / top-k accuracy."""

from __future__ import annotations

from keras_senet._deprecation import reject_unknown, renamed


def load_model(model=None, *, weights="imagenet", **deprecated):
    """`keras_senet.factory.load_model` (``model_or_file=`` is the deprecated 0.1 spelling)."""
    from keras_senet.factory import load_model as load

    model = renamed("load_model", deprecated, "model_or_file", "model", model)
    reject_unknown("load_model", deprecated)
    return load(model, weights=weights)


def evaluate(model=None, data=None, *, top_k=5, weights="imagenet", verbose=True, **deprecated):
    """Top-1 / top-k accuracy of a classifier on `data`.

    Args:
        model: `keras.Model`, ``.keras`` file, or registry name (built with `weights`);
            ``model_or_file=`` is the deprecated 0.1 spelling.
        data: dataset of ``(images, labels)`` batches, labels int ``(batch,)`` or one-hot.
        top_k: the k of top-k accuracy (default 5).

    Returns:
        ``{"top1": float, "top5": float, "examples": int}`` (the key is ``f"top{top_k}"``).
    """
    import numpy as np

    model = load_model(renamed("evaluate", deprecated, "model_or_file", "model", model), weights=weights)
    reject_unknown("evaluate", deprecated)
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

