"""Small models for the export tests: every architectural family of the registry, one block per stage."""

import dataclasses

import keras_senet as ks
from keras_senet.models import build_model

# family -> registry entry whose layout it exports (depths cut to one block per stage for speed:
# the conversion path of every block type, stem, shortcut and attention module is the same)
FAMILIES = {
    "basic": "seresnet18",
    "legacy-basic": "legacy_seresnet18",
    "bottleneck": "seresnet50",
    "resnext-anti-alias": "seresnetaa50d",
    "deep-tiered-stem": "seresnext26t_32x4d",
    "senet154-layout": "legacy_senet154",
    "legacy": "legacy_seresnet50",
    "eca": "ecaresnet50d",
    "plain": "resnet50",
}


def small_model(registry_name, size=32, classes=10, classifier_activation="softmax"):
    """`registry_name`'s architecture with one block per stage, on ``(size, size, 3)`` inputs."""
    spec = dataclasses.replace(ks.zoo.get_entry(registry_name).spec, depths=(1, 1, 1, 1))
    preprocessing = ks.preprocessing.for_model(registry_name, input_size=size)
    return build_model(spec, (size, size, 3), classes=classes, classifier_activation=classifier_activation,
                       name=registry_name, preprocessing=preprocessing)
