"""The model registry: every model name -> architecture spec and default input configuration.

Names are timm's, so an upstream checkpoint ``timm/<name>.<tag>`` maps onto the model of the same name.
Adding a variant is one entry in `_REGISTRY`. The public entry points are `create_model`,
`list_models` and `model_info`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Optional

from keras_senet.models.spec import ResNetSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes:
        name: registry name (timm's).
        spec: the architecture.
        default_size: default square input size (timm's default pretrained config).
        interpolation: resize interpolation of the default pretrained config.
        crop_pct: centre-crop fraction of the default pretrained config.
        mean, std: per-channel normalisation of inputs scaled to [0, 1].
        paper: the reference, one line.
        min_size: smallest input side the builder accepts (the network downsamples by 32).
    """

    name: str
    spec: ResNetSpec
    default_size: int = 224
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    paper: str = ""
    min_size: int = 32


_SE = dict(attention="se")
_ECA = dict(attention="eca")
_D = dict(stem_width=32, stem_type="deep", avg_down=True)  # "D" variant: deep stem + avg-pool shortcut
_T = dict(stem_width=32, stem_type="deep_tiered", avg_down=True)  # "T": tiered deep stem
_AA = dict(anti_alias=True)
_LEGACY = dict(layout="legacy", attention="se", attention_reduction=16)
_LEGACY_SE_RESNET = dict(_LEGACY, stride_in_1x1=True)  # Caffe SE-ResNet: stride in the first 1x1
_R18, _R34, _R50 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3)
_R101, _R152, _R200, _R269 = (3, 4, 23, 3), (3, 8, 36, 3), (3, 24, 36, 3), (3, 30, 48, 8)
_X32x4 = dict(cardinality=32, base_width=4)
_X32x8 = dict(cardinality=32, base_width=8)
_X64x4 = dict(cardinality=64, base_width=4)

_HU = "Hu et al., Squeeze-and-Excitation Networks, CVPR 2018"
_ECA_PAPER = "Wang et al., ECA-Net: Efficient Channel Attention for Deep CNNs, CVPR 2020"
_HE = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016"
_XIE = "Xie et al., Aggregated Residual Transformations for Deep Neural Networks, CVPR 2017"


def _entry(name, block, depths, paper=_HU, size=224, interpolation="bicubic", crop_pct=0.875, **spec):
    return ModelEntry(name=name, spec=ResNetSpec(block=block, depths=depths, **spec),
                      default_size=size, interpolation=interpolation, crop_pct=crop_pct, paper=paper)


