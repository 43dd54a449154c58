"""keras-hub interop: any registered model as a keras-hub feature-pyramid backbone.

    pip install "keras-senet[hub]"

    import keras_hub
    from keras_senet.hub import SEBackbone

    encoder = SEBackbone("seresnet50", weights="imagenet")          # pyramid_outputs: P2..P5
    detector = keras_hub.models.RetinaNetObjectDetector(
        backbone=keras_hub.models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=7,
                                                    use_p5=False),
        num_classes=20)

`SEBackbone` is a `keras_hub.models.FeaturePyramidBackbone` (keras-hub's ``pyramid_outputs`` contract,
keras-team/keras-hub PR #1769: keys ``"P<n>"``, n = log2 of the stride), registered for ``.keras``
loading, so the detectors and segmenters that keras-hub builds over a backbone serialise it too.
Import this module (``import keras_senet.hub``) before ``keras.saving.load_model`` of such a file.
"""

from __future__ import annotations

try:
    import keras_hub
except ImportError as error:  # the optional extra
    raise ImportError('keras_senet.hub needs keras-hub: pip install "keras-senet[hub]"') from error
import keras

from keras_senet.segmentation.pyramid import DEFAULT_OUT_INDICES, feature_pyramid

__all__ = ["SEBackbone"]


@keras.saving.register_keras_serializable(package="keras_senet")
class SEBackbone(keras_hub.models.FeaturePyramidBackbone):
    """A registered keras-senet model's feature pyramid as a keras-hub backbone.

    Args:
        model: a registry name (`keras_senet.list_models()`), optionally with a pretrained tag
            (``"seresnet50.a1_in1k"``).
        weights: ``None`` (random, default), ``"imagenet"``, a tag, a checkpoint file or URL: as
            `keras_senet.create_model`. Not part of `get_config`: a saved ``.keras`` file carries the
            weights, and `from_config` (Keras' semantics) builds the architecture only.
        out_indices: feature levels, timm's numbering (0: stride 2 ... 4: stride 32); default
            ``(1, 2, 3, 4)``, i.e. ``pyramid_outputs`` ``{"P2", "P3", "P4", "P5"}``.
        image_shape: ``(height, width, 3)``; default ``(None, None, 3)`` (any size).
        **kwargs: `keras_hub.models.Backbone` arguments (``name``, ``dtype``, ``trainable``).

    Inputs are images normalised as the model expects: ``backbone.preprocessing`` (mean, std, input
    size) says how, e.g. ``keras_senet.preprocess_input(pixels, model="seresnet50")``.

    Outputs: ``{"P<level>": (batch, H / 2**level, W / 2**level, channels)}``, the same as
    ``pyramid_outputs``.
    """

    def __init__(self, model, weights=None, out_indices=DEFAULT_OUT_INDICES, image_shape=(None, None, 3),
                 **kwargs):
        if not isinstance(model, str):
            raise ValueError(f"model must be a registry name (see keras_senet.list_models()), got "
                             f"{type(model).__name__}")
        out_indices = tuple(out_indices)
        image_shape = tuple(image_shape)
        features = feature_pyramid(model, weights=weights, out_indices=out_indices, input_shape=image_shape)
        kwargs.setdefault("name", features.name)
        super().__init__(inputs=features.inputs[0], outputs=dict(features.output), **kwargs)
        self.pyramid_outputs = dict(features.output)
        self.model_name = model
        self.out_indices = out_indices
        self.image_shape = image_shape
        self.preprocessing = getattr(features, "preprocessing", None)

    def get_config(self):
        config = super().get_config()
        config.update({"model": self.model_name, "out_indices": list(self.out_indices),
                       "image_shape": list(self.image_shape)})
        return config
