"""`excitations`: what the SE gates do per class and per depth (Section 6 of Hu et al., "Role of excitation").

The paper (Fig. 6/7) finds the early SE blocks class-agnostic, the later ones class-specific, and the
last ones nearly saturated. `excitations` measures that on any model with SE-family layers (every layer
with an ``excitation(inputs)`` method: SE, eSE, ECA, CBAM's and scSE's channel gate, `ScaledAttention`).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np


def attention_layers(model):
    """The layers of `model` that have an ``excitation(inputs)`` gate, in graph order (shallow to deep)."""
    return [layer for layer in model.layers if callable(getattr(layer, "excitation", None))]


def gate_model(model):
    """A `keras.Model` from `model`'s inputs to the gate of every attention layer: a list of `(batch, C)`.

    Shares `model`'s layers (and weights). ValueError when `model` has no attention layer.
    """
    import keras

    layers = attention_layers(model)
    if not layers:
        raise ValueError(f"model={model.name!r} has no attention layer with an excitation gate (SE, eSE, ECA, "
                         f"CBAM, scSE); add some with keras_senet.add_attention")
    # One small layer per gate: the attention layer's sub-layers (fc1, fc2...) run inside its call, so they add
    # no graph nodes of their own (their names repeat across blocks and graph names must be unique).
    outputs = [_Excitation(layer, name=f"{layer.name}_excitation")(layer.input) for layer in layers]
    return keras.Model(model.inputs, outputs, name=f"{model.name}_gates")


def _excitation_layer_class():
    import keras

    class Excitation(keras.layers.Layer):
        """Calls `attention.excitation` (weights shared with `attention`; not for saving)."""

        def __init__(self, attention, **kwargs):
            super().__init__(**kwargs)
            self.attention = attention

        def call(self, inputs):
            return self.attention.excitation(inputs)

    return Excitation


def _Excitation(attention, **kwargs):  # keras is imported on first use, as everywhere in the package
    global _EXCITATION
    if _EXCITATION is None:
        _EXCITATION = _excitation_layer_class()
    return _EXCITATION(attention, **kwargs)


_EXCITATION = None


@dataclasses.dataclass
class Excitations:
    """Per-class statistics of the gates of every attention layer.

    Attributes:
        layers: attention layer names, shallow to deep.
        class_names: one name per class index.
        counts: examples seen per class, ``(classes,)``.
        mean: ``{layer: (classes, channels)}`` mean gate value per class and channel.
        std: ``{layer: (classes, channels)}`` standard deviation over the class's examples.
        specificity: ``{layer: float}`` class-specificity, the ratio of between-class to within-class
            variance of the gates, pooled over channels:
            ``sum_c sum_k n_k (mean_kc - mean_c)^2 / sum_c sum_k n_k std_kc^2`` (0: the gate ignores the
            class; large: the gate tells the classes apart).
    """

    layers: list
    class_names: list
    counts: np.ndarray
    mean: dict
    std: dict
    specificity: dict

    def to_dict(self):
        return {"layers": [{"name": name, "channels": int(self.mean[name].shape[1]),
                            "specificity": float(self.specificity[name]),
                            "mean": np.round(self.mean[name], 6).tolist(),
                            "std": np.round(self.std[name], 6).tolist()} for name in self.layers],
                "class_names": list(self.class_names), "counts": [int(c) for c in self.counts]}

    def to_json(self, path=None):
        """The statistics as JSON text; also written to `path` (atomically) when given."""
        text = json.dumps(self.to_dict())
        if path is not None:
            from keras_senet.analysis.plots import write_atomically

            def write(tmp):
                with open(tmp, "w") as f:
                    f.write(text)

            write_atomically(path, write)
        return text

    def table(self):
        """One row per attention layer, shallow to deep: channels, mean gate, share of saturated gates (mean
        gate over all examples above 0.99 or below 0.01), class spread (the standard deviation of the class
        means, averaged over channels: how far apart the lines of the figure are) and specificity."""
        lines = [f"{'depth':>5}  {'layer':<28} {'channels':>8} {'mean gate':>9} {'saturated':>9} "
                 f"{'class spread':>12} {'specificity':>11}"]
        for depth, name in enumerate(self.layers, 1):
            mean = self.mean[name]
            overall = np.average(mean, axis=0, weights=self.counts)
            saturated = float(np.mean((overall > 0.99) | (overall < 0.01)))
            spread = float(mean[self.counts > 0].std(axis=0).mean())
            lines.append(f"{depth:>5}  {name:<28} {mean.shape[1]:>8} {overall.mean():>9.3f} {saturated:>8.0%} "
                         f"{spread:>12.3f} {self.specificity[name]:>11.3f}")
        return "\n".join(lines)

    def plot(self, path=None, layers=None, max_channels=None):
        """Fig. 6 of the SE paper: per layer, the mean gate value against the channel index, one line per class.

        Args:
            path: write a PNG there (atomically) when given.
            layers: names to plot; default all (at most 8: spread evenly over the depth).
            max_channels: plot only the first N channels (the paper shows 50 for readability).

        Returns:
            The matplotlib Figure. Needs matplotlib (``pip install 'keras-senet[plots]'``).
        """
        from keras_senet.analysis.plots import plot_excitations

        return plot_excitations(self, path, layers=layers, max_channels=max_channels)


def _specificity(sums, squares, counts):
    """Between-class over within-class variance, pooled over channels, from per-class sums (float64)."""
    n = counts[:, None]
    means = sums / np.maximum(n, 1)
    within = np.maximum(squares - n * means**2, 0.0).sum()
    grand = sums.sum(0) / counts.sum()
    between = (n * (means - grand) ** 2).sum()
    return float(between / within) if within > 0 else float("inf")


def excitations(model, data, *, class_names=None, max_examples=None):
    """Per-class mean and spread of the excitation of every attention layer of `model` on `data`.

    Args:
        model: a functional `keras.Model` with SE-family layers (see `attention_layers`).
        data: `(images, labels)` batches (a `tf.data.Dataset`, e.g. `keras_senet.data.load_dataset(...,
            training=False)`, or any iterable of NumPy pairs), preprocessed as the model expects; labels
            int ``(batch,)`` or one-hot ``(batch, classes)``.
        class_names: names of the class indices; default ``data.class_names`` when it has them, else
            ``"0", "1", ...``.
        max_examples: stop after this many examples (default: all of `data`).

    Returns:
        `Excitations`. ValueError for a model without attention layers or empty data.
    """
    if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(max_examples, int)
                                     or max_examples < 1):
        raise ValueError(f"max_examples={max_examples!r} is not None or a positive int")
    gates = gate_model(model)
    names = [layer.name for layer in attention_layers(model)]
    sums = squares = counts = None
    seen = 0
    for images, labels in data:
        labels = np.asarray(labels)
        if labels.ndim == 2:
            labels = labels.argmax(-1)
        labels = labels.astype("int64")
        if max_examples is not None:
            images, labels = images[: max_examples - seen], labels[: max_examples - seen]
        values = gates.predict_on_batch(images)
        values = [np.asarray(v, dtype="float64") for v in (values if isinstance(values, list) else [values])]
        classes = max(int(labels.max()) + 1, 0 if counts is None else len(counts))
        if counts is None:
            sums = [np.zeros((classes, v.shape[1])) for v in values]
            squares = [np.zeros((classes, v.shape[1])) for v in values]
            counts = np.zeros(classes)
        elif classes > len(counts):  # a class first seen in a later batch
            grow = classes - len(counts)
            sums = [np.pad(s, ((0, grow), (0, 0))) for s in sums]
            squares = [np.pad(s, ((0, grow), (0, 0))) for s in squares]
            counts = np.pad(counts, (0, grow))
        for i, value in enumerate(values):
            np.add.at(sums[i], labels, value)
            np.add.at(squares[i], labels, value**2)
        np.add.at(counts, labels, 1)
        seen += len(labels)
        if max_examples is not None and seen >= max_examples:
            break
    if not seen:
        raise ValueError("data is empty: no examples to read the excitations on")
    if class_names is None:
        class_names = getattr(data, "class_names", None) or [str(i) for i in range(len(counts))]
    class_names = [str(name) for name in class_names]
    if len(class_names) < len(counts):
        raise ValueError(f"class_names has {len(class_names)} names but the labels go up to {len(counts) - 1}")
    class_names = class_names[: len(counts)]
    n = np.maximum(counts, 1)[:, None]
    mean = {name: s / n for name, s in zip(names, sums)}
    std = {name: np.sqrt(np.maximum(q / n - (s / n) ** 2, 0.0)) for name, s, q in zip(names, sums, squares)}
    specificity = {name: _specificity(s, q, counts) for name, s, q in zip(names, sums, squares)}
    return Excitations(names, class_names, counts, mean, std, specificity)
