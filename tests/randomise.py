"""Random, non-default weights for Keras layers and models.

Default initialisers leave biases at 0 and BatchNorm at identity (gamma 1, beta 0, mean 0, variance 1),
which lets a wrongly wired bias or BatchNorm statistic (or a converter that folds them away) go unnoticed.
Kernels are scaled by 1/sqrt(fan_in), so activations and attention gates stay away from saturation.
(The timm side of a comparison: `timm_reference.timm_model_with_statistics`.)
"""

import keras
import numpy as np

_BATCHNORM = ("gamma", "beta", "moving_mean", "moving_variance")


def _draw(path, shape, rng):
    if path.endswith("moving_variance"):
        return rng.uniform(0.5, 2.0, shape)
    if path.endswith("gamma"):
        return rng.uniform(0.5, 1.5, shape)
    if path.endswith("kernel"):
        return rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
    return rng.normal(0.0, 0.5, shape)  # biases, beta, moving_mean


def randomise_weights(layer, seed=0):
    """Every weight of ``layer`` (a layer or a model) drawn afresh; returns ``layer``."""
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        variable.assign(_draw(variable.path, tuple(variable.shape), rng).astype(variable.dtype))
    return layer


def randomise_batchnorm(model, seed=0):
    """Only the BatchNormalization layers' four weights drawn afresh (so folding them into the
    convolutions is really checked); returns ``model``."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in layer.weights:
                assert variable.path.endswith(_BATCHNORM), variable.path
                variable.assign(_draw(variable.path, tuple(variable.shape), rng).astype(variable.dtype))
    return model
