"""Find the `PreprocessingConfig` of a registry name, a model, a dict or a config."""

from __future__ import annotations

from keras_senet import zoo
from keras_senet.preprocessing.config import PreprocessingConfig


def for_model(name, input_size=None):
    """The config of registry name `name`, or of a pretrained checkpoint ``"name.tag"``.

    The untagged name gives the architecture's default config (timm's default pretrained config,
    generated into the package data); a tag gives that checkpoint's config and sets `weights`.
    """
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
