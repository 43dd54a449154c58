"""`PreprocessingConfig`: how images become a model's input, as data that travels with the model.

Like timm's ``pretrained_cfg`` (and keras-hub's preset configs), a model built by keras-senet carries
its input size, crop, interpolation, mean/std, registry name and weights tag
(`keras_senet.models.ZooModel.preprocessing`); it survives ``.keras`` save/load and fine-tuning, so
the data pipeline, the serving signature and the export runners read it from the model instead of
guessing from ``model.name``. A model of unknown provenance (a plain `keras.Model`) has none:
`preprocessing_of` then raises and asks for an explicit config, never a silent default.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "area", "lanczos3")


@dataclasses.dataclass(frozen=True)
class PreprocessingConfig:
    """The eval preprocessing of a model (timm's data config).

    Attributes:
        input_size: square side of the model input in pixels.
        crop_pct: centre-crop fraction: the shorter side is resized to ``floor(input_size / crop_pct)``
            before the centre ``input_size x input_size`` crop. In (0, 1]. Default 0.875.
        interpolation: resize method (timm's name): one of `INTERPOLATIONS`. Default ``"bicubic"``.
        mean, std: per-channel normalisation of RGB scaled to [0, 1]. Default ImageNet's.
        model: the registry name of the architecture (``"seresnet50"``), or None.
        weights: the pretrained checkpoint the weights came from (``"seresnet50.a1_in1k"``), or None.
    """

    input_size: int
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    model: Optional[str] = None
    weights: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int) or self.input_size < 1:
            raise ValueError(f"input_size must be a positive integer, got {self.input_size!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation={self.interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values (std > 0); got mean={self.mean}, std={self.std}")

    @property
    def image_size(self):
        """Deprecated alias of `input_size` (the name used up to 0.1)."""
        return self.input_size

    @property
    def resize_size(self):
        """Shorter side after the eval resize, before the centre crop: ``floor(input_size / crop_pct)``."""
        import math

        return int(math.floor(self.input_size / self.crop_pct))

    def replace(self, **changes):
        """A copy with `changes` (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self):
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        if "image_size" in data:  # preprocessing.json files written by keras-senet 0.1
            data.setdefault("input_size", data.pop("image_size"))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown preprocessing field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)
