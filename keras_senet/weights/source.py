"""One resolver: any ``weights=`` value -> a typed `WeightsSource`, checked before any model is built.

    resolve("imagenet", "seresnet50")            pretrained, the default tag
    resolve("a1_in1k", "seresnet50")             pretrained, a tag (also "seresnet50.a1_in1k")
    resolve("ckpt.safetensors", "seresnet50")    a local file (timm state dict or Keras weights)
    resolve("https://host/x.safetensors", ...)   a URL (http:// only to loopback hosts)
    resolve("hf://org/repo[/file]", ...)         a hub repository file (default model.safetensors)

`keras_senet.create_model` calls it before building, and `keras_senet.weights.load` loads what it
returns; a bad value raises ValueError here, naming the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from typing import Optional

from keras_senet.weights.download import check_url
from keras_senet.weights.pretrained import PretrainedConfig, get_pretrained, hub_file_url

STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")  # timm / PyTorch state dicts
KERAS_WEIGHTS_SUFFIXES = (".weights.h5",)
KERAS_MODEL_SUFFIXES = (".keras",)
KERAS_SUFFIXES = KERAS_WEIGHTS_SUFFIXES + KERAS_MODEL_SUFFIXES
CHECKPOINT_SUFFIXES = KERAS_SUFFIXES + STATE_DICT_SUFFIXES
# A weights string with one of these endings, or with a path separator, is a file path, never a tag.
FILE_EXTENSIONS = (".h5", ".keras", ".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".npz", ".pkl")
_ALLOWED = ("None, 'imagenet', a pretrained tag, a checkpoint file (.safetensors/.pth/.pt/.bin in timm layout, "
            ".weights.h5, .keras), an https:// URL of one, or 'hf://org/repo[/file]'")


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """A checked weights source.

    Attributes:
        kind: ``"pretrained"`` (an upstream checkpoint of the registry), ``"file"`` or ``"url"``.
        location: the checkpoint's URL (pretrained, url) or absolute path (file).
        checkpoint: ``"state_dict"`` (timm layout, converted), ``"keras_weights"`` (``.weights.h5``)
            or ``"keras_model"`` (``.keras``, weights copied by layer name).
        model: the registry name of the architecture it is loaded into.
        pretrained: the upstream checkpoint's config (kind ``"pretrained"`` only).
    """

    kind: str
    location: str
    checkpoint: str
    model: str
    pretrained: Optional[PretrainedConfig] = None

    @property
    def name(self):
        """How to call the source in messages and records: ``model.tag``, the path or the URL."""
        return self.pretrained.name if self.pretrained else self.location


def looks_like_path(value):
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in value for sep in separators) or os.path.splitext(value)[1].lower() in FILE_EXTENSIONS


def checkpoint_kind(name, what):
    """``"state_dict"``, ``"keras_weights"`` or ``"keras_model"`` from a file name; ValueError otherwise."""
    lower = name.lower()
    for suffixes, kind in ((KERAS_WEIGHTS_SUFFIXES, "keras_weights"), (KERAS_MODEL_SUFFIXES, "keras_model"),
                           (STATE_DICT_SUFFIXES, "state_dict")):
        if lower.endswith(suffixes):
            return kind
    raise ValueError(f"weights={what!r}: unknown checkpoint kind; the name must end in one of "
                     f"{', '.join(CHECKPOINT_SUFFIXES)}")


def hub_url(value):
    """``hf://org/repo[/file]`` -> the hub's resolve URL (``HF_ENDPOINT`` overrides the address)."""
    parts = value[len("hf://"):].strip("/").split("/")
    if len(parts) < 2 or not all(parts[:2]):
        raise ValueError(f"weights={value!r}: a hub source is 'hf://org/repo' or 'hf://org/repo/file'")
    return hub_file_url(f"{parts[0]}/{parts[1]}", "/".join(parts[2:]) or "model.safetensors")


def resolve(weights, model_name, tag=None) -> Optional[WeightsSource]:
    """Check `weights` for registry model `model_name` and return its `WeightsSource` (None for None).

    Args:
        weights: see the module docstring; a ``pathlib.Path`` is a file.
        model_name: a registry name (checked).
        tag: a pretrained tag given in the model name (``"seresnet50.a1_in1k"``); needs
            ``weights="imagenet"``.

    Raises:
        ValueError: an unknown model, tag, scheme or checkpoint kind, a missing file, or a tag in the
            model name with another `weights` value. Nothing has been built or fetched.
    """
    from keras_senet import zoo

    zoo.get_entry(model_name)
    if tag and weights != "imagenet":
        raise ValueError(f"{model_name}.{tag}: a tag in the model name picks pretrained weights and needs "
                         f"weights='imagenet'; got weights={weights!r}.")
    if weights is None:
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str) or not weights:
        raise ValueError(f"weights={weights!r} is not allowed: use {_ALLOWED}.")
    if "://" in weights:
        url = hub_url(weights) if weights.startswith("hf://") else weights
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"weights={weights!r}: unsupported URL scheme {scheme!r}; use https:// (http:// only "
                             "for loopback hosts) or hf://org/repo.")
        check_url(url)
        kind = checkpoint_kind(urllib.parse.urlsplit(url).path, weights)
        return WeightsSource("url", url, kind, model_name)
    if weights == "imagenet" or not looks_like_path(weights) and not os.path.isfile(weights):
        if weights != "imagenet":
            tag = weights[len(model_name) + 1:] if weights.startswith(model_name + ".") else weights
        pretrained = get_pretrained(model_name, tag)
        return WeightsSource("pretrained", pretrained.source_url(), "state_dict", model_name, pretrained)
    if not os.path.isfile(weights):
        raise ValueError(f"weights={weights!r}: no such file. Allowed: {_ALLOWED}.")
    return WeightsSource("file", os.path.abspath(weights), checkpoint_kind(weights, weights), model_name)
