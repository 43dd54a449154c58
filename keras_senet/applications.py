"""keras.applications-style constructors: thin wrappers over `keras_senet.create_model`.

Each function builds one registry entry (named in its docstring) with keras.applications' exact
signature and argument checks.
"""

from keras_senet.factory import create_model

# function name -> registry entry it builds. The legacy_* entries are the original Caffe SENets
# (Hu et al.) where timm's modern re-implementation has no ImageNet checkpoint of its own.
APPLICATIONS = {
    "SEResNet18": "legacy_seresnet18",
    "SEResNet34": "legacy_seresnet34",
    "SEResNet50": "seresnet50",
    "SEResNet101": "legacy_seresnet101",
    "SEResNet152": "legacy_seresnet152",
    "SEResNeXt50": "seresnext50_32x4d",
    "SEResNeXt101": "seresnext101_32x4d",
    "SENet154": "legacy_senet154",
}


_DOC = """Instantiate {function}: the ``{entry}`` registry entry ({description}).

    Args:
        include_top: whether to include the global-pooling + fully-connected classifier. Default True.
        weights: ``"imagenet"`` (default), ``None`` (random initialisation) or a path to a
            ``.weights.h5`` file.
        input_tensor: optional Keras tensor (output of ``keras.Input``) to use as image input.
        input_shape: ``(height, width, 3)``; height and width at least 32. Default
            ``(224, 224, 3)`` with the top, ``(None, None, 3)`` without.
        pooling: with ``include_top=False``: ``None`` (4-D feature map), ``"avg"`` or ``"max"``
            (2-D ``(batch, channels)`` output).
        classes: number of classes (must be 1000 with ImageNet weights and the top). Default 1000.
        classifier_activation: activation of the top layer; ``None`` returns logits. Default softmax.
        name: model name. Default ``"{entry}"``.

    Inputs are RGB images preprocessed with ``keras_senet.preprocess_input(x, model="{entry}")``.

    Returns:
        A ``keras.Model``.
    """


def _application(description):
    """Give a constructor its docstring and make it build the entry named in APPLICATIONS."""

    def decorate(function):
        entry = APPLICATIONS[function.__name__]
        function.__doc__ = _DOC.format(function=function.__name__, entry=entry, description=description)
        return function

    return decorate


def _build(function_name, **kwargs):
    return create_model(APPLICATIONS[function_name], **kwargs)


@_application("SE-ResNet-18, Caffe layout")
def SEResNet18(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name=None):
    return _build("SEResNet18", **locals())


@_application("SE-ResNet-34, Caffe layout")
def SEResNet34(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name=None):
    return _build("SEResNet34", **locals())


@_application("SE-ResNet-50, torchvision-style bottleneck")
def SEResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name=None):
    return _build("SEResNet50", **locals())


@_application("SE-ResNet-101, Caffe layout")
def SEResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    return _build("SEResNet101", **locals())


@_application("SE-ResNet-152, Caffe layout")
def SEResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    return _build("SEResNet152", **locals())


@_application("SE-ResNeXt-50 32x4d")
def SEResNeXt50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    return _build("SEResNeXt50", **locals())


@_application("SE-ResNeXt-101 32x4d")
def SEResNeXt101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SEResNeXt101", **locals())


@_application("SENet-154, the ILSVRC 2017 winner, Caffe layout")
def SENet154(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name=None):
    return _build("SENet154", **locals())


__all__ = list(APPLICATIONS)
