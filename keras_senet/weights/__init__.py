"""Pretrained weights: resolve a ``weights=`` source, download with verification and caching, convert
timm checkpoints (safetensors + NumPy, no torch), load.

    ks.weights.load(model, "imagenet")                 # the model's default upstream checkpoint
    ks.weights.load(model, "seresnet50.ra2_in1k")      # a tag
    ks.weights.load(model, "model.safetensors")        # timm layout, local
    ks.weights.load(model, "https://host/model.safetensors")
    ks.weights.load(model, "hf://timm/seresnet50.a1_in1k")
"""

from keras_senet.weights.cache import cache_dir
from keras_senet.weights.download import DownloadError
from keras_senet.weights.loading import OfflineError, is_offline, load, read_state_dict
from keras_senet.weights.pretrained import PretrainedConfig, get_pretrained, models_with_weights, pretrained_tags
from keras_senet.weights.source import WeightsSource, resolve
from keras_senet.weights.timm_convert import CheckpointMismatchError, load_timm_state_dict

__all__ = [
    "CheckpointMismatchError",
    "WeightsSource",
    "DownloadError",
    "OfflineError",
    "PretrainedConfig",
    "cache_dir",
    "get_pretrained",
    "is_offline",
    "load",
    "load_timm_state_dict",
    "models_with_weights",
    "pretrained_tags",
    "read_state_dict",
    "resolve",
]
