"""Small models for the export tests: every architectural family of the registry, one block per stage."""

import dataclasses
import re

import keras_senet as ks
from keras_senet.models import ResNetSpec, build_model
from keras_senet.models.byobnet_spec import ByobNetSpec
from keras_senet.models.ghostnet_spec import GhostNetSpec
from keras_senet.models.mobile_spec import MobileSpec
from keras_senet.models.regnet_spec import NUM_STAGES, RegNetSpec
from keras_senet.models.rexnet_spec import RexNetSpec

# family -> registry entry whose layout it exports (cut to one block per stage, or per block string, for speed:
# the conversion path of every block type, stem, shortcut and attention module is the same). Together they
# have every feature of the registry (tests/test_models.py::test_representatives_cover_every_feature).
FAMILIES = {
    "basic": "seresnet18",
    "legacy-basic": "legacy_seresnet18",
    "bottleneck": "seresnet50",
    "resnext-anti-alias": "seresnetaa50d",
    "deep-tiered-stem": "seresnext26t_32x4d",
    "senet154-layout": "legacy_senet154",
    "legacy": "legacy_seresnet50",
    "eca": "ecaresnet50d",
    "plain": "resnet50",
    "selective-kernel": "skresnet18",  # SK conv: split input, dilated branch (stride 2 = dilation 2), softmax
    "selective-kernel-resnext": "skresnext50_32x4d",  # SK conv with grouped branches inside a bottleneck
    "split-attention": "resnest14d",  # split attention (radix 2, grouped 1x1s), avd average pools
    # inverted-residual family
    "mobilenetv3": "mobilenetv3_large_100",  # hard-swish, SE of the expanded width with a hard-sigmoid gate
    "efficientnet": "efficientnet_b0",  # swish, sigmoid SE of the block input
    "efficientnet-lite": "efficientnet_lite0",  # ReLU6, no SE
    "edge-residual": "efficientnet_es",  # er blocks (fused expansion conv)
    "mixnet-tf-same": "tf_mixnet_s",  # mixed kernels over channel splits, TF "SAME" padding, BN eps 1e-3
    "lcnet": "lcnet_050",  # dsa blocks
    "mobilenetv3-rw": "mobilenetv3_rw",  # head conv without bias (as FBNetV3, at 10 blocks instead of 13)
    "regnet": "regnety_002",  # grouped 3x3 bottleneck, SE sized by the block input
    "rexnet": "rexnet_100",  # SE with BatchNorm, ReLU6 after SE, shortcut onto the first channels (concat)
    "ghostnetv2": "ghostnetv2_100",  # ghost modules (V1's in its first blocks), DFC attention, hard-sigmoid SE
    "ghostnetv3": "ghostnetv3_100",  # re-parameterisable conv + BN branches summed, BN-only branch
    # timm ByobNet bottleneck ResNets
    "byobnet": "seresnext26ts",  # tiered stem + -inf-padded max pool, SiLU, grouped bottleneck with SE
    "byobnet-gc": "gcresnet33ts",  # tiered stem with a strided last conv, GC (context added), final 1x1 conv
}


def _one_block_per_stage(spec: ResNetSpec):
    return dataclasses.replace(spec, depths=(1,) * len(spec.depths))


def _one_block_per_string(spec: MobileSpec):
    """Every block string repeated once (``ir_r3_...`` -> ``ir_r1_...``), no depth multiplier: each block
    kind, kernel mix and stride of the architecture stays, the repeats go."""
    arch = tuple(tuple(re.sub(r"_r\d+(?=_|$)", "_r1", block) for block in stage) for stage in spec.arch)
    return dataclasses.replace(spec, arch=arch, depth_multiplier=1.0)


def _fewest_blocks(spec: RegNetSpec):
    """The smallest `depth` whose generated widths still make four stages: a RegNet's stages come from its
    width arithmetic, so depths cannot be cut per stage (regnety_002: 7 blocks instead of 13)."""
    for depth in range(NUM_STAGES, spec.depth + 1):
        try:
            return dataclasses.replace(spec, depth=depth)
        except ValueError:  # fewer than four stages
            continue
    return spec


def _one_rexnet_block_per_stage(spec: RexNetSpec):
    """Depth multiplier 0.2: ``ceil(0.2 * depth)`` = one bottleneck in each of the six stages (the widths
    then grow over six blocks instead of 16)."""
    return dataclasses.replace(spec, depth_multiplier=0.2)


def _one_byobnet_block_per_stage(spec: ByobNetSpec):
    return dataclasses.replace(spec, depths=(1,) * len(spec.depths))


def _first_ghost_block_per_stage(spec: GhostNetSpec):
    """The first block of every stage (nine blocks: strides, SE, DFC attention and shortcuts stay)."""
    return dataclasses.replace(spec, cfgs=tuple(stage[:1] for stage in spec.cfgs))


# spec class -> how to shrink it; a new family adds its rule here
SHRINK = {ResNetSpec: _one_block_per_stage, MobileSpec: _one_block_per_string,
          RegNetSpec: _fewest_blocks, RexNetSpec: _one_rexnet_block_per_stage,
          GhostNetSpec: _first_ghost_block_per_stage, ByobNetSpec: _one_byobnet_block_per_stage}


def small_spec(registry_name):
    """`registry_name`'s spec with its repeats cut to one."""
    spec = ks.zoo.get_entry(registry_name).spec
    return SHRINK[type(spec)](spec)


def small_model(registry_name, size=32, classes=10, classifier_activation="softmax"):
    """`registry_name`'s architecture with one block per stage, on ``(size, size, 3)`` inputs."""
    preprocessing = ks.preprocessing.for_model(registry_name, input_size=size)
    return build_model(small_spec(registry_name), (size, size, 3), classes=classes,
                       classifier_activation=classifier_activation, name=registry_name,
                       preprocessing=preprocessing)
