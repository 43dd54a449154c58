"""Segmentation heads over keras-senet backbones.

    import keras_senet as ks
    model = ks.segmentation.UNet("seresnet18", classes=4, weights="imagenet", decoder_attention="scse")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))

keras-hub's DeepLabV3 and RetinaNet take the same backbones through `keras_senet.hub.SEBackbone`.
"""

from keras_senet.segmentation.pyramid import feature_pyramid, level_of
from keras_senet.segmentation.unet import UNet, decoder_block

__all__ = ["UNet", "decoder_block", "feature_pyramid", "level_of"]
