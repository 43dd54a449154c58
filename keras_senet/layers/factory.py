"""Attention layer lookup by timm-style short name ("se", "eca", ...)."""

import functools

from keras_senet.layers.cbam import CBAM
from keras_senet.layers.eca import EfficientChannelAttention
from keras_senet.layers.global_context import GlobalContext
from keras_senet.layers.scse import SpatialChannelSqueezeExcite
from keras_senet.layers.selective_kernel import SelectiveKernel
from keras_senet.layers.split_attn import SplitAttention
from keras_senet.layers.squeeze_excite import EffectiveSqueezeExcite, SqueezeExcite

# Names follow timm.layers.create_attn.get_attn. "sk" and "splat" replace a block's 3x3 convolution (they
# take `out_channels` and `stride` and may change the shape); the others keep the input's shape.
ATTENTION_LAYERS = {
    "se": SqueezeExcite,
    "ese": EffectiveSqueezeExcite,
    "eca": EfficientChannelAttention,
    "ceca": functools.partial(EfficientChannelAttention, circular=True),
    "cbam": CBAM,
    "scse": SpatialChannelSqueezeExcite,
    "gc": GlobalContext,
    "sk": SelectiveKernel,
    "splat": SplitAttention,
}
# The layers that replace a convolution rather than follow one.
CONV_ATTENTION_LAYERS = ("sk", "splat")


def list_attention():
    """Sorted names accepted by `get_attention`."""
    return sorted(ATTENTION_LAYERS)


def get_attention(name, /, **kwargs):
    """Build an attention layer from its short name.

    Args:
        name: one of `list_attention()` (case-insensitive), or None / "" for
            no attention.
        **kwargs: constructor arguments of the layer, including the Keras layer `name`
            (`name` itself is positional-only, so `get_attention("se", name="block_se")` works).

    Returns:
        A new, unbuilt layer instance, or None when `name` is None or "".

    Raises:
        ValueError: `name` is not a known attention name.
    """
    if name is None or name == "":
        return None
    key = name.lower() if isinstance(name, str) else None
    if key not in ATTENTION_LAYERS:
        valid = ", ".join(repr(n) for n in list_attention())
        raise ValueError(f"name={name!r} is not a known attention layer; valid names: {valid}")
    return ATTENTION_LAYERS[key](**kwargs)
