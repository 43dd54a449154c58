"""Channel / spatial attention layers for SE-style networks (Keras 3, backend-agnostic)."""

from keras_senet.layers._common import make_divisible
from keras_senet.layers.cbam import CBAM
from keras_senet.layers.channel_split import SplitChannels
from keras_senet.layers.eca import EfficientChannelAttention
from keras_senet.layers.factory import ATTENTION_LAYERS, get_attention, list_attention
from keras_senet.layers.global_context import GlobalContext
from keras_senet.layers.resize import NearestResize
from keras_senet.layers.scaled_attention import ScaledAttention
from keras_senet.layers.scse import SpatialChannelSqueezeExcite
from keras_senet.layers.selective_kernel import SelectiveKernel
from keras_senet.layers.split_attn import SplitAttention
from keras_senet.layers.squeeze_excite import EffectiveSqueezeExcite, SqueezeExcite

__all__ = [
    "ATTENTION_LAYERS",
    "CBAM",
    "EffectiveSqueezeExcite",
    "EfficientChannelAttention",
    "get_attention",
    "GlobalContext",
    "list_attention",
    "make_divisible",
    "NearestResize",
    "ScaledAttention",
    "SelectiveKernel",
    "SpatialChannelSqueezeExcite",
    "SplitAttention",
    "SplitChannels",
    "SqueezeExcite",
]
