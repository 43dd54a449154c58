"""Model builders: one module per architecture family, each driven by its frozen spec dataclass.

`build_model(spec, ...)` builds any family's spec as a `ZooModel`; the registry (`keras_senet.zoo`)
maps timm's names to specs, and `keras_senet.create_model` adds the keras.applications arguments.
"""

from keras_senet.models.family import FeatureInfo, family_of
from keras_senet.models.spec import ResNetSpec
from keras_senet.models.zoo_model import ZooModel

__all__ = ["FeatureInfo", "ResNetSpec", "ZooModel", "build_model", "family_of"]


def build_model(spec, input_shape=(224, 224, 3), *, include_top=True, pooling=None, classes=1000,
                classifier_activation="softmax", name="model", preprocessing=None, input_tensor=None):
    """Build `spec` (any family's spec) as a `ZooModel`, without the registry's argument checks.

    Args:
        spec: a family spec, e.g. ``keras_senet.zoo.get_entry("seresnet50").spec``.
        input_shape: ``(height, width, channels)`` (channels-first if Keras is so configured).
        include_top, pooling, classes, classifier_activation: as in `keras_senet.create_model`.
        name: the model's name.
        preprocessing: the `PreprocessingConfig` the model carries, or None.
        input_tensor: a Keras tensor to build on instead of a new ``keras.Input`` named ``"image"``.
    """
    import keras

    image = keras.Input(shape=input_shape, name="image") if input_tensor is None else input_tensor
    model_inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else image
    if isinstance(model_inputs, list) and len(model_inputs) == 1:
        model_inputs = model_inputs[0]
    outputs = family_of(spec).build(spec, image, include_top=include_top, pooling=pooling, classes=classes,
                                    classifier_activation=classifier_activation)
    return ZooModel(model_inputs, outputs, name=name, preprocessing=preprocessing)
