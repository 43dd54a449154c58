"""Random, non-default weights for Keras layers and models.

Default initialisers leave biases at 0 and BatchNorm at identity (gamma 1, beta 0, mean 0, variance 1),
which lets a wrongly wired bias or BatchNorm statistic (or a converter that folds them away) go unnoticed.
Kernels are scaled by 1/sqrt(fan_in) (a depthwise kernel's fan-in is its window: each output channel reads
one input channel), so activations and attention gates stay away from saturation and vanishing.
(The timm side of a comparison: `timm_reference.timm_model_with_statistics`.)
"""

import keras
import numpy as np

_BATCHNORM = ("gamma", "beta", "moving_mean", "moving_variance")


def _draw(path, shape, rng, depthwise=False):
    if path.endswith("moving_variance"):
        return rng.uniform(0.5, 2.0, shape)
    if path.endswith("gamma"):
        return rng.uniform(0.5, 1.5, shape)
    if path.endswith("kernel"):
        fan_in = np.prod(shape[:-2]) if depthwise else np.prod(shape[:-1])
        return rng.standard_normal(shape) / np.sqrt(fan_in)
    return rng.normal(0.0, 0.5, shape)  # biases, beta, moving_mean


def randomise_weights(layer, seed=0):
    """Every weight of ``layer`` (a layer or a model) drawn afresh; returns ``layer``."""
    rng = np.random.default_rng(seed)
    layers = layer.layers if isinstance(layer, keras.Model) else [layer]
    depthwise = {sub.kernel.path for sub in layers if isinstance(sub, keras.layers.DepthwiseConv2D)}
    for variable in layer.weights:
        drawn = _draw(variable.path, tuple(variable.shape), rng, depthwise=variable.path in depthwise)
        variable.assign(drawn.astype(variable.dtype))
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


def calibrate_batchnorm(model, images):
    """Set every BatchNormalization's moving mean and variance to the statistics of its input on
    `images` (what training converges to), keeping gamma and beta; returns ``model``.

    Random statistics alone let the signal of a deep network without residuals (the inverted-residual
    family: ~30 conv + ReLU-like layers at 1/sqrt(fan_in)) vanish, so that its output no longer depends
    on the input and any export "matches"; calibrated, every BatchNorm outputs gamma/beta-scaled features.
    """
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [norm.momentum for norm in norms]
    try:
        for norm in norms:
            norm.momentum = 0.0  # moving statistics := this batch's statistics
        model(images, training=True)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
    return model
