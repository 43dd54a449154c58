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
    # Inverted-residual SE networks. The "SE" prefix keeps them apart from keras.applications'
    # MobileNetV3Large / EfficientNetB0 ..., whose weights are other checkpoints: these load timm's.
    "SEMobileNetV3Large": "mobilenetv3_large_100",
    "SEMobileNetV3Small": "mobilenetv3_small_100",
    "SEEfficientNetB0": "tf_efficientnet_b0",
    "SEEfficientNetB1": "tf_efficientnet_b1",
    "SEEfficientNetB2": "tf_efficientnet_b2",
    "SEEfficientNetB3": "tf_efficientnet_b3",
    "SEEfficientNetB4": "tf_efficientnet_b4",
    "SEEfficientNetB5": "tf_efficientnet_b5",
    "SEEfficientNetB6": "tf_efficientnet_b6",
    "SEEfficientNetB7": "tf_efficientnet_b7",
    "SELCNet050": "lcnet_050",
    "SELCNet075": "lcnet_075",
    "SELCNet100": "lcnet_100",
    "SEMixNetS": "mixnet_s",
    "SEMixNetM": "mixnet_m",
    "SEMixNetL": "mixnet_l",
    "SEMixNetXL": "mixnet_xl",
    # RegNetY (SE in every block), the 200 MF ... 32 GF models of the paper; the SE prefix keeps them apart
    # from tf.keras 2's keras.applications.regnet (RegNetY002 ... RegNetY320, not in Keras 3).
    "SERegNetY002": "regnety_002",
    "SERegNetY004": "regnety_004",
    "SERegNetY006": "regnety_006",
    "SERegNetY008": "regnety_008",
    "SERegNetY016": "regnety_016",
    "SERegNetY032": "regnety_032",
    "SERegNetY040": "regnety_040",
    "SERegNetY064": "regnety_064",
    "SERegNetY080": "regnety_080",
    "SERegNetY120": "regnety_120",
    "SERegNetY160": "regnety_160",
    "SERegNetY320": "regnety_320",
}


_DOC = """Instantiate {function}: the ``{entry}`` registry entry ({description}).

    Args:
        include_top: whether to include the global-pooling + fully-connected classifier. Default True.
        weights: ``"imagenet"`` (default), ``None`` (random initialisation) or a path to a
            ``.weights.h5`` file.
        input_tensor: optional Keras tensor (output of ``keras.Input``) to use as image input.
        input_shape: ``(height, width, 3)``; height and width at least 32. Default: the square
            input size of the entry's default checkpoint with the top, ``(None, None, 3)`` without.
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


@_application("MobileNetV3-Large 1.0, timm's training (SE with hard-sigmoid gates)")
def SEMobileNetV3Large(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                       classes=1000, classifier_activation="softmax", name=None):
    return _build("SEMobileNetV3Large", **locals())


@_application("MobileNetV3-Small 1.0, timm's training")
def SEMobileNetV3Small(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                       classes=1000, classifier_activation="softmax", name=None):
    return _build("SEMobileNetV3Small", **locals())


@_application("EfficientNet-B0, Google's checkpoints ported by timm (TF padding)")
def SEEfficientNetB0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name=None):
    return _build("SEEfficientNetB0", **locals())


@_application("EfficientNet-B1, Google's checkpoints ported by timm (TF padding)")
def SEEfficientNetB1(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name=None):
    return _build("SEEfficientNetB1", **locals())


@_application("EfficientNet-B2, Google's checkpoints ported by timm (TF padding)")
def SEEfficientNetB2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name=None):
    return _build("SEEfficientNetB2", **locals())


@_application("EfficientNet-B3, Google's checkpoints ported by timm (TF padding)")
def SEEfficientNetB3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name=None):
    return _build("SEEfficientNetB3", **locals())


@_application("EfficientNet-B4, Google's checkpoints ported by timm (TF padding)")
def SEEfficientNetB4(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name=None):
    return _build("SEEfficientNetB4", **locals())


@_application("EfficientNet-B5, Google's checkpoints ported by timm (TF padding)")
def SEEfficientNetB5(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name=None):
    return _build("SEEfficientNetB5", **locals())


@_application("EfficientNet-B6, Google's checkpoints ported by timm (TF padding)")
def SEEfficientNetB6(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name=None):
    return _build("SEEfficientNetB6", **locals())


@_application("EfficientNet-B7, Google's checkpoints ported by timm (TF padding)")
def SEEfficientNetB7(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name=None):
    return _build("SEEfficientNetB7", **locals())


@_application("PP-LCNet 0.5x")
def SELCNet050(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name=None):
    return _build("SELCNet050", **locals())


@_application("PP-LCNet 0.75x")
def SELCNet075(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name=None):
    return _build("SELCNet075", **locals())


@_application("PP-LCNet 1.0x")
def SELCNet100(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name=None):
    return _build("SELCNet100", **locals())


@_application("MixNet-S, mixed depthwise kernels")
def SEMixNetS(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name=None):
    return _build("SEMixNetS", **locals())


@_application("MixNet-M, mixed depthwise kernels")
def SEMixNetM(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name=None):
    return _build("SEMixNetM", **locals())


@_application("MixNet-L, mixed depthwise kernels")
def SEMixNetL(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name=None):
    return _build("SEMixNetL", **locals())


@_application("MixNet-XL, mixed depthwise kernels")
def SEMixNetXL(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name=None):
    return _build("SEMixNetXL", **locals())


@_application("RegNetY-200 MF")
def SERegNetY002(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY002", **locals())


@_application("RegNetY-400 MF")
def SERegNetY004(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY004", **locals())


@_application("RegNetY-600 MF")
def SERegNetY006(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY006", **locals())


@_application("RegNetY-800 MF")
def SERegNetY008(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY008", **locals())


@_application("RegNetY-1.6 GF")
def SERegNetY016(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY016", **locals())


@_application("RegNetY-3.2 GF")
def SERegNetY032(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY032", **locals())


@_application("RegNetY-4.0 GF")
def SERegNetY040(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY040", **locals())


@_application("RegNetY-6.4 GF")
def SERegNetY064(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY064", **locals())


@_application("RegNetY-8.0 GF")
def SERegNetY080(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY080", **locals())


@_application("RegNetY-12 GF")
def SERegNetY120(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY120", **locals())


@_application("RegNetY-16 GF")
def SERegNetY160(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY160", **locals())


@_application("RegNetY-32 GF")
def SERegNetY320(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name=None):
    return _build("SERegNetY320", **locals())


__all__ = list(APPLICATIONS)
