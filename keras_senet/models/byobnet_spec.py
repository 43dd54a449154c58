"""`ByobNetSpec`: one of timm's "bring your own blocks" ResNets with SE / ECA / GC attention (the ``*ts`` /
``*t`` models of `timm/models/byobnet.py`) as data, and timm's arithmetic that turns it into blocks; no Keras
import.

These are ResNet-26/33/50 shapes from timm's ``ByoModelCfg``: a tiered stem (three 3x3 convs of widths
3/8, 1/2 and 1 x ``stem_chs``, stride 4 in all, through a 3x3 max pool or a strided last conv), four stages
of ``bottle`` blocks (timm's ``BottleneckBlock``: 1x1 -> kxk (grouped by ``gs``) -> attention -> 1x1, a
1x1 conv + BN shortcut where the shape changes), an optional 1x1 ``final_conv`` to ``num_features`` and
timm's ``ClassifierHead``. The attention module is built as timm's ``get_attn(attn_layer)(mid_chs)``,
i.e. with the module's own defaults, so `decode` only needs the widths, groups and strides.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from keras_senet._channels import make_divisible

NUM_STAGES = 4
STAGE_STRIDES = (1, 2, 2, 2)  # every registered cfg: s=1 for the first stage, 2 after
STEM_POOLS = ("", "maxpool")


@dataclasses.dataclass(frozen=True)
class ByobNetSpec:
    """Architecture of one ByobNet bottleneck ResNet (timm's ``ByoModelCfg`` fields in brackets).

    Attributes:
        depths: blocks per stage (``ByoBlockCfg.d``).
        widths: output channels of every block of a stage (``ByoBlockCfg.c``).
        group_size: channels per group of the kxk conv (``gs``); 0 for an ordinary convolution.
        bottle_ratio: bottleneck width / output width (``br``). Default 0.25.
        stem_width: output channels of the tiered stem (``stem_chs``). Default 64.
        stem_pool: ``"maxpool"`` (3x3 stride-2 max pool after three stride-1-after-the-first convs) or
            ``""`` (no pool: the stem's last conv has stride 2) (``stem_pool``).
        num_features: width of the 1x1 ``final_conv`` before pooling; 0 for none (``num_features``).
        activation: activation of the convolutions and blocks, timm's name (``act_layer``). Default
            ``"relu"``.
        attention: attention after each block's kxk conv: a `keras_senet.layers.get_attention` name
            (``"se"``: timm's ``SEModule`` defaults, 1/16 of the width rounded to 8, ReLU inside;
            ``"eca"``: adaptive kernel; ``"gc"``: GlobalContext, 1/8 of the width); None for none
            (``attn_layer``).
        attention_kwargs: extra keyword arguments of the attention layer, ``(key, value)`` pairs; timm's
            ``"gca"`` is ``attention="gc"`` with ``(("fuse_add", True), ("fuse_scale", False))``.
        drop_rate: dropout before the classifier. Default 0 (timm's).
    """

    FAMILY: ClassVar[str] = "keras_senet.models.byobnet"
    OVERRIDES: ClassVar[tuple] = ("attention", "attention_kwargs", "drop_rate")
    MIN_INPUT_SIZE: ClassVar[int] = 32

    depths: tuple
    widths: tuple
    group_size: int = 0
    bottle_ratio: float = 0.25
    stem_width: int = 64
    stem_pool: str = ""
    num_features: int = 0
    activation: str = "relu"
    attention: Optional[str] = None
    attention_kwargs: tuple = ()
    drop_rate: float = 0.0

    def __post_init__(self):
        for field in ("depths", "widths"):
            value = getattr(self, field)
            if not (isinstance(value, tuple) and len(value) == NUM_STAGES
                    and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
                raise ValueError(f"{field} must be a tuple of {NUM_STAGES} positive ints, got {value!r}")
        for field in ("group_size", "num_features"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{field} must be an int >= 0, got {value!r}")
        if isinstance(self.stem_width, bool) or not isinstance(self.stem_width, int) or self.stem_width < 8:
            raise ValueError(f"stem_width must be an int >= 8, got {self.stem_width!r}")
        if not self.bottle_ratio > 0:
            raise ValueError(f"bottle_ratio must be > 0, got {self.bottle_ratio!r}")
        if self.stem_pool not in STEM_POOLS:
            raise ValueError(f"stem_pool={self.stem_pool!r} is not one of {STEM_POOLS}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")
        for block in (b for stage in decode(self) for b in stage):
            if self.group_size and block.mid_channels % self.group_size:
                raise ValueError(f"group_size={self.group_size} does not divide the {block.mid_channels} "
                                 f"bottleneck channels of {block.name}")

    @property
    def stem_widths(self):
        """Widths of timm's tiered stem convs ``conv1..conv3``: ``(3 * w // 8, w // 2, w)``."""
        return (3 * self.stem_width // 8, self.stem_width // 2, self.stem_width)


@dataclasses.dataclass(frozen=True)
class ByobBlock:
    """One decoded ``bottle`` block (timm's ``BottleneckBlock``), every width resolved.

    Attributes:
        name: Keras name prefix ``stages_<stage>_<index>`` (timm's ``stages.<stage>.<index>``, from 0).
        in_channels, out_channels: block input and output widths.
        mid_channels: the bottleneck width, ``make_divisible(out_channels * bottle_ratio)`` (divisor 8).
        groups: groups of the kxk conv (``mid_channels // group_size``; 1 without a group size).
        stride: of the kxk conv and the shortcut.
    """

    name: str
    in_channels: int
    out_channels: int
    mid_channels: int
    groups: int
    stride: int

    @property
    def has_projection(self):
        """A 1x1 conv + BN shortcut (timm's ``shortcut`` ConvNormAct) instead of the identity."""
        return self.stride != 1 or self.in_channels != self.out_channels


def decode(spec: ByobNetSpec):
    """Stages of `ByobBlock`, as timm's ``create_byob_stages`` + ``BottleneckBlock`` build them."""
    result, in_channels = [], spec.stem_width
    for stage, (depth, width, first_stride) in enumerate(zip(spec.depths, spec.widths, STAGE_STRIDES)):
        mid = make_divisible(width * spec.bottle_ratio)
        groups = mid // spec.group_size if spec.group_size else 1
        blocks = []
        for index in range(depth):
            blocks.append(ByobBlock(name=f"stages_{stage}_{index}", in_channels=in_channels, out_channels=width,
                                    mid_channels=mid, groups=groups, stride=first_stride if index == 0 else 1))
            in_channels = width
        result.append(tuple(blocks))
    return tuple(result)


# timm's "gca": GlobalContext(fuse_add=True, fuse_scale=False), the context added rather than gating.
GC_ADD = (("fuse_add", True), ("fuse_scale", False))
_26 = dict(depths=(2, 2, 2, 2), widths=(256, 512, 1024, 2048), group_size=32, stem_pool="maxpool",
           activation="silu")
_33 = dict(depths=(2, 3, 3, 2), widths=(256, 512, 1536, 1536), num_features=1280, activation="silu")
_50 = dict(depths=(3, 4, 6, 3), widths=(256, 512, 1024, 2048))

# timm's ByoModelCfg of each registered model (timm/models/byobnet.py `model_cfgs`).
BYOBNET = {
    "seresnext26ts": dict(_26, attention="se"),
    "eca_resnext26ts": dict(_26, attention="eca"),
    "gcresnext26ts": dict(_26, attention="gc", attention_kwargs=GC_ADD),
    "seresnet33ts": dict(_33, attention="se"),
    "eca_resnet33ts": dict(_33, attention="eca"),
    "gcresnet33ts": dict(_33, attention="gc", attention_kwargs=GC_ADD),
    "gcresnet50t": dict(_50, attention="gc", attention_kwargs=GC_ADD),  # ReLU, no pool, no groups
    "gcresnext50ts": dict(_50, group_size=32, stem_pool="maxpool", activation="silu", attention="gc",
                          attention_kwargs=GC_ADD),
}


def byobnet_spec(name, **overrides):
    """timm's ByobNet `name` (a key of `BYOBNET`) as a `ByobNetSpec`."""
    return ByobNetSpec(**{**BYOBNET[name], **overrides})
