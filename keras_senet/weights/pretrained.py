"""Per registered model: timm's default data config, and its pretrained checkpoints by tag (timm's tags).

Read from the packaged ``keras_senet/data/pretrained.json``, generated from timm's pretrained configs by
``weights/generate_manifest.py`` -- the one source of input size, crop, interpolation and mean/std."""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import os
from typing import Optional

HUB_ENDPOINT = "https://huggingface.co"


@dataclasses.dataclass(frozen=True)
class PretrainedConfig:
    """One upstream checkpoint of a model.

    Attributes:
        model, tag: e.g. ``"seresnet50"``, ``"a1_in1k"``.
        hub_id: hub repository (``"timm/seresnet50.a1_in1k"``) holding ``file`` (safetensors), or None.
        file: file name in the hub repository.
        url: direct URL of a PyTorch ``.pth`` checkpoint when there is no hub repository (legacy).
        num_classes: classifier outputs.
        input_size: training/eval input side; test_input_size: timm's suggested larger test side.
        interpolation, crop_pct, mean, std: the eval preprocessing.
        sha256: expected SHA-256 of the upstream file when recorded, else None.
    """

    model: str
    tag: str
    hub_id: Optional[str]
    file: Optional[str]
    url: Optional[str]
    num_classes: int
    input_size: int
    test_input_size: Optional[int]
    interpolation: str
    crop_pct: float
    mean: tuple
    std: tuple
    sha256: Optional[str] = None

    @property
    def name(self):
        return f"{self.model}.{self.tag}"

    def source_url(self):
        """Where the upstream file is fetched from (``HF_ENDPOINT`` overrides the hub address)."""
        return hub_file_url(self.hub_id, self.file) if self.hub_id else self.url


def hub_file_url(repo_id, filename):
    """URL of `filename` in hub repository `repo_id` (``HF_ENDPOINT`` overrides the hub address)."""
    endpoint = os.environ.get("HF_ENDPOINT", HUB_ENDPOINT).rstrip("/")
    return f"{endpoint}/{repo_id}/resolve/main/{filename}"


@functools.lru_cache(maxsize=1)
def _table():
    text = importlib.resources.files("keras_senet").joinpath("data/pretrained.json").read_text()
    return json.loads(text)


_CONFIG_FIELDS = ("input_size", "crop_pct", "interpolation", "mean", "std")


def default_config(model):
    """timm's default data config of registry model `model`: input_size, crop_pct, interpolation,
    mean, std (the first pretrained config of the architecture, also for models without weights)."""
    entry = _table().get(model)
    if entry is None:
        raise ValueError(f"model {model!r} has no entry in keras_senet/data/pretrained.json; regenerate it "
                         "with weights/generate_manifest.py after adding a registry entry.")
    config = entry["config"]
    return {field: tuple(config[field]) if field in ("mean", "std") else config[field] for field in _CONFIG_FIELDS}


def pretrained_tags(model):
    """Tags of `model` with downloadable weights, the default (timm's) first."""
    entry = _table().get(model)
    if not entry or not entry["tags"]:
        return []
    return [entry["default"]] + sorted(t for t in entry["tags"] if t != entry["default"])


def get_pretrained(model, tag=None):
    """The `PretrainedConfig` of `model` and `tag` (None or ``"imagenet"``: the default tag).

    Raises:
        ValueError: the model has no pretrained weights, or the tag is unknown (lists the valid ones).
    """
    entry = _table().get(model)
    if not entry or not entry["tags"]:
        with_weights = ", ".join(models_with_weights())
        raise ValueError(f"Model {model!r} has no pretrained weights upstream (timm publishes none). "
                         f"Use weights=None, or one of the models with weights: {with_weights}.")
    if tag in (None, "", "imagenet"):
        tag = entry["default"]
    if tag not in entry["tags"]:
        raise ValueError(f"Unknown pretrained tag {tag!r} for model {model!r}; available: "
                         f"{', '.join(pretrained_tags(model))} (weights='imagenet' picks "
                         f"{entry['default']!r}).")
    record = dict(entry["tags"][tag])
    record["mean"], record["std"] = tuple(record["mean"]), tuple(record["std"])
    return PretrainedConfig(model=model, tag=tag, **record)


def models_with_weights():
    return sorted(name for name, entry in _table().items() if entry["tags"])
