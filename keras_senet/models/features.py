"""Multi-scale features of a built model: timm's ``features_only`` / keras-hub's ``pyramid_outputs``."""

from __future__ import annotations


def select_features(feature_info, out_indices, model_name):
    """The `FeatureInfo` entries chosen by timm-style `out_indices`, in network order.

    Args:
        feature_info: the model's `FeatureInfo` tuple (stem first), e.g. ``zoo.get_entry(name).feature_info``.
        out_indices: None (every level, timm's default), or a tuple of distinct ints indexing
            `feature_info`; negative ints count from the deepest level (``-1``: the last), as in timm.
        model_name: for the error message.

    Raises:
        ValueError: an index out of range, repeated, or not an int, before any model is built.
    """
    count = len(feature_info)
    if out_indices is None:
        return tuple(feature_info)
    if isinstance(out_indices, int) and not isinstance(out_indices, bool):
        out_indices = (out_indices,)
    try:
        chosen = tuple(out_indices)
    except TypeError:
        raise ValueError(f"out_indices must be a tuple of ints, got {out_indices!r}") from None
    allowed = f"{model_name!r} has {count} feature levels: indices 0..{count - 1} (or -{count}..-1)"
    if not chosen:
        raise ValueError(f"out_indices is empty; {allowed}.")
    normalised = []
    for index in chosen:
        if isinstance(index, bool) or not isinstance(index, int) or not -count <= index < count:
            raise ValueError(f"out_indices={out_indices!r}: {index!r} is not a feature level; {allowed}.")
        normalised.append(index % count)
    if len(set(normalised)) != len(normalised):
        raise ValueError(f"out_indices={out_indices!r} names a level twice; {allowed}.")
    return tuple(info for info in feature_info if info.index in set(normalised))


def pyramid_outputs(model, features):
    """``{"P<log2 stride>": tensor}`` of `model`'s layers named by `features` (`FeatureInfo` entries).

    The tensors are the symbolic outputs of `model`'s own layers, so a functional model built on them
    shares `model`'s layers and weights.
    """
    levels = [info.level for info in features]
    if len(set(levels)) != len(levels):
        raise ValueError(f"feature levels {levels} repeat a stride; pyramid keys must be unique")
    return {info.level: model.get_layer(info.layer).output for info in features}
