"""PNG figures (matplotlib, the optional ``plots`` extra): excitations per class, learning curves, confusion matrix.

Figures are made with `matplotlib.figure.Figure` (no pyplot: no global state, no GUI backend) and written
to a temporary file that is moved into place when complete.
"""

from __future__ import annotations

import os

import numpy as np

INSTALL_HINT = "pip install 'keras-senet[plots]'"


def have_matplotlib():
    """Whether matplotlib can be imported."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(f"The figures need matplotlib: {INSTALL_HINT}") from error
    return Figure(**kwargs)


def write_atomically(path, write):
    """Call ``write(tmp)`` on a temporary path beside `path`, then move it into place."""
    from keras_senet._temporary import make_file

    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = make_file(".", folder, suffix=os.path.splitext(path)[1])
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def save_png(figure, path, dpi=80):
    """Write `figure` as a PNG at `path` (atomically); returns `path`."""
    return write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi))


def _spread(names, most):
    if len(names) <= most:
        return list(names)
    picks = np.linspace(0, len(names) - 1, most).round().astype(int)
    return [names[i] for i in sorted(set(picks))]


def plot_excitations(result, path=None, *, layers=None, max_channels=None):
    """Fig. 6 of Hu et al.: one panel per attention layer, mean gate value vs channel index, a line per class.

    Args:
        result: a `keras_senet.analysis.Excitations`.
        path: write a PNG there when given.
        layers: names to show; default all, at most 8 spread evenly over the depth.
        max_channels: show only the first N channels (default all).

    Returns:
        The matplotlib Figure.
    """
    if max_channels is not None and (isinstance(max_channels, bool) or not isinstance(max_channels, int)
                                     or max_channels < 1):
        raise ValueError(f"max_channels={max_channels!r} is not None or a positive int")
    if layers is None:
        layers = _spread(result.layers, 8)
    unknown = [name for name in layers if name not in result.mean]
    if unknown:
        raise ValueError(f"layers={list(layers)!r}: {unknown} not among {result.layers}")
    columns = min(4, len(layers))
    rows = -(-len(layers) // columns)
    figure = _figure(figsize=(3.6 * columns, 2.6 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colours = _class_colours(len(result.class_names))
    for axis, name in zip(axes, layers):
        mean = result.mean[name][:, :max_channels]
        channels = np.arange(mean.shape[1])
        for k, label in enumerate(result.class_names):
            if result.counts[k]:
                axis.plot(channels, mean[k], linewidth=0.8, color=colours[k], label=label)
        overall = np.average(result.mean[name], axis=0, weights=result.counts)[:max_channels]
        axis.plot(channels, overall, linewidth=1.2, color="black", linestyle="--", label="all")
        depth = result.layers.index(name) + 1
        axis.set_title(f"{name} (depth {depth})\nspecificity {result.specificity[name]:.2f}", fontsize=8)
        axis.set_ylim(-0.02, max(1.02, float(mean.max()) + 0.02))
        axis.tick_params(labelsize=7)
        axis.set_xlabel("channel index", fontsize=7)
        axis.set_ylabel("mean excitation", fontsize=7)
    for axis in axes[len(layers):]:
        axis.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 11), fontsize=7, frameon=False)
    figure.suptitle("Excitation per class (Hu et al., Fig. 6): class-agnostic early, class-specific late?",
                    fontsize=9)
    if path is not None:
        save_png(figure, path)
    return figure


def _class_colours(count):
    from matplotlib import colormaps

    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(count)]


def plot_history(history, path=None):
    """Learning curves of a `finetune` history: loss and accuracy per epoch, train and validation,
    the phases (head / unfrozen) shaded apart. Returns the Figure (written as PNG to `path` when given)."""
    epochs = np.asarray(history["epoch"])
    phases = np.asarray(history.get("phase", [1] * len(epochs)))
    figure = _figure(figsize=(9, 3.4), layout="constrained")
    for axis, metric in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        for key, style in ((metric, "-o"), (f"val_{metric}", "--s")):
            values = history.get(key)
            if values is not None and len(values) == len(epochs):
                axis.plot(epochs, values, style, markersize=3, label="validation" if key.startswith("val") else "train")
        for phase in sorted(set(phases.tolist())) if len(set(phases.tolist())) > 1 else ():
            span = epochs[phases == phase]
            axis.axvspan(span.min() - 0.5, span.max() + 0.5, alpha=0.08 if phase == 1 else 0.0, color="grey")
            axis.text(span.min() - 0.4, 1.0, "head (frozen)" if phase == 1 else "unfrozen", fontsize=7,
                      transform=axis.get_xaxis_transform(), va="top")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Learning curves", fontsize=10)
    if path is not None:
        save_png(figure, path)
    return figure


def plot_confusion(matrix, class_names, path=None):
    """A confusion matrix (rows: true class, columns: predicted), counts written in the cells.
    Returns the Figure (written as PNG to `path` when given)."""
    matrix = np.asarray(matrix)
    size = min(max(3.5, 0.45 * len(class_names) + 1.5), 12)
    figure = _figure(figsize=(size + 0.8, size), layout="constrained")
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, shrink=0.8)
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=90 if len(class_names) > 12 else 0, fontsize=7)
    axis.set_yticks(ticks, class_names, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(class_names) <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            axis.text(j, i, str(int(value)), ha="center", va="center", fontsize=7,
                      color="white" if value > threshold else "black")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    axis.set_title(f"Confusion matrix (accuracy {accuracy:.2%}, {int(matrix.sum())} images)", fontsize=9)
    if path is not None:
        save_png(figure, path)
    return figure


def confusion_matrix(model, data, num_classes):
    """``(num_classes, num_classes)`` counts of (true, predicted) over `data`'s ``(images, labels)`` batches."""
    matrix = np.zeros((num_classes, num_classes), dtype="int64")
    for images, labels in data:
        labels = np.asarray(labels)
        if labels.ndim == 2:
            labels = labels.argmax(-1)
        predicted = np.asarray(model.predict_on_batch(images)).argmax(-1)
        np.add.at(matrix, (labels.astype("int64"), predicted), 1)
    return matrix
