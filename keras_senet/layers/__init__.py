"""Channel / spatial attention layers for SE-style networks (Keras 3, backend-agnostic)."""

from keras_senet.layers._common import make_divisible
from keras_senet.layers.cbam import CBAM
from keras_senet.layers.channel_split import SplitChannels
from keras_senet.layers.eca import EfficientChannelAttention
from keras_senet.layers.factory import ATTENTION_LAYERS, get_attention, list_attention
from keras_senet.layers.scaled_attention import ScaledAttention
from keras_senet.layers.scse import SpatialChannelSqueezeExcite
from keras_senet.layers.squeeze_excite import EffectiveSqueezeExcite, SqueezeExcite

__all__ = [
    "ATTENTION_LAYERS",
    "CBAM",
    "EffectiveSqueezeExcite",
    "EfficientChannelAttention",
    "ScaledAttention",
    "SpatialChannelSqueezeExcite",
    "SplitChannels",
    "SqueezeExcite",
    "get_attention",
    "list_attention",
    "make_divisible",
]
