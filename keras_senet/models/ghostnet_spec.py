"""`GhostNetSpec`: one GhostNet (V1, V2 with DFC attention, V3 with re-parameterisable branches) as data,
with timm's configuration and channel arithmetic (`timm/models/ghostnet.py`); no Keras import.

GhostNet (Han et al., CVPR 2020) replaces pointwise convolutions by "ghost modules": a 1x1 conv makes half
the channels and a cheap 3x3 depthwise conv makes the other half from them. GhostNetV2 (Tang et al.,
NeurIPS 2022) gates the first ghost module of every block after the second with DFC attention (a 1x1
conv and 1x5 / 5x1 depthwise convs at half resolution). GhostNetV3 (Liu et al., 2024) trains every conv
as three parallel conv + BN branches plus 1x1 / BN-only branches, summed (timm's training form, which
timm's checkpoints hold; they can be folded into one conv after loading, as timm's ``reparameterize``).
`decode` resolves every block's widths and options as timm's ``GhostNet.__init__`` does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Optional

from keras_senet._channels import make_divisible

VERSIONS = ("v1", "v2", "v3")

# timm `_create_ghostnet` cfgs, verbatim: stages of (kernel, expansion width, output width, SE ratio, stride).
GHOSTNET_CFGS = (
    ((3, 16, 16, 0, 1),),
    ((3, 48, 24, 0, 2),),
    ((3, 72, 24, 0, 1),),
    ((5, 72, 40, 0.25, 2),),
    ((5, 120, 40, 0.25, 1),),
    ((3, 240, 80, 0, 2),),
    ((3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1),
     (3, 672, 112, 0.25, 1)),
    ((5, 672, 160, 0.25, 2),),
    ((5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1)),
)
# Width of the head's 1x1 conv on the pooled features (timm's ``head_hidden_size``), not scaled.
HEAD_HIDDEN = 1280


@dataclasses.dataclass(frozen=True)
class GhostNetSpec:
    """Architecture of one GhostNet.

    Attributes:
        channel_multiplier: width multiplier (timm's ``width``); widths are multiples of 4. Default 1.
        version: ``"v1"``, ``"v2"`` (DFC attention in the first ghost module of blocks 2, 3, ...) or
            ``"v3"`` (re-parameterisable branches; DFC attention as V2).
        cfgs: timm's block configuration, stages of ``(kernel, expansion, out, se_ratio, stride)``.
        attention: attention layer of the blocks with an SE ratio (``"se"``: timm's SqueezeExcite with a
            hard-sigmoid gate and widths rounded to multiples of 4; an ablation such as ``"eca"``);
            None removes it.
        attention_kwargs: extra keyword arguments of the attention layer, ``(key, value)`` pairs.
        drop_rate: dropout before the classifier. Default 0.2 (timm's).
    """

    FAMILY: ClassVar[str] = "keras_senet.models.ghostnet"
    OVERRIDES: ClassVar[tuple] = ("attention", "attention_kwargs", "drop_rate")
    # The DFC attention (V2, V3) average-pools each block's input by 2: the last stage needs at least 2x2
    # (timm's avg_pool2d fails on 1x1), i.e. an input of at least 33.
    MIN_INPUT_SIZE: ClassVar[int] = 33

    channel_multiplier: float = 1.0
    version: str = "v1"
    cfgs: tuple = GHOSTNET_CFGS
    attention: Optional[str] = "se"
    attention_kwargs: tuple = ()
    drop_rate: float = 0.2

    def __post_init__(self):
        if self.version not in VERSIONS:
            raise ValueError(f"version={self.version!r} is not one of {', '.join(map(repr, VERSIONS))}")
        value = self.channel_multiplier
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"channel_multiplier must be a positive number, got {value!r}")
        if not self.cfgs or not all(isinstance(stage, tuple) and stage for stage in self.cfgs) or \
                not all(len(block) == 5 and block[4] in (1, 2) for stage in self.cfgs for block in stage):
            raise ValueError(f"cfgs must be non-empty stages of (kernel, expansion, out, se_ratio, stride 1|2) "
                             f"tuples, got {self.cfgs!r}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")

    def width(self, channels):
        """timm: ``make_divisible(channels * width, 4)``."""
        return make_divisible(channels * self.channel_multiplier, 4)

    @property
    def stem_channels(self):
        return self.width(16)

    @property
    def head_channels(self):
        """Width of the final 1x1 conv (``blocks.<n>``): the last block's expansion width, scaled."""
        return self.width(self.cfgs[-1][-1][1])


@dataclasses.dataclass(frozen=True)
class GhostBlock:
    """One decoded ghost bottleneck, every width resolved.

    Attributes:
        name: Keras name prefix ``blocks_<stage>_<index>`` (timm's ``blocks.<stage>.<index>``).
        in_channels, mid_channels, out_channels: widths (mid: the first ghost module's output).
        kernel_size: of the strided depthwise conv and the shortcut's depthwise conv.
        stride: 1 or 2.
        se_channels: SE hidden width (``make_divisible(mid * ratio, 4)``), 0 for no SE.
        mode: the first ghost module's kind: ``"original"``, ``"attn"`` (V2 DFC attention) or
            ``"shortcut"`` (V3 with DFC attention).
        conv_shortcut: the shortcut is depthwise conv + BN + 1x1 conv + BN (else the identity).
    """

    name: str
    in_channels: int
    mid_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    se_channels: int
    mode: str
    conv_shortcut: bool

    @property
    def output_layer(self):
        return f"{self.name}_add"


def ghost_widths(out_channels):
    """A ghost module's (primary, cheap) widths: ``ceil(out / 2)`` each (timm's ratio 2)."""
    init = math.ceil(out_channels / 2)
    return init, init


def decode(spec: GhostNetSpec):
    """Stages of `GhostBlock` of `spec` (timm ``GhostNet.__init__``)."""
    stages, in_channels, layer_index = [], spec.stem_channels, 0
    for stage_index, stage in enumerate(spec.cfgs):
        blocks = []
        for block_index, (kernel, expansion, out, se_ratio, stride) in enumerate(stage):
            out_channels, mid_channels = spec.width(out), spec.width(expansion)
            mode = "original"
            if layer_index > 1 and spec.version != "v1":
                mode = "attn" if spec.version == "v2" else "shortcut"
            se_channels = make_divisible(mid_channels * se_ratio, 4) if se_ratio else 0
            blocks.append(GhostBlock(
                name=f"blocks_{stage_index}_{block_index}", in_channels=in_channels, mid_channels=mid_channels,
                out_channels=out_channels, kernel_size=kernel, stride=stride, se_channels=se_channels, mode=mode,
                conv_shortcut=not (in_channels == out_channels and stride == 1)))
            in_channels = out_channels
            layer_index += 1
        stages.append(tuple(blocks))
    return tuple(stages)
