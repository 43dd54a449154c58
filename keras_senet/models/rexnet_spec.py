"""`RexNetSpec`: one ReXNet (Han et al., "Rethinking Channel Dimensions for Efficient Model Design", CVPR
2021) as data, with timm's channel schedule (`timm/models/rexnet.py`, ``_block_cfg``); no Keras import.

ReXNet is a MobileNetV2-like stack of 16 linear bottlenecks whose output width grows linearly from
`initial_channels` by `final_channels` / 16 per block (times the width multiplier), with SE (BatchNorm in
its bottleneck) from the third stage on. `decode` resolves every block's widths exactly as timm's
``_block_cfg`` + ``_build_blocks`` + ``LinearBottleneck`` do, so layer names and feature levels are known
without building a model.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Optional

from keras_senet._channels import make_divisible

# timm's `_block_cfg`: blocks per stage and the first block's stride.
STAGE_DEPTHS = (1, 2, 2, 3, 3, 5)
STAGE_STRIDES = (1, 2, 2, 2, 1, 2)


@dataclasses.dataclass(frozen=True)
class RexNetSpec:
    """Architecture of one ReXNet.

    Attributes:
        channel_multiplier: width multiplier (timm's ``width_mult``). Default 1.
        depth_multiplier: blocks per stage multiplier (``depth_mult``, rounded up). Default 1.
        channel_divisor: widths are multiples of this (``ch_div``: 1, or 8 in the ``rexnetr`` variants).
        initial_channels: output width of the first block before the multiplier. Default 16.
        final_channels: width added over the whole network (``final_chs``). Default 180.
        se_ratio: SE width as a fraction of the block's expanded width. Default 1/12.
        activation: activation of the stem, the expansions and the head conv (timm's name). Default
            ``"swish"``.
        dw_activation: activation after the depthwise conv and SE. Default ``"relu6"``.
        attention: attention layer of the SE blocks (``"se"``: timm's ``SEWithNorm``; an ablation such as
            ``"eca"``); None removes it.
        attention_kwargs: extra keyword arguments of the attention layer, ``(key, value)`` pairs.
        drop_rate: dropout before the classifier. Default 0.2 (timm's).
    """

    FAMILY: ClassVar[str] = "keras_senet.models.rexnet"
    OVERRIDES: ClassVar[tuple] = ("attention", "attention_kwargs", "drop_rate")
    MIN_INPUT_SIZE: ClassVar[int] = 32

    channel_multiplier: float = 1.0
    depth_multiplier: float = 1.0
    channel_divisor: int = 1
    initial_channels: int = 16
    final_channels: int = 180
    se_ratio: float = 1 / 12
    activation: str = "swish"
    dw_activation: str = "relu6"
    attention: Optional[str] = "se"
    attention_kwargs: tuple = ()
    drop_rate: float = 0.2

    def __post_init__(self):
        for field in ("channel_multiplier", "depth_multiplier"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{field} must be a positive number, got {value!r}")
        if isinstance(self.channel_divisor, bool) or not isinstance(self.channel_divisor, int) \
                or self.channel_divisor < 1:
            raise ValueError(f"channel_divisor must be a positive int, got {self.channel_divisor!r}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")

    @property
    def stem_channels(self):
        """timm: ``make_divisible(round(32 * width), ch_div)`` (32 / width before the multiplier below 1)."""
        base = 32 / self.channel_multiplier if self.channel_multiplier < 1.0 else 32
        return make_divisible(round(base * self.channel_multiplier), self.channel_divisor)

    @property
    def head_channels(self):
        """Width of the final 1x1 conv (timm's ``pen_chs``), the pooled features."""
        return make_divisible(1280 * self.channel_multiplier, self.channel_divisor)


@dataclasses.dataclass(frozen=True)
class RexBlock:
    """One decoded linear bottleneck (timm ``LinearBottleneck``), every width resolved.

    Attributes:
        name: Keras name prefix ``features_<index>`` (timm's ``features.<index>``).
        in_channels, out_channels: widths.
        mid_channels: the expanded (depthwise) width; `in_channels` when the block has no expansion.
        expand: the block has the 1x1 expansion ``conv_exp`` (expansion ratio != 1).
        stride: of the depthwise conv.
        se_channels: SE hidden width, 0 for no SE.
        has_skip: residual addition onto the first `in_channels` output channels.
    """

    name: str
    in_channels: int
    out_channels: int
    mid_channels: int
    expand: bool
    stride: int
    se_channels: int
    has_skip: bool

    @property
    def output_layer(self):
        """Name of the Keras layer whose output is the block's output."""
        if not self.has_skip:
            return f"{self.name}_conv_pwl_bn"
        return f"{self.name}_add" if self.in_channels == self.out_channels else f"{self.name}_concat"


def decode(spec: RexNetSpec):
    """The bottlenecks of `spec`, a tuple of `RexBlock` (timm ``_block_cfg`` + ``LinearBottleneck``)."""
    depths = [math.ceil(d * spec.depth_multiplier) for d in STAGE_DEPTHS]
    strides = [s for d, first in zip(depths, STAGE_STRIDES) for s in [first] + [1] * (d - 1)]
    exp_ratios = [1] * depths[0] + [6] * sum(depths[1:])
    se_ratios = [0.0] * (depths[0] + depths[1]) + [spec.se_ratio] * sum(depths[2:])
    count = sum(depths)
    width = spec.channel_multiplier
    base = spec.initial_channels / width if width < 1.0 else spec.initial_channels
    out_channels = []
    for _ in range(count):
        out_channels.append(make_divisible(round(base * width), spec.channel_divisor))
        base += spec.final_channels / (count * 1.0)
    blocks, in_channels = [], spec.stem_channels
    for index, (out, exp_ratio, stride, se_ratio) in enumerate(zip(out_channels, exp_ratios, strides, se_ratios)):
        expand = exp_ratio != 1
        mid = make_divisible(round(in_channels * exp_ratio), spec.channel_divisor) if expand else in_channels
        se_channels = make_divisible(int(mid * se_ratio), spec.channel_divisor) if se_ratio > 0 else 0
        blocks.append(RexBlock(name=f"features_{index}", in_channels=in_channels, out_channels=out,
                               mid_channels=mid, expand=expand, stride=stride, se_channels=se_channels,
                               has_skip=stride == 1 and in_channels <= out))
        in_channels = out
    return tuple(blocks)
