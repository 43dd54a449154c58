"""`ResNetSpec`: the architecture of one ResNet-family variant, as data (no Keras import)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

BLOCK_TYPES = ("basic", "bottleneck", "sk_basic", "sk_bottleneck", "resnest_bottleneck")
STEM_TYPES = ("", "deep", "deep_tiered")
LAYOUTS = ("timm", "legacy")
STAGE_PLANES = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4, "sk_basic": 1, "sk_bottleneck": 4, "resnest_bottleneck": 4}
# Blocks whose 3x3 convolution is a branch-selecting layer (timm sknet.py / resnest.py), and the arguments
# `block_kwargs` may give them.
BLOCK_KWARGS = {
    "sk_basic": ("rd_ratio", "rd_divisor", "split_input", "kernel_size", "keep_3x3"),
    "sk_bottleneck": ("rd_ratio", "rd_divisor", "split_input", "kernel_size", "keep_3x3"),
    "resnest_bottleneck": ("radix", "avd", "avd_first"),
}


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """Architecture of one ResNet-family variant.

    Attributes:
        block: ``"basic"`` (two 3x3 convs, expansion 1) or ``"bottleneck"`` (1x1-3x3-1x1, expansion 4);
            ``"sk_basic"`` / ``"sk_bottleneck"`` (timm sknet.py: the first / middle 3x3 conv is a
            `SelectiveKernel`, ``conv*`` are ConvNormAct pairs ``conv*_conv`` + ``conv*_bn``, final ReLU
            ``act``); ``"resnest_bottleneck"`` (timm resnest.py: the 3x3 conv is a `SplitAttention`, with
            "avd" average-pool downsampling instead of a strided conv).
        depths: blocks per stage, e.g. ``(3, 4, 6, 3)`` for 50 layers.
        cardinality: groups of the 3x3 conv (ResNeXt). Default 1.
        base_width: channels per group at the first stage (ResNeXt "x4d"). Default 64.
        stem_width: width of the deep stem's first convs. Default 64.
        stem_type: ``""`` (7x7 conv), ``"deep"`` (three 3x3 convs) or ``"deep_tiered"``
            (3x3 convs of 3/4*stem_width, stem_width, then the stage input width).
        avg_down: shortcut downsampling by 2x2 average pooling then a 1x1 conv ("D" variants).
        down_kernel_size: kernel of the strided shortcut conv (3 in SENet-154). Default 1.
        block_reduce_first: divides the first conv's width in each block (2 in SENet-154).
        anti_alias: stride-2 3x3 convs run at stride 1 followed by 2x2 average pooling, and the stem
            max pool becomes a 2x2 average pool (timm ``aa_layer=nn.AvgPool2d``, "aa" variants).
        stride_in_1x1: put a bottleneck's stride on its first 1x1 conv (Caffe SE-ResNet) rather than
            on the 3x3 conv.
        attention: attention layer name for `keras_senet.layers.get_attention` (``"se"``,
            ``"eca"``, ...) or ``None`` for a plain ResNet. Applied after the block's last BatchNorm,
            before the residual addition.
        attention_kwargs: extra keyword arguments for the attention layer, as ``(key, value)`` pairs.
        attention_reduction: if set, the attention layer gets ``rd_channels = channels // reduction``
            (the legacy SENet rule) instead of its own rd_ratio/rd_divisor rule.
        block_kwargs: arguments of the block's branch-selecting layer as ``(key, value)`` pairs (see
            ``BLOCK_KWARGS``): SK ``rd_ratio``, ``rd_divisor``, ``split_input``; ResNeSt ``radix``,
            ``avd`` (stride by a 3x3 average pool, ``avd_first``: before the split attention conv).
        block_widths: a pruned network's widths: per block, in order, the output channels of its
            ``(conv1, conv2, conv3)`` (timm's ``_pruned/*.txt``, read by ``timm.models.adapt_model_from_file``;
            packaged as ``keras_senet/data/pruned_widths.json``). Bottleneck blocks only; every block of a
            stage ends in the same width (the residual adds). The attention layer is built as timm leaves
            it: ECA keeps the kernel size of the unpruned width. Empty (default): the standard widths.
        layout: ``"timm"`` or ``"legacy"`` (see `keras_senet.models.resnet`).
        drop_rate: dropout before the classifier. Default 0.
    """

    FAMILY: ClassVar[str] = "keras_senet.models.resnet"
    # Fields `create_model` may override (ablations that keep the weights' shapes meaningful).
    OVERRIDES: ClassVar[tuple] = ("attention", "attention_kwargs", "drop_rate")
    # Smallest input side the network takes (it downsamples by 32).
    MIN_INPUT_SIZE: ClassVar[int] = 32

    block: str
    depths: tuple
    cardinality: int = 1
    base_width: int = 64
    stem_width: int = 64
    stem_type: str = ""
    avg_down: bool = False
    down_kernel_size: int = 1
    block_reduce_first: int = 1
    anti_alias: bool = False
    stride_in_1x1: bool = False
    attention: Optional[str] = None
    attention_kwargs: tuple = ()
    attention_reduction: Optional[int] = None
    block_kwargs: tuple = ()
    block_widths: tuple = ()
    layout: str = "timm"
    drop_rate: float = 0.0

    def __post_init__(self):
        _check_choice("block", self.block, BLOCK_TYPES)
        _check_choice("stem_type", self.stem_type, STEM_TYPES)
        _check_choice("layout", self.layout, LAYOUTS)
        if len(self.depths) != len(STAGE_PLANES) or any(int(d) < 1 for d in self.depths):
            raise ValueError(f"depths must be {len(STAGE_PLANES)} positive integers, got {self.depths!r}")
        if self.block in ("basic", "sk_basic") and (self.cardinality != 1 or self.base_width != 64):
            raise ValueError(f"block={self.block!r} supports only cardinality=1 and base_width=64, got "
                             f"cardinality={self.cardinality}, base_width={self.base_width}")
        allowed = BLOCK_KWARGS.get(self.block, ())
        for key, _ in self.block_kwargs:
            if key not in allowed:
                raise ValueError(f"block_kwargs key {key!r} is not one of {allowed!r} (block={self.block!r})")
        if self.block in BLOCK_KWARGS and (self.layout != "timm" or self.anti_alias or self.stride_in_1x1
                                           or self.block_reduce_first != 1):
            raise ValueError(f"block={self.block!r} needs layout='timm' without anti_alias, stride_in_1x1 or "
                             "block_reduce_first (as timm's sknet.py / resnest.py)")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")
        if self.block_widths:
            self._check_block_widths()

    def _check_block_widths(self):
        if self.block != "bottleneck" or self.layout != "timm" or self.attention not in (None, "eca"):
            raise ValueError("block_widths (a pruned network) needs block='bottleneck', layout='timm' and "
                             f"attention None or 'eca', got block={self.block!r}, layout={self.layout!r}, "
                             f"attention={self.attention!r}")
        if len(self.block_widths) != sum(self.depths) or any(
                len(w) != 3 or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in w)
                for w in self.block_widths):
            raise ValueError(f"block_widths must be {sum(self.depths)} (conv1, conv2, conv3) triples of positive "
                             f"ints (one per block of depths={self.depths!r})")
        for stage, blocks in enumerate(self.stage_block_widths(), start=1):
            if len({conv3 for _, _, conv3 in blocks}) != 1:
                raise ValueError(f"block_widths: the blocks of stage {stage} end in different widths "
                                 f"{[b[2] for b in blocks]}; the residual additions need one")

    def stage_block_widths(self):
        """Per stage, the ``(conv1, conv2, conv3)`` widths of its blocks (`block_widths` split by `depths`),
        or None when the network is not pruned."""
        if not self.block_widths:
            return None
        stages, start = [], 0
        for depth in self.depths:
            stages.append(tuple(tuple(w) for w in self.block_widths[start:start + depth]))
            start += depth
        return tuple(stages)

    def stage_channels(self, stage) -> int:
        """Output channels of `stage` (1-4)."""
        if self.block_widths:
            return self.stage_block_widths()[stage - 1][0][2]
        return STAGE_PLANES[stage - 1] * EXPANSION[self.block]

    @property
    def num_features(self) -> int:
        """Channels of the final feature map (input of the classifier)."""
        return self.stage_channels(len(STAGE_PLANES))

    @property
    def stem_channels(self) -> int:
        """Channels entering the first stage."""
        return self.stem_width * 2 if "deep" in self.stem_type else 64


def _check_choice(arg, value, allowed):
    if value not in allowed:
        raise ValueError(f"{arg}={value!r} is not one of {', '.join(repr(a) for a in allowed)}")
