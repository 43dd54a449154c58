"""The run's pictures beside ``history.json``: learning curves and the validation confusion matrix (PNG).

matplotlib is optional (the ``plots`` extra): without it the pictures are skipped with one printed line.
"""

from __future__ import annotations

import os

LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"


def write_pictures(workdir, history, model=None, val_data=None, num_classes=None, class_names=None):
    """Write ``workdir/learning_curves.png`` and, with `val_data`, ``workdir/confusion_matrix.png``.

    Returns the paths written ([] without matplotlib, after printing how to get it).
    """
    from keras_senet.analysis.plots import (INSTALL_HINT, confusion_matrix, have_matplotlib, plot_confusion,
                                            plot_history)

    if not have_matplotlib():
        print(f"Learning curves and confusion matrix skipped: matplotlib is not installed ({INSTALL_HINT}).",
              flush=True)
        return []
    curves = os.path.join(workdir, LEARNING_CURVES)
    plot_history(history, curves)
    written = [curves]
    if model is not None and val_data is not None and num_classes:
        matrix = confusion_matrix(model, val_data, num_classes)
        names = list(class_names) if class_names is not None and len(class_names) == num_classes else \
            [str(i) for i in range(num_classes)]
        path = os.path.join(workdir, CONFUSION_MATRIX)
        plot_confusion(matrix, names, path)
        written.append(path)
    return written
