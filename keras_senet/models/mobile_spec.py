"""`MobileSpec`: one inverted-residual network (MobileNetV3, EfficientNet, MnasNet, LCNet, FBNetV3, TinyNet,
HardCoReNAS, MixNet) as data, decoded from timm's block strings (no Keras import).

A spec keeps timm's architecture definition verbatim: stages of block strings such as
``"ir_r2_k3_s2_e6_c24_se0.25"`` (`timm/models/_efficientnet_builder.py`, ``_decode_block_str``), plus the
model-level arguments timm's generator functions pass (width/depth multipliers, stem, head, activation, SE
rules, padding, BatchNorm epsilon). `decode` turns it into one `BlockArgs` per block with every channel
count resolved, with timm's arithmetic (``round_channels``, ``make_divisible``, ``_scale_stage_depth``,
``se_from_exp``), so feature levels and layer names are known without building a model.

Block string options (timm's): the leading type -- ``ds`` depthwise-separable, ``dsa`` depthwise-separable
with an activation after the pointwise conv (no skip), ``ir`` inverted residual, ``er`` edge residual
(fused expansion), ``cn`` conv-BN-act -- then ``r`` repeats, ``k`` kernel (``k3.5.7``: MixNet's mixed
depthwise kernels), ``a``/``p`` expansion/projection kernels (``a1.1``: grouped pointwise in two splits),
``s`` stride, ``e`` expansion ratio, ``c`` output channels, ``se`` SE ratio, ``n`` activation (``re``,
``r6``, ``hs``, ``sw``), ``fc`` forced input channels (EfficientNet-EdgeTPU), ``noskip``/``skip``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import ClassVar, Optional

from keras_senet._channels import make_divisible, round_channels
from keras_senet.models.spec import _check_choice

BLOCK_TYPES = ("ds", "dsa", "ir", "er", "cn")
HEAD_TYPES = ("efficientnet", "mobilenetv3")
PADDINGS = ("pytorch", "same")
SE_ROUNDING = ("round", "divisible")
# timm's activation abbreviations in block strings.
_ACTIVATION_CODES = {"re": "relu", "r6": "relu6", "hs": "hard_swish", "sw": "swish"}


@dataclasses.dataclass(frozen=True)
class MobileSpec:
    """Architecture of one inverted-residual network.

    Attributes:
        arch: stages of timm block strings, e.g. ``(("ds_r1_k3_s1_e1_c16_se0.25",), ...)``.
        channel_multiplier: width multiplier applied to every block's output channels. Default 1.
        channel_divisor: channel counts are rounded to multiples of this. Default 8.
        round_limit: ``round_channels``' limit on rounding down (0.95 in FBNetV3). Default 0.9.
        depth_multiplier: repeats multiplier per stage. Default 1.
        depth_trunc: ``"ceil"`` (EfficientNet) or ``"round"`` (MixNet-M/L, TinyNet).
        fix_first_last: keep the first and last stage depths (EfficientNet-Lite).
        stem_size: channels of the stem conv (before the width multiplier unless `fix_stem`).
        fix_stem: do not scale the stem with the width multiplier.
        num_features: channels of the head conv (``conv_head``); 0 for no head conv.
        head: ``"efficientnet"`` (conv_head + BN + act on the feature map, then pooling) or
            ``"mobilenetv3"`` (pooling, then conv_head with `head_bias` and an activation, no BN).
        head_bias: bias of the MobileNetV3 head conv. Default True.
        activation: default activation of the blocks, stem and head (timm's name). Default ``"relu"``.
        se_from_exp: SE width is a ratio of the expanded channels (MobileNetV3) rather than of the
            block input (EfficientNet).
        se_activation: SE hidden activation; None means the block's activation.
        se_gate: ``"sigmoid"`` or ``"hard_sigmoid"``.
        se_rounding: SE width rounding: ``"round"`` (Python's round) or ``"divisible"``
            (``round_channels``).
        padding: ``"pytorch"`` (symmetric) or ``"same"`` (TensorFlow, timm's ``tf_`` ports).
        bn_epsilon: BatchNorm epsilon (1e-3 in the ``tf_`` ports).
        attention: attention layer for the blocks whose string has an SE ratio (``"se"``, or an
            ablation such as ``"eca"``); None removes it.
        attention_kwargs: extra keyword arguments of the attention layer, ``(key, value)`` pairs.
        drop_rate: dropout before the classifier. Default 0.
    """

    FAMILY: ClassVar[str] = "keras_senet.models.mobile"
    OVERRIDES: ClassVar[tuple] = ("attention", "attention_kwargs", "drop_rate")
    MIN_INPUT_SIZE: ClassVar[int] = 32

    arch: tuple
    channel_multiplier: float = 1.0
    channel_divisor: int = 8
    round_limit: float = 0.9
    depth_multiplier: float = 1.0
    depth_trunc: str = "ceil"
    fix_first_last: bool = False
    stem_size: int = 32
    fix_stem: bool = False
    num_features: int = 1280
    head: str = "efficientnet"
    head_bias: bool = True
    activation: str = "relu"
    se_from_exp: bool = False
    se_activation: Optional[str] = None
    se_gate: str = "sigmoid"
    se_rounding: str = "round"
    padding: str = "pytorch"
    bn_epsilon: float = 1e-5
    attention: Optional[str] = "se"
    attention_kwargs: tuple = ()
    drop_rate: float = 0.0

    def __post_init__(self):
        _check_choice("head", self.head, HEAD_TYPES)
        _check_choice("padding", self.padding, PADDINGS)
        _check_choice("depth_trunc", self.depth_trunc, ("ceil", "round"))
        _check_choice("se_rounding", self.se_rounding, SE_ROUNDING)
        if not self.arch or not all(isinstance(stage, tuple) and stage for stage in self.arch):
            raise ValueError(f"arch must be a non-empty tuple of non-empty tuples of block strings, got {self.arch!r}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")
        decode(self)  # fail on a malformed block string now, not at build time

    def round_chs(self, channels):
        """The spec's ``round_chs_fn``: width multiplier and divisor."""
        return round_channels(channels, self.channel_multiplier, self.channel_divisor,
                              round_limit=self.round_limit)

    @property
    def stem_channels(self):
        return self.stem_size if self.fix_stem else self.round_chs(self.stem_size)


@dataclasses.dataclass(frozen=True)
class BlockArgs:
    """One decoded block, every width resolved.

    Attributes:
        kind: block type (`BLOCK_TYPES`).
        name: Keras name prefix, ``blocks_<stage>_<index>`` (timm's ``blocks.<stage>.<index>``).
        in_channels, out_channels, mid_channels: widths (mid: the expanded width; in_channels for ds/cn).
        stride: 1 or 2.
        kernel_size: depthwise kernel(s) (ds, ir), expansion kernel (er) or conv kernel (cn), a tuple:
            several entries mean a mixed (MixNet) convolution over channel splits.
        exp_kernel_size, pw_kernel_size: pointwise expansion / projection kernels, tuples likewise.
        activation: timm activation name.
        se_channels: SE hidden width, 0 for no SE.
        has_skip: residual addition.
        pw_act: activation after the pointwise conv (``dsa``).
    """

    kind: str
    name: str
    in_channels: int
    out_channels: int
    mid_channels: int
    stride: int
    kernel_size: tuple
    exp_kernel_size: tuple
    pw_kernel_size: tuple
    activation: str
    se_channels: int
    has_skip: bool
    pw_act: bool = False

    @property
    def output_layer(self):
        """Name of the Keras layer whose output is the block's output."""
        if self.has_skip:
            return f"{self.name}_add"
        last = {"ds": "bn2", "dsa": "bn2_act", "ir": "bn3", "er": "bn2", "cn": "bn1_act"}[self.kind]
        return f"{self.name}_{last}"


def _parse_kernel(text):
    return tuple(int(k) for k in text.split("."))


def _parse_block(block_str):
    """timm ``_decode_block_str``: one block string -> (options dict, repeats)."""
    kind, *ops = block_str.split("_")
    if kind not in BLOCK_TYPES:
        raise ValueError(f"block string {block_str!r}: type {kind!r} is not one of {', '.join(BLOCK_TYPES)}")
    options, skip = {}, None
    for op in ops:
        if op == "noskip":
            skip = False
        elif op == "skip":
            skip = True
        elif op.startswith("n"):
            if op[1:] not in _ACTIVATION_CODES:
                raise ValueError(f"block string {block_str!r}: activation {op!r} is not one of "
                                 f"{', '.join('n' + c for c in _ACTIVATION_CODES)}")
            options["n"] = _ACTIVATION_CODES[op[1:]]
        else:
            key, value = re.split(r"(\d.*)", op)[:2]
            options[key] = value
    for required in ("r", "k", "s", "c"):
        if required not in options:
            raise ValueError(f"block string {block_str!r} has no {required!r} option")
    args = dict(kind=kind, out=int(options["c"]), stride=int(options["s"]), act=options.get("n"),
                kernel=_parse_kernel(options["k"]), exp_kernel=_parse_kernel(options.get("a", "1")),
                pw_kernel=_parse_kernel(options.get("p", "1")), se_ratio=float(options.get("se", 0.0)),
                force_in=int(options.get("fc", 0)))
    if kind in ("ir", "er"):
        args["exp_ratio"] = float(options["e"])
    args["noskip"] = skip is False or kind == "dsa"
    args["skip"] = skip is True
    return args, int(options["r"])


def _scale_stage_depth(stage, repeats, multiplier, trunc):
    """timm ``_scale_stage_depth``: distribute the scaled repeats of a stage over its block strings."""
    num_repeat = sum(repeats)
    if trunc == "round":
        num_repeat_scaled = max(1, round(num_repeat * multiplier))
    else:
        num_repeat_scaled = int(math.ceil(num_repeat * multiplier))
    scaled = []
    for r in repeats[::-1]:
        rs = max(1, round(r / num_repeat * num_repeat_scaled))
        scaled.append(rs)
        num_repeat -= r
        num_repeat_scaled -= rs
    blocks = []
    for args, rep in zip(stage, scaled[::-1]):
        blocks.extend([args] * rep)
    return blocks


def decode(spec):
    """Stages of `BlockArgs` of `spec`, exactly as timm's ``decode_arch_def`` + ``EfficientNetBuilder``."""
    stages = []
    for index, block_strings in enumerate(spec.arch):
        parsed = [_parse_block(s) for s in block_strings]
        fixed = spec.fix_first_last and index in (0, len(spec.arch) - 1)
        stages.append(_scale_stage_depth([p[0] for p in parsed], [p[1] for p in parsed],
                                         1.0 if fixed else spec.depth_multiplier, spec.depth_trunc))
    in_channels = spec.stem_channels
    decoded = []
    for stage_index, stage in enumerate(stages):
        blocks = []
        for block_index, args in enumerate(stage):
            if args["stride"] not in (1, 2):
                raise ValueError(f"stride {args['stride']} is not 1 or 2")
            stride = args["stride"] if block_index == 0 else 1
            block = _resolve_block(spec, args, in_channels, stride, f"blocks_{stage_index}_{block_index}")
            blocks.append(block)
            in_channels = block.out_channels
        decoded.append(tuple(blocks))
    return tuple(decoded)


def _resolve_block(spec, args, in_channels, stride, name):
    kind = args["kind"]
    out_channels = spec.round_chs(args["out"])
    exp_ratio = args.get("exp_ratio", 1.0)
    if kind == "ir":
        mid = make_divisible(in_channels * exp_ratio)
    elif kind == "er":
        base = spec.round_chs(args["force_in"]) if args["force_in"] else in_channels
        mid = make_divisible(base * exp_ratio)
    else:
        mid = in_channels
    se_channels = 0
    if args["se_ratio"] and kind != "cn":
        rd_ratio = args["se_ratio"] if spec.se_from_exp else args["se_ratio"] / exp_ratio
        if spec.se_rounding == "divisible":
            se_channels = round_channels(mid * rd_ratio, round_limit=spec.round_limit)
        else:
            se_channels = round(mid * rd_ratio)
    if kind == "cn":
        has_skip = args["skip"] and stride == 1 and in_channels == out_channels
    else:
        has_skip = stride == 1 and in_channels == out_channels and not args["noskip"]
    return BlockArgs(kind=kind, name=name, in_channels=in_channels,
                     out_channels=out_channels, mid_channels=mid, stride=stride, kernel_size=args["kernel"],
                     exp_kernel_size=args["exp_kernel"], pw_kernel_size=args["pw_kernel"],
                     activation=args["act"] or spec.activation, se_channels=se_channels, has_skip=has_skip,
                     pw_act=kind == "dsa")



# Architecture definitions of timm's generator functions (efficientnet.py, mobilenetv3.py, hardcorenas.py),
# verbatim; each `*_spec` function below mirrors the timm generator of the same name.
EFFICIENTNET_ARCH = (
    ("ds_r1_k3_s1_e1_c16_se0.25",), ("ir_r2_k3_s2_e6_c24_se0.25",), ("ir_r2_k5_s2_e6_c40_se0.25",),
    ("ir_r3_k3_s2_e6_c80_se0.25",), ("ir_r3_k5_s1_e6_c112_se0.25",), ("ir_r4_k5_s2_e6_c192_se0.25",),
    ("ir_r1_k3_s1_e6_c320_se0.25",),
)
EFFICIENTNET_LITE_ARCH = tuple(tuple(s.replace("_se0.25", "") for s in stage) for stage in EFFICIENTNET_ARCH)
EFFICIENTNET_EDGE_ARCH = (
    ("er_r1_k3_s1_e4_c24_fc24_noskip",), ("er_r2_k3_s2_e8_c32",), ("er_r4_k3_s2_e8_c48",),
    ("ir_r5_k5_s2_e8_c96",), ("ir_r4_k5_s1_e8_c144",), ("ir_r2_k5_s2_e8_c192",),
)
MNASNET_A1_ARCH = (
    ("ds_r1_k3_s1_e1_c16_noskip",), ("ir_r2_k3_s2_e6_c24",), ("ir_r3_k5_s2_e3_c40_se0.25",),
    ("ir_r4_k3_s2_e6_c80",), ("ir_r2_k3_s1_e6_c112_se0.25",), ("ir_r3_k5_s2_e6_c160_se0.25",),
    ("ir_r1_k3_s1_e6_c320",),
)
MNASNET_B1_ARCH = (
    ("ds_r1_k3_s1_c16_noskip",), ("ir_r3_k3_s2_e3_c24",), ("ir_r3_k5_s2_e3_c40",), ("ir_r3_k5_s2_e6_c80",),
    ("ir_r2_k3_s1_e6_c96",), ("ir_r4_k5_s2_e6_c192",), ("ir_r1_k3_s1_e6_c320_noskip",),
)
MNASNET_SMALL_ARCH = (
    ("ds_r1_k3_s1_c8",), ("ir_r1_k3_s2_e3_c16",), ("ir_r2_k3_s2_e6_c16",), ("ir_r4_k5_s2_e6_c32_se0.25",),
    ("ir_r3_k3_s1_e6_c32_se0.25",), ("ir_r3_k5_s2_e6_c88_se0.25",), ("ir_r1_k3_s1_e6_c144",),
)
MIXNET_S_ARCH = (
    ("ds_r1_k3_s1_e1_c16",),
    ("ir_r1_k3_a1.1_p1.1_s2_e6_c24", "ir_r1_k3_a1.1_p1.1_s1_e3_c24"),
    ("ir_r1_k3.5.7_s2_e6_c40_se0.5_nsw", "ir_r3_k3.5_a1.1_p1.1_s1_e6_c40_se0.5_nsw"),
    ("ir_r1_k3.5.7_p1.1_s2_e6_c80_se0.25_nsw", "ir_r2_k3.5_p1.1_s1_e6_c80_se0.25_nsw"),
    ("ir_r1_k3.5.7_a1.1_p1.1_s1_e6_c120_se0.5_nsw", "ir_r2_k3.5.7.9_a1.1_p1.1_s1_e3_c120_se0.5_nsw"),
    ("ir_r1_k3.5.7.9.11_s2_e6_c200_se0.5_nsw", "ir_r2_k3.5.7.9_p1.1_s1_e6_c200_se0.5_nsw"),
)
MIXNET_M_ARCH = (
    ("ds_r1_k3_s1_e1_c24",),
    ("ir_r1_k3.5.7_a1.1_p1.1_s2_e6_c32", "ir_r1_k3_a1.1_p1.1_s1_e3_c32"),
    ("ir_r1_k3.5.7.9_s2_e6_c40_se0.5_nsw", "ir_r3_k3.5_a1.1_p1.1_s1_e6_c40_se0.5_nsw"),
    ("ir_r1_k3.5.7_s2_e6_c80_se0.25_nsw", "ir_r3_k3.5.7.9_a1.1_p1.1_s1_e6_c80_se0.25_nsw"),
    ("ir_r1_k3_s1_e6_c120_se0.5_nsw", "ir_r3_k3.5.7.9_a1.1_p1.1_s1_e3_c120_se0.5_nsw"),
    ("ir_r1_k3.5.7.9_s2_e6_c200_se0.5_nsw", "ir_r3_k3.5.7.9_p1.1_s1_e6_c200_se0.5_nsw"),
)
MOBILENETV3_LARGE_ARCH = (
    ("ds_r1_k3_s1_e1_c16_nre",), ("ir_r1_k3_s2_e4_c24_nre", "ir_r1_k3_s1_e3_c24_nre"),
    ("ir_r3_k5_s2_e3_c40_se0.25_nre",),
    ("ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"),
    ("ir_r2_k3_s1_e6_c112_se0.25",), ("ir_r3_k5_s2_e6_c160_se0.25",), ("cn_r1_k1_s1_c960",),
)
MOBILENETV3_LARGE_MINIMAL_ARCH = (
    ("ds_r1_k3_s1_e1_c16",), ("ir_r1_k3_s2_e4_c24", "ir_r1_k3_s1_e3_c24"), ("ir_r3_k3_s2_e3_c40",),
    ("ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"),
    ("ir_r2_k3_s1_e6_c112",), ("ir_r3_k3_s2_e6_c160",), ("cn_r1_k1_s1_c960",),
)
MOBILENETV3_SMALL_ARCH = (
    ("ds_r1_k3_s2_e1_c16_se0.25_nre",), ("ir_r1_k3_s2_e4.5_c24_nre", "ir_r1_k3_s1_e3.67_c24_nre"),
    ("ir_r1_k5_s2_e4_c40_se0.25", "ir_r2_k5_s1_e6_c40_se0.25"), ("ir_r2_k5_s1_e3_c48_se0.25",),
    ("ir_r3_k5_s2_e6_c96_se0.25",), ("cn_r1_k1_s1_c576",),
)
MOBILENETV3_SMALL_MINIMAL_ARCH = (
    ("ds_r1_k3_s2_e1_c16",), ("ir_r1_k3_s2_e4.5_c24", "ir_r1_k3_s1_e3.67_c24"),
    ("ir_r1_k3_s2_e4_c40", "ir_r2_k3_s1_e6_c40"), ("ir_r2_k3_s1_e3_c48",), ("ir_r3_k3_s2_e6_c96",),
    ("cn_r1_k1_s1_c576",),
)
MOBILENETV3_RW_ARCH = (
    ("ds_r1_k3_s1_e1_c16_nre_noskip",), ("ir_r1_k3_s2_e4_c24_nre", "ir_r1_k3_s1_e3_c24_nre"),
    ("ir_r3_k5_s2_e3_c40_se0.25_nre",),
    ("ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"),
    ("ir_r2_k3_s1_e6_c112_se0.25",), ("ir_r3_k5_s2_e6_c160_se0.25",), ("cn_r1_k1_s1_c960",),
)
FBNETV3_ARCH = {
    "b": (16, (
        ("ds_r2_k3_s1_e1_c16",), ("ir_r1_k5_s2_e4_c24", "ir_r3_k5_s1_e2_c24"),
        ("ir_r1_k5_s2_e5_c40_se0.25", "ir_r4_k5_s1_e3_c40_se0.25"), ("ir_r1_k5_s2_e5_c72", "ir_r4_k3_s1_e3_c72"),
        ("ir_r1_k3_s1_e5_c120_se0.25", "ir_r5_k5_s1_e3_c120_se0.25"),
        ("ir_r1_k3_s2_e6_c184_se0.25", "ir_r5_k5_s1_e4_c184_se0.25", "ir_r1_k5_s1_e6_c224_se0.25"),
        ("cn_r1_k1_s1_c1344",))),
    "d": (24, (
        ("ds_r2_k3_s1_e1_c16",), ("ir_r1_k3_s2_e5_c24", "ir_r5_k3_s1_e2_c24"),
        ("ir_r1_k5_s2_e4_c40_se0.25", "ir_r4_k3_s1_e3_c40_se0.25"), ("ir_r1_k3_s2_e5_c72", "ir_r4_k3_s1_e3_c72"),
        ("ir_r1_k3_s1_e5_c128_se0.25", "ir_r6_k5_s1_e3_c128_se0.25"),
        ("ir_r1_k3_s2_e6_c208_se0.25", "ir_r5_k5_s1_e5_c208_se0.25", "ir_r1_k5_s1_e6_c240_se0.25"),
        ("cn_r1_k1_s1_c1440",))),
    "g": (32, (
        ("ds_r3_k3_s1_e1_c24",), ("ir_r1_k5_s2_e4_c40", "ir_r4_k5_s1_e2_c40"),
        ("ir_r1_k5_s2_e4_c56_se0.25", "ir_r4_k5_s1_e3_c56_se0.25"), ("ir_r1_k5_s2_e5_c104", "ir_r4_k3_s1_e3_c104"),
        ("ir_r1_k3_s1_e5_c160_se0.25", "ir_r8_k5_s1_e3_c160_se0.25"),
        ("ir_r1_k3_s2_e6_c264_se0.25", "ir_r6_k5_s1_e5_c264_se0.25", "ir_r2_k5_s1_e6_c288_se0.25"),
        ("cn_r1_k1_s1_c1728",))),
}
LCNET_ARCH = (
    ("dsa_r1_k3_s1_c32",), ("dsa_r2_k3_s2_c64",), ("dsa_r2_k3_s2_c128",),
    ("dsa_r1_k3_s2_c256", "dsa_r1_k5_s1_c256"), ("dsa_r4_k5_s1_c256",), ("dsa_r2_k5_s2_c512_se0.25",),
)
HARDCORENAS_ARCH = {
    "a": (("ds_r1_k3_s1_e1_c16_nre",), ("ir_r1_k5_s2_e3_c24_nre", "ir_r1_k5_s1_e3_c24_nre_se0.25"),
          ("ir_r1_k5_s2_e3_c40_nre", "ir_r1_k5_s1_e6_c40_nre_se0.25"),
          ("ir_r1_k5_s2_e6_c80_se0.25", "ir_r1_k5_s1_e6_c80_se0.25"),
          ("ir_r1_k5_s1_e6_c112_se0.25", "ir_r1_k5_s1_e6_c112_se0.25"),
          ("ir_r1_k5_s2_e6_c192_se0.25", "ir_r1_k5_s1_e6_c192_se0.25"), ("cn_r1_k1_s1_c960",)),
    "b": (("ds_r1_k3_s1_e1_c16_nre",),
          ("ir_r1_k5_s2_e3_c24_nre", "ir_r1_k5_s1_e3_c24_nre_se0.25", "ir_r1_k3_s1_e3_c24_nre"),
          ("ir_r1_k5_s2_e3_c40_nre", "ir_r1_k5_s1_e3_c40_nre", "ir_r1_k5_s1_e3_c40_nre"),
          ("ir_r1_k5_s2_e3_c80", "ir_r1_k5_s1_e3_c80", "ir_r1_k3_s1_e3_c80", "ir_r1_k3_s1_e3_c80"),
          ("ir_r1_k5_s1_e3_c112", "ir_r1_k3_s1_e3_c112", "ir_r1_k3_s1_e3_c112", "ir_r1_k3_s1_e3_c112"),
          ("ir_r1_k5_s2_e6_c192_se0.25", "ir_r1_k5_s1_e6_c192_se0.25", "ir_r1_k3_s1_e3_c192_se0.25"),
          ("cn_r1_k1_s1_c960",)),
    "c": (("ds_r1_k3_s1_e1_c16_nre",), ("ir_r1_k5_s2_e3_c24_nre", "ir_r1_k5_s1_e3_c24_nre_se0.25"),
          ("ir_r1_k5_s2_e3_c40_nre", "ir_r1_k5_s1_e3_c40_nre", "ir_r1_k5_s1_e3_c40_nre", "ir_r1_k5_s1_e3_c40_nre"),
          ("ir_r1_k5_s2_e4_c80", "ir_r1_k5_s1_e6_c80_se0.25", "ir_r1_k3_s1_e3_c80", "ir_r1_k3_s1_e3_c80"),
          ("ir_r1_k5_s1_e6_c112_se0.25", "ir_r1_k3_s1_e3_c112", "ir_r1_k3_s1_e3_c112", "ir_r1_k3_s1_e3_c112"),
          ("ir_r1_k5_s2_e6_c192_se0.25", "ir_r1_k5_s1_e6_c192_se0.25", "ir_r1_k3_s1_e3_c192_se0.25"),
          ("cn_r1_k1_s1_c960",)),
    "d": (("ds_r1_k3_s1_e1_c16_nre",), ("ir_r1_k5_s2_e3_c24_nre_se0.25", "ir_r1_k5_s1_e3_c24_nre_se0.25"),
          ("ir_r1_k5_s2_e3_c40_nre_se0.25", "ir_r1_k5_s1_e4_c40_nre_se0.25", "ir_r1_k3_s1_e3_c40_nre_se0.25"),
          ("ir_r1_k5_s2_e4_c80_se0.25", "ir_r1_k3_s1_e3_c80_se0.25", "ir_r1_k3_s1_e3_c80_se0.25",
           "ir_r1_k3_s1_e3_c80_se0.25"),
          ("ir_r1_k3_s1_e4_c112_se0.25", "ir_r1_k5_s1_e4_c112_se0.25", "ir_r1_k3_s1_e3_c112_se0.25",
           "ir_r1_k5_s1_e3_c112_se0.25"),
          ("ir_r1_k5_s2_e6_c192_se0.25", "ir_r1_k5_s1_e6_c192_se0.25", "ir_r1_k5_s1_e6_c192_se0.25",
           "ir_r1_k3_s1_e6_c192_se0.25"), ("cn_r1_k1_s1_c960",)),
    "e": (("ds_r1_k3_s1_e1_c16_nre",), ("ir_r1_k5_s2_e3_c24_nre_se0.25", "ir_r1_k5_s1_e3_c24_nre_se0.25"),
          ("ir_r1_k5_s2_e6_c40_nre_se0.25", "ir_r1_k5_s1_e4_c40_nre_se0.25", "ir_r1_k5_s1_e4_c40_nre_se0.25",
           "ir_r1_k3_s1_e3_c40_nre_se0.25"), ("ir_r1_k5_s2_e4_c80_se0.25", "ir_r1_k3_s1_e6_c80_se0.25"),
          ("ir_r1_k5_s1_e6_c112_se0.25", "ir_r1_k5_s1_e6_c112_se0.25", "ir_r1_k5_s1_e6_c112_se0.25",
           "ir_r1_k5_s1_e3_c112_se0.25"),
          ("ir_r1_k5_s2_e6_c192_se0.25", "ir_r1_k5_s1_e6_c192_se0.25", "ir_r1_k5_s1_e6_c192_se0.25",
           "ir_r1_k3_s1_e6_c192_se0.25"), ("cn_r1_k1_s1_c960",)),
    "f": (("ds_r1_k3_s1_e1_c16_nre",), ("ir_r1_k5_s2_e3_c24_nre_se0.25", "ir_r1_k5_s1_e3_c24_nre_se0.25"),
          ("ir_r1_k5_s2_e6_c40_nre_se0.25", "ir_r1_k5_s1_e6_c40_nre_se0.25"),
          ("ir_r1_k5_s2_e6_c80_se0.25", "ir_r1_k5_s1_e6_c80_se0.25", "ir_r1_k3_s1_e3_c80_se0.25",
           "ir_r1_k3_s1_e3_c80_se0.25"),
          ("ir_r1_k3_s1_e6_c112_se0.25", "ir_r1_k5_s1_e6_c112_se0.25", "ir_r1_k5_s1_e6_c112_se0.25",
           "ir_r1_k3_s1_e3_c112_se0.25"),
          ("ir_r1_k5_s2_e6_c192_se0.25", "ir_r1_k5_s1_e6_c192_se0.25", "ir_r1_k3_s1_e6_c192_se0.25",
           "ir_r1_k3_s1_e6_c192_se0.25"), ("cn_r1_k1_s1_c960",)),
}

# timm's ``tf_`` ports of TensorFlow checkpoints: TF "SAME" padding and TF's BatchNorm epsilon.
TF_PORT = dict(padding="same", bn_epsilon=1e-3)


def efficientnet_spec(channel_multiplier=1.0, depth_multiplier=1.0, **overrides):
    """timm ``_gen_efficientnet`` (EfficientNet B0-B8): swish, SE 0.25 of the block input."""
    return MobileSpec(EFFICIENTNET_ARCH, channel_multiplier=channel_multiplier,
                      depth_multiplier=depth_multiplier, num_features=round_channels(1280, channel_multiplier),
                      activation="swish", **overrides)


def efficientnet_edge_spec(channel_multiplier=1.0, depth_multiplier=1.0, **overrides):
    """timm ``_gen_efficientnet_edge`` (EfficientNet-EdgeTPU S/M/L): edge residuals, ReLU, no SE."""
    return MobileSpec(EFFICIENTNET_EDGE_ARCH, channel_multiplier=channel_multiplier,
                      depth_multiplier=depth_multiplier, num_features=round_channels(1280, channel_multiplier),
                      activation="relu", **overrides)


def efficientnet_lite_spec(channel_multiplier=1.0, depth_multiplier=1.0, **overrides):
    """timm ``_gen_efficientnet_lite``: EfficientNet without SE, ReLU6, fixed stem/head and end stages."""
    return MobileSpec(EFFICIENTNET_LITE_ARCH, channel_multiplier=channel_multiplier,
                      depth_multiplier=depth_multiplier, fix_first_last=True, fix_stem=True,
                      num_features=1280, activation="relu6", **overrides)


def mnasnet_spec(arch, channel_multiplier=1.0, stem_size=32, **overrides):
    """timm ``_gen_mnasnet_a1`` / ``_b1`` / ``_small``: ReLU, SE (A1, small) of the block input."""
    return MobileSpec(arch, channel_multiplier=channel_multiplier, stem_size=stem_size, activation="relu",
                      **overrides)


def mixnet_spec(arch, channel_multiplier=1.0, depth_multiplier=1.0, **overrides):
    """timm ``_gen_mixnet_s`` / ``_gen_mixnet_m``: mixed depthwise kernels, ReLU then swish stages."""
    return MobileSpec(arch, channel_multiplier=channel_multiplier, depth_multiplier=depth_multiplier,
                      depth_trunc="round", stem_size=16 if arch is MIXNET_S_ARCH else 24, num_features=1536,
                      activation="relu", **overrides)


def tinynet_spec(model_width, depth_multiplier, **overrides):
    """timm ``_gen_tinynet``: EfficientNet rescaled by width/depth (rounded depths, fixed stem)."""
    return MobileSpec(EFFICIENTNET_ARCH, channel_multiplier=model_width, depth_multiplier=depth_multiplier,
                      depth_trunc="round", fix_stem=True,
                      num_features=max(1280, round_channels(1280, model_width)), activation="swish", **overrides)


_MOBILENETV3_SE = dict(se_from_exp=True, se_gate="hard_sigmoid", se_activation="relu", se_rounding="divisible")


def mobilenetv3_spec(arch, channel_multiplier=1.0, depth_multiplier=1.0, activation="hard_swish", **overrides):
    """timm ``_gen_mobilenet_v3`` (large/small, "minimal" without SE and hard-swish): SE of the expanded
    width, ReLU inside, hard-sigmoid gate; pooling before the 1x1 head conv."""
    small = arch in (MOBILENETV3_SMALL_ARCH, MOBILENETV3_SMALL_MINIMAL_ARCH)
    return MobileSpec(arch, channel_multiplier=channel_multiplier, depth_multiplier=depth_multiplier,
                      stem_size=16, fix_stem=channel_multiplier < 0.75, num_features=1024 if small else 1280,
                      head="mobilenetv3", activation=activation, **_MOBILENETV3_SE, **overrides)


def mobilenetv3_rw_spec(**overrides):
    """timm ``_gen_mobilenet_v3_rw``: Ross Wightman's MobileNetV3-Large training (no head bias, SE
    activation follows the block, Python rounding of the SE width)."""
    return MobileSpec(MOBILENETV3_RW_ARCH, stem_size=16, num_features=1280, head="mobilenetv3", head_bias=False,
                      activation="hard_swish", se_from_exp=True, se_gate="hard_sigmoid", **overrides)


def fbnetv3_spec(variant, **overrides):
    """timm ``_gen_fbnetv3``: hard-swish, SE of the block input with hard-sigmoid gate, round limit 0.95."""
    stem_size, arch = FBNETV3_ARCH[variant]
    return MobileSpec(arch, round_limit=0.95, stem_size=stem_size, num_features=1984, head="mobilenetv3",
                      head_bias=False, activation="hard_swish", se_from_exp=False, se_gate="hard_sigmoid",
                      se_rounding="divisible", **overrides)


def lcnet_spec(channel_multiplier, **overrides):
    """timm ``_gen_lcnet`` (PP-LCNet): depthwise-separable blocks with hard-swish, SE in the last stage."""
    return MobileSpec(LCNET_ARCH, channel_multiplier=channel_multiplier, stem_size=16, num_features=1280,
                      head="mobilenetv3", activation="hard_swish", se_from_exp=True, se_gate="hard_sigmoid",
                      se_activation="relu", **overrides)


def hardcorenas_spec(variant, **overrides):
    """timm ``_gen_hardcorenas``: MobileNetV3 blocks searched for latency (HardCoReNAS A-F)."""
    return MobileSpec(HARDCORENAS_ARCH[variant], stem_size=32, num_features=1280, head="mobilenetv3",
                      activation="hard_swish", **_MOBILENETV3_SE, **overrides)
