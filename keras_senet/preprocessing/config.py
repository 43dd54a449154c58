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


def for_model(name, input_size=None):
    """The config of registry name `name`, or of a pretrained checkpoint ``"name.tag"``.

    The untagged name gives the architecture's default config (timm's default pretrained config,
    generated into the package data); a tag gives that checkpoint's config and sets `weights`.
    """
    from keras_senet import zoo

    base, _, tag = str(name).partition(".")
    entry = zoo.get_entry(base)
    if tag:
        from keras_senet.weights.pretrained import get_pretrained

        pretrained = get_pretrained(base, tag)
        config = PreprocessingConfig(input_size=pretrained.input_size, crop_pct=pretrained.crop_pct,
                                     interpolation=pretrained.interpolation, mean=pretrained.mean,
                                     std=pretrained.std, model=base, weights=pretrained.name)
    else:
        config = entry.preprocessing
    return config.replace(input_size=input_size)


def preprocessing_of(source, **overrides):
    """The `PreprocessingConfig` of `source`, with single fields overridden by keyword.

    Args:
        source: a `PreprocessingConfig`; a model built by keras-senet (it carries its config, also
            after ``.keras`` save/load and fine-tuning); a registry name or ``"name.tag"``; or a dict of
            config fields.
        **overrides: ``input_size``, ``crop_pct``, ``interpolation``, ``mean``, ``std`` (None: keep).

    Raises:
        ValueError: `source` is a model without a config (not built by keras-senet): pass a registry
            name or a `PreprocessingConfig` instead, or attach one with
            `keras_senet.models.ZooModel.wrap(model, config)`.
    """
    if "image_size" in overrides:  # deprecated spelling (0.1)
        overrides.setdefault("input_size", overrides.pop("image_size"))
    if isinstance(source, PreprocessingConfig):
        config = source
    elif isinstance(source, dict):
        config = PreprocessingConfig.from_dict(source)
    elif isinstance(source, str):
        config = for_model(source)
    else:
        config = getattr(source, "preprocessing", None)
        if not isinstance(config, PreprocessingConfig):
            name = getattr(source, "name", type(source).__name__)
            raise ValueError(
                f"model {name!r} carries no preprocessing config (it was not built by keras-senet, or was "
                "rebuilt as a plain keras.Model), so its input size, crop and mean/std are unknown. Pass them "
                "explicitly: a registry name such as 'seresnet50' (or 'seresnet50.a1_in1k'), or a "
                "keras_senet.preprocessing.PreprocessingConfig(input_size=..., mean=..., std=...).")
    return config.replace(**overrides)
