"""Model builders: one generic ResNet-family builder driven by a `ResNetSpec`."""

from keras_senet.models.resnet import build_resnet
from keras_senet.models.spec import ResNetSpec

__all__ = ["ResNetSpec", "build_resnet"]
