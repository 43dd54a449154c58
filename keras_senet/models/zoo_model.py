"""`ZooModel`: a functional `keras.Model` that carries its `PreprocessingConfig`."""

from __future__ import annotations

import dataclasses

import keras

from keras_senet.models.family import FeatureInfo
from keras_senet.preprocessing.config import PreprocessingConfig


@keras.saving.register_keras_serializable(package="keras_senet")
class ZooModel(keras.Model):
    """A functional model built by keras-senet; ``model.preprocessing`` says how to feed it.

    Constructed like a functional `keras.Model` (``ZooModel(inputs, outputs, name=...,
    preprocessing=config)``). The config is part of `get_config`, so it survives ``.keras`` save and
    ``keras.saving.load_model`` (Keras passes the extra config key back to this constructor).

    Attributes:
        preprocessing: a `keras_senet.preprocessing.PreprocessingConfig` or None.
        feature_info: for a feature extractor (``create_model(..., features_only=True)``), a tuple of
            `FeatureInfo` (index, layer, channels, stride, level), one per output in output order;
            None for a classifier or backbone with a single output.
    """

    def __init__(self, *args, preprocessing=None, feature_info=None, **kwargs):
        super().__init__(*args, **kwargs)
        if feature_info is not None:
            feature_info = tuple(info if isinstance(info, FeatureInfo) else FeatureInfo(**info)
                                 for info in feature_info)
        self.feature_info = feature_info
        if isinstance(preprocessing, dict):
            preprocessing = PreprocessingConfig.from_dict(preprocessing)
        if preprocessing is not None and not isinstance(preprocessing, PreprocessingConfig):
            raise ValueError(f"preprocessing must be a PreprocessingConfig, a dict or None, got "
                             f"{type(preprocessing).__name__}")
        self.preprocessing = preprocessing

    def get_config(self):
        config = super().get_config()
        if self.preprocessing is not None:
            config["preprocessing"] = self.preprocessing.to_dict()
        if self.feature_info is not None:
            config["feature_info"] = [dataclasses.asdict(info) for info in self.feature_info]
        return config

    @classmethod
    def wrap(cls, model, preprocessing):
        """`model`'s graph (same layers and weights, nothing copied) as a ZooModel carrying `preprocessing`."""
        return cls(model.input, model.output, name=model.name, preprocessing=preprocessing)