_ENTRIES = [
    # Paper-faithful ports of the original Caffe SENets (timm senet.py).
    _entry("legacy_seresnet18", "basic", _R18, **_LEGACY),
    _entry("legacy_seresnet34", "basic", _R34, interpolation="bilinear", **_LEGACY),
    _entry("legacy_seresnet50", "bottleneck", _R50, interpolation="bilinear", **_LEGACY_SE_RESNET),
    _entry("legacy_seresnet101", "bottleneck", _R101, interpolation="bilinear", **_LEGACY_SE_RESNET),
    _entry("legacy_seresnet152", "bottleneck", _R152, interpolation="bilinear", **_LEGACY_SE_RESNET),
    _entry("legacy_seresnext26_32x4d", "bottleneck", _R18, **_X32x4, **_LEGACY),
    _entry("legacy_seresnext50_32x4d", "bottleneck", _R50, interpolation="bilinear", **_X32x4, **_LEGACY),
    _entry("legacy_seresnext101_32x4d", "bottleneck", _R101, interpolation="bilinear", **_X32x4,
           **_LEGACY),
    _entry("legacy_senet154", "bottleneck", _R152, interpolation="bilinear", **_X64x4, **_LEGACY,
           stem_type="deep", stem_width=64, down_kernel_size=3, block_reduce_first=2, drop_rate=0.2),
    # SE-ResNet / SE-ResNeXt (timm resnet.py).
    _entry("seresnet18", "basic", _R18, **_SE),
    _entry("seresnet34", "basic", _R34, **_SE),
    _entry("seresnet50", "bottleneck", _R50, crop_pct=0.95, **_SE),
    _entry("seresnet50t", "bottleneck", _R50, **_T, **_SE),
    _entry("seresnet101", "bottleneck", _R101, **_SE),
    _entry("seresnet152", "bottleneck", _R152, **_SE),
    _entry("seresnet152d", "bottleneck", _R152, size=256, crop_pct=0.95, **_D, **_SE),
    _entry("seresnet200d", "bottleneck", _R200, size=256, **_D, **_SE),
    _entry("seresnet269d", "bottleneck", _R269, size=256, **_D, **_SE),
    _entry("seresnetaa50d", "bottleneck", _R50, **_D, **_AA, **_SE),
    _entry("seresnext26d_32x4d", "bottleneck", _R18, **_X32x4, **_D, **_SE),
    _entry("seresnext26t_32x4d", "bottleneck", _R18, **_X32x4, **_T, **_SE),
    _entry("seresnext50_32x4d", "bottleneck", _R50, **_X32x4, **_SE),
    _entry("seresnext101_32x4d", "bottleneck", _R101, **_X32x4, **_SE),
    _entry("seresnext101_32x8d", "bottleneck", _R101, crop_pct=0.95, **_X32x8, **_SE),
    _entry("seresnext101d_32x8d", "bottleneck", _R101, crop_pct=0.95, **_X32x8, **_D, **_SE),
    _entry("seresnext101_64x4d", "bottleneck", _R101, **_X64x4, **_SE),
    _entry("seresnextaa101d_32x8d", "bottleneck", _R101, size=288, crop_pct=0.95, **_X32x8, **_D, **_AA,
           **_SE),
    _entry("seresnextaa201d_32x8d", "bottleneck", (3, 24, 36, 4), size=384, crop_pct=1.0, **_X32x8,
           **dict(_D, stem_width=64), **_AA, **_SE),
    _entry("senet154", "bottleneck", _R152, **_X64x4, stem_type="deep", down_kernel_size=3,
           block_reduce_first=2, **_SE),
    # ECA-ResNet (timm resnet.py).
    _entry("ecaresnet26t", "bottleneck", _R18, _ECA_PAPER, size=256, **_T, **_ECA),
    _entry("ecaresnet50d", "bottleneck", _R50, _ECA_PAPER, **_D, **_ECA),
    _entry("ecaresnet50t", "bottleneck", _R50, _ECA_PAPER, size=256, **_T, **_ECA),
    _entry("ecaresnet101d", "bottleneck", _R101, _ECA_PAPER, **_D, **_ECA),
    _entry("ecaresnet200d", "bottleneck", _R200, _ECA_PAPER, size=256, crop_pct=0.95, **_D, **_ECA),
    _entry("ecaresnet269d", "bottleneck", _R269, _ECA_PAPER, size=320, crop_pct=0.95, **_D, **_ECA),
    _entry("ecaresnetlight", "bottleneck", (1, 1, 11, 3), _ECA_PAPER, stem_width=32, avg_down=True,
           **_ECA),
    _entry("ecaresnext26t_32x4d", "bottleneck", _R18, _ECA_PAPER, **_X32x4, **_T, **_ECA),
    _entry("ecaresnext50t_32x4d", "bottleneck", _R50, _ECA_PAPER, **_X32x4, **_T, **_ECA),
    # Baselines without attention, from the same builder (for overhead benchmarks and ablations).
    _entry("resnet50", "bottleneck", _R50, _HE, crop_pct=0.95),
    _entry("resnext50_32x4d", "bottleneck", _R50, _XIE, crop_pct=0.95, **_X32x4),
]

_REGISTRY = {entry.name: entry for entry in _ENTRIES}
if len(_REGISTRY) != len(_ENTRIES):
    raise RuntimeError("duplicate model name in the registry")


def get_entry(name: str) -> ModelEntry:
    """The registry entry of `name`; unknown names raise ValueError with close matches."""
    if not isinstance(name, str) or name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(str(name), _REGISTRY, n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} See keras_senet.list_models() for all "
                         f"{len(_REGISTRY)} names.")
    return _REGISTRY[name]


def list_models(pattern: Optional[str] = None, pretrained: bool = False) -> list:
    """Registered model names, sorted; `pattern` is a shell-style wildcard such as ``"seresne*"``.

    With ``pretrained=True`` only models with upstream pretrained weights are listed.
    """
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    if pretrained:
        from keras_senet.weights.pretrained import models_with_weights

        names = [n for n in names if n in set(models_with_weights())]
    return names
