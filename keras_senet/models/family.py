"""What every architecture family provides, and how the registry finds a spec's family (no Keras import).

A family is one builder module (``keras_senet/models/<family>.py``) plus its frozen spec dataclass.
The spec names its module in the class attribute ``FAMILY``; the module defines

    build(spec, inputs, *, include_top, pooling, classes, classifier_activation) -> output tensor
    feature_info(spec) -> tuple of FeatureInfo, one per reduction level (stem first)
    num_features(spec) -> channels entering the classifier
    classifier(spec), first_conv(spec) -> Keras layer names (timm's module names, "." -> "_")
    describe(spec) -> one line for `keras-senet list -v`
    head_layers(spec) -> optional: the layers after global pooling that ``include_top=False`` leaves
        out (default: the classifier alone)

and the spec class lists the fields `create_model` may override for ablations in ``OVERRIDES``.
Nothing else in the package knows a family by name.
"""

from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
    """One feature level of a network (timm's ``feature_info`` entry).

    Attributes:
        index: position in the model's feature list (0: the stem), timm's ``out_indices`` numbering.
        layer: name of the Keras layer whose output is this feature map.
        channels: channels of the feature map.
        stride: reduction of the input size (2, 4, 8, 16, 32); the keras-hub pyramid key is
            ``f"P{log2(stride)}"``.
    """

    index: int
    layer: str
    channels: int
    stride: int

    @property
    def level(self):
        """keras-hub's pyramid level name, ``"P<log2 stride>"``."""
        return f"P{self.stride.bit_length() - 1}"


def family_of(spec):
    """The builder module of `spec`'s family (imported on first use: it imports Keras)."""
    return importlib.import_module(type(spec).FAMILY)
