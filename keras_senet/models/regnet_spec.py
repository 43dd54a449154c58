"""`RegNetSpec`: one RegNet (RegNetY = RegNetX + SE) as timm's ``RegNetCfg`` data, and timm's arithmetic
that turns it into stages and blocks (no Keras import).

A RegNet is generated, not listed (Radosavovic et al., "Designing Network Design Spaces", CVPR 2020):
block ``j`` of ``depth`` gets the continuous width ``w0 + wa * j``, quantised to ``w0 * wm**k`` (``k`` an
integer) and to a multiple of 8; blocks of equal width form a stage. Group widths and bottleneck widths
are then made compatible. `stages` reproduces `timm/models/regnet.py` exactly: ``generate_regnet``
(float32, as timm's torch ops), ``adjust_widths_groups_comp`` (``quantize_float``, or torchvision's
``make_divisible`` rounding when ``group_min_ratio`` is set: the ``_tv`` variants) and the
``Bottleneck``'s widths (bottleneck channels, groups, SE width ``round(se_ratio * block input)``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Optional

import numpy as np

from keras_senet._channels import make_divisible

NUM_STAGES = 4  # timm's RegNet asserts four stages (s1..s4), each starting with a stride-2 block
_WIDTH_QUANT = 8  # generate_regnet's `quant`


@dataclasses.dataclass(frozen=True)
class RegNetSpec:
    """Architecture of one RegNet (timm's ``RegNetCfg`` fields of the same names).

    Attributes:
        w0: initial width (a multiple of 8).
        wa: width slope per block.
        wm: width multiplier between stages (> 1).
        depth: number of blocks.
        group_size: channels per group of the 3x3 grouped convolution.
        bottle_ratio: bottleneck width / block width. Default 1 (every RegNetX/Y).
        se_ratio: SE width as a fraction of the block's input channels (RegNetY 0.25); 0 for no SE
            (RegNetX).
        group_min_ratio: 0 (pycls rounding of widths to the group size) or torchvision's ``min_ratio``
            (0.9, the ``_tv`` variants).
        stem_width: channels of the 3x3 stride-2 stem conv. Default 32.
        activation: activation of the stem, blocks and SE (timm's name). Default ``"relu"``.
        attention: attention layer where the block has SE (``"se"``; an ablation such as ``"eca"``, or
            None for none).
        attention_kwargs: extra keyword arguments of the attention layer, ``(key, value)`` pairs.
        drop_rate: dropout before the classifier. Default 0.

    timm's pre-activation (RegNetV), linear-output and head-conv options (RegNetZ) and other shortcut
    types are not part of this spec: no registered model uses them.
    """

    FAMILY: ClassVar[str] = "keras_senet.models.regnet"
    OVERRIDES: ClassVar[tuple] = ("attention", "attention_kwargs", "drop_rate")
    MIN_INPUT_SIZE: ClassVar[int] = 32

    w0: int
    wa: float
    wm: float
    depth: int
    group_size: int
    bottle_ratio: float = 1.0
    se_ratio: float = 0.0
    group_min_ratio: float = 0.0
    stem_width: int = 32
    activation: str = "relu"
    attention: Optional[str] = "se"
    attention_kwargs: tuple = ()
    drop_rate: float = 0.0

    def __post_init__(self):
        if not (isinstance(self.w0, int) and self.w0 > 0 and self.w0 % _WIDTH_QUANT == 0):
            raise ValueError(f"w0 must be a positive multiple of {_WIDTH_QUANT}, got {self.w0!r}")
        if not self.wa >= 0:
            raise ValueError(f"wa must be >= 0, got {self.wa!r}")
        if not self.wm > 1:
            raise ValueError(f"wm must be > 1, got {self.wm!r}")
        for field in ("depth", "group_size", "stem_width"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        if not self.bottle_ratio > 0:
            raise ValueError(f"bottle_ratio must be > 0, got {self.bottle_ratio!r}")
        if not 0.0 <= self.se_ratio < 1.0:
            raise ValueError(f"se_ratio must be in [0, 1), got {self.se_ratio!r}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")
        widths = stage_widths(self)
        if len(widths[0]) != NUM_STAGES:
            raise ValueError(f"w0={self.w0}, wa={self.wa}, wm={self.wm}, depth={self.depth} generate "
                             f"{len(widths[0])} stages of widths {widths[0]}; a RegNet has {NUM_STAGES}")


@dataclasses.dataclass(frozen=True)
class RegBlock:
    """One bottleneck block, every width resolved.

    Attributes:
        name: Keras name prefix, ``s<stage>_b<index>`` (timm's ``s<stage>.b<index>``, both from 1).
        in_channels, out_channels: block input and output widths.
        bottleneck_channels: width of the 1x1 -> grouped 3x3 -> SE part.
        groups: groups of the 3x3 convolution.
        stride: 2 for a stage's first block, else 1.
        se_channels: SE hidden width, 0 for no SE.
    """

    name: str
    in_channels: int
    out_channels: int
    bottleneck_channels: int
    groups: int
    stride: int
    se_channels: int

    @property
    def has_projection(self):
        """A 1x1 conv + BN shortcut (``downsample``) instead of the identity."""
        return self.stride != 1 or self.in_channels != self.out_channels


def _generate_regnet(wa, w0, wm, depth):
    """timm ``generate_regnet`` (quant 8): per-block widths, in float32 as timm's torch ops."""
    f32 = np.float32
    widths_cont = np.arange(depth, dtype=f32) * f32(wa) + f32(w0)
    width_exps = np.round(np.log(widths_cont / f32(w0)) / f32(math.log(wm)))
    widths = np.round((f32(w0) * np.power(f32(wm), width_exps)) / f32(_WIDTH_QUANT)) * f32(_WIDTH_QUANT)
    return [int(w) for w in widths]


def _quantize_float(f, q):
    """timm ``quantize_float``: the closest multiple of `q` (Python's round)."""
    return int(round(f / q) * q)


def stage_widths(spec):
    """(stage widths, stage depths, stage group sizes) after timm's ``adjust_widths_groups_comp``."""
    widths = _generate_regnet(spec.wa, spec.w0, spec.wm, spec.depth)
    unique = sorted(set(widths))  # torch.unique: sorted, with the count of each
    depths = [widths.count(w) for w in unique]
    bottleneck = [int(w * spec.bottle_ratio) for w in unique]
    groups = [min(spec.group_size, b) for b in bottleneck]
    if spec.group_min_ratio:
        # timm passes min_ratio as make_divisible's third (min_value) argument; kept as is.
        bottleneck = [make_divisible(b, g, spec.group_min_ratio) for b, g in zip(bottleneck, groups)]
    else:
        bottleneck = [_quantize_float(b, g) for b, g in zip(bottleneck, groups)]
    widths = [int(b / spec.bottle_ratio) for b in bottleneck]
    return widths, depths, groups


def stages(spec: RegNetSpec):
    """Stages of `RegBlock`, as timm's ``RegStage`` / ``Bottleneck`` build them."""
    widths, depths, group_sizes = stage_widths(spec)
    in_channels = spec.stem_width
    result = []
    for stage, (width, depth, group_size) in enumerate(zip(widths, depths, group_sizes), start=1):
        blocks = []
        for index in range(depth):
            bottleneck = int(round(width * spec.bottle_ratio))
            blocks.append(RegBlock(name=f"s{stage}_b{index + 1}", in_channels=in_channels, out_channels=width,
                                   bottleneck_channels=bottleneck, groups=bottleneck // group_size,
                                   stride=2 if index == 0 else 1,
                                   se_channels=int(round(in_channels * spec.se_ratio)) if spec.se_ratio else 0))
            in_channels = width
        result.append(tuple(blocks))
    return tuple(result)


# timm's RegNetCfg of each RegNetY (timm/models/regnet.py `model_cfgs`), verbatim; "_tv" variants: torchvision's
# width rounding. The trailing digits of a name are its FLOPs in units of 1e8.
REGNETY = {
    "regnety_002": dict(w0=24, wa=36.44, wm=2.49, group_size=8, depth=13),
    "regnety_004": dict(w0=48, wa=27.89, wm=2.09, group_size=8, depth=16),
    "regnety_006": dict(w0=48, wa=32.54, wm=2.32, group_size=16, depth=15),
    "regnety_008": dict(w0=56, wa=38.84, wm=2.4, group_size=16, depth=14),
    "regnety_008_tv": dict(w0=56, wa=38.84, wm=2.4, group_size=16, depth=14, group_min_ratio=0.9),
    "regnety_016": dict(w0=48, wa=20.71, wm=2.65, group_size=24, depth=27),
    "regnety_032": dict(w0=80, wa=42.63, wm=2.66, group_size=24, depth=21),
    "regnety_040": dict(w0=96, wa=31.41, wm=2.24, group_size=64, depth=22),
    "regnety_064": dict(w0=112, wa=33.22, wm=2.27, group_size=72, depth=25),
    "regnety_080": dict(w0=192, wa=76.82, wm=2.19, group_size=56, depth=17),
    "regnety_080_tv": dict(w0=192, wa=76.82, wm=2.19, group_size=56, depth=17, group_min_ratio=0.9),
    "regnety_120": dict(w0=168, wa=73.36, wm=2.37, group_size=112, depth=19),
    "regnety_160": dict(w0=200, wa=106.23, wm=2.48, group_size=112, depth=18),
    "regnety_320": dict(w0=232, wa=115.89, wm=2.53, group_size=232, depth=20),
    "regnety_640": dict(w0=352, wa=147.48, wm=2.4, group_size=328, depth=20),
    "regnety_1280": dict(w0=456, wa=160.83, wm=2.52, group_size=264, depth=27),
    "regnety_2560": dict(w0=640, wa=230.83, wm=2.53, group_size=373, depth=27),
}


def regnety_spec(name, **overrides):
    """timm's RegNetY `name`: the RegNetX design with SE of ratio 0.25 of the block input."""
    return RegNetSpec(**REGNETY[name], se_ratio=0.25, **overrides)
