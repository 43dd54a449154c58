"""`ZooModel`: a functional `keras.Model` that carries its `PreprocessingConfig`."""

from __future__ import annotations

import keras

from keras_senet.preprocessing.config import PreprocessingConfig


@keras.saving.register_keras_serializable(package="keras_senet")
class ZooModel(keras.Model):
    """A functional model built by keras-senet; ``model.preprocessing`` says how to feed it.

    Constructed like a functional `keras.Model` (``ZooModel(inputs, outputs, name=...,
    preprocessing=config)``). The config is part of `get_config`, so it survives ``.keras`` save and
    ``keras.saving.load_model`` (Keras passes the extra config key back to this constructor).

    Attributes:
        preprocessing: a `keras_senet.preprocessing.PreprocessingConfig` or None.
    """

    def __init__(self, *args, preprocessing=None, **kwargs):
        super().__init__(*args, **kwargs)
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
        return config

    @classmethod
    def wrap(cls, model, preprocessing):
        """`model`'s graph (same layers and weights, nothing copied) as a ZooModel carrying `preprocessing`."""
        return cls(model.input, model.output, name=model.name, preprocessing=preprocessing)
