"""keras-senet: Squeeze-and-Excitation networks for Keras 3.

    import keras_senet as ks
    ks.list_models("seresne*")
    model = ks.create_model("seresnet50", weights=None)
    model = ks.SEResNet50(weights=None)

The attention layers are imported (and so registered for Keras deserialisation) with the package,
so ``import keras_senet`` is all a process needs before ``keras.saving.load_model("model.keras")``;
everything else is imported on first use.
"""

import importlib
import sys

__version__ = "0.1.0"

# Keras builds and reloads functional models with recursive graph walks; the 269-layer models need
# more frames than Python's default 1000 (RecursionError in keras.saving.load_model otherwise).
if sys.getrecursionlimit() < 10_000:
    sys.setrecursionlimit(10_000)

from keras_senet import _cpu_kernels  # noqa: E402

_cpu_kernels.prefer_onednn_for_command_line()  # the `keras-senet` command only; before Keras imports TensorFlow

from keras_senet import layers  # noqa: E402  (registers the layers for .keras loading)
from keras_senet import models  # noqa: E402  (registers ZooModel for .keras loading)

# public name -> module that defines it
_EXPORTS = {
    "add_attention": "keras_senet.analysis",
    "compile_predict": "keras_senet.inference",
    "create_model": "keras_senet.factory",
    "decode_predictions": "keras_senet.imagenet",
    "preprocess_input": "keras_senet.imagenet",
    "model_info": "keras_senet.info",
    "reparameterize": "keras_senet.reparameterization",
    "list_models": "keras_senet.zoo",
}
# keras.applications-style constructors, one per keras_senet.applications.APPLICATIONS entry (listed here so
# that the module is imported on first use; tests/test_api.py checks the two lists agree).
_EXPORTS.update(dict.fromkeys("""
    SEResNet18 SEResNet34 SEResNet50 SEResNet101 SEResNet152 SEResNeXt50 SEResNeXt101 SENet154
    SEMobileNetV3Large SEMobileNetV3Small SEEfficientNetB0 SEEfficientNetB1 SEEfficientNetB2 SEEfficientNetB3
    SEEfficientNetB4 SEEfficientNetB5 SEEfficientNetB6 SEEfficientNetB7 SELCNet050 SELCNet075 SELCNet100
    SEMixNetS SEMixNetM SEMixNetL SEMixNetXL SERegNetY002 SERegNetY004 SERegNetY006 SERegNetY008 SERegNetY016
    SERegNetY032 SERegNetY040 SERegNetY064 SERegNetY080 SERegNetY120 SERegNetY160 SERegNetY320""".split(),
    "keras_senet.applications"))
_SUBMODULES = ("weights", "zoo", "applications", "factory", "imagenet", "info", "complexity", "inference",
               "preprocessing", "data", "export", "training", "segmentation", "hub", "analysis")

__all__ = sorted(_EXPORTS) + ["layers", "models", "weights", "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"keras_senet.{name}")
    else:
        raise AttributeError(f"module 'keras_senet' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
