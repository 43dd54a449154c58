"""Resolve a ``weights=`` argument and load it into a model.

Sources:
  ``"imagenet"`` / a tag       the model's default / named upstream timm checkpoint; downloaded once,
                               converted, cached as ``.weights.h5`` (see `keras_senet.weights.cache`)
  ``path.safetensors``         a timm state dict (read with safetensors + NumPy, no torch)
  ``path.pth`` / ``.bin``      a PyTorch state dict, read with ``torch.load(weights_only=True)``
  ``path.weights.h5``          Keras weights of the same architecture
  ``path.keras``               a saved Keras model (``safe_mode=True``); its weights are copied by name
  ``https://...``              any of the file kinds above (``http://`` for loopback hosts only)
  ``hf://org/repo[/file]``     ``model.safetensors`` (or `file`) of a hub repository

Offline (``KERAS_SENET_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``) only the cache and local files are used.
Nothing is ever loaded partially: a checkpoint that does not fit raises before any weight is set.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse

from keras_senet.weights import cache
from keras_senet.weights.download import check_url, download
from keras_senet.weights.pretrained import get_pretrained, hub_file_url
from keras_senet.weights.timm_convert import CheckpointMismatchError, load_timm_state_dict

STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
KERAS_SUFFIXES = (".weights.h5", ".keras")
_CLASSIFIERS = ("fc", "last_linear")
_PTH_HASH = re.compile(r"-([0-9a-f]{8,64})\.pth$")  # torch.hub convention: name-<sha256 prefix>.pth


# A weights string with one of these endings, or with a path separator, is a file path, never a tag.
FILE_EXTENSIONS = (".h5", ".keras", ".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".npz", ".pkl")


def looks_like_path(source):
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in source for sep in separators) or os.path.splitext(source)[1].lower() in FILE_EXTENSIONS


class OfflineError(RuntimeError):
    """Weights are needed from the network while offline mode is on."""


def is_offline():
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("KERAS_SENET_OFFLINE", "HF_HUB_OFFLINE"))


def _has_suffix(path, suffixes):
    return any(path.lower().endswith(s) for s in suffixes)


def hub_url(spec):
    """``hf://org/repo[/file]`` -> the hub's resolve URL (``HF_ENDPOINT`` overrides the address)."""
    parts = spec[len("hf://"):].strip("/").split("/")
    if len(parts) < 2 or not all(parts[:2]):
        raise ValueError(f"{spec!r}: a hub source is 'hf://org/repo' or 'hf://org/repo/file'")
    return hub_file_url(f"{parts[0]}/{parts[1]}", "/".join(parts[2:]) or "model.safetensors")


def read_state_dict(path):
    """A checkpoint file -> {name: NumPy array}. Never unpickles arbitrary objects."""
    if _has_suffix(path, (".safetensors",)):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError, TypeError) as error:
            raise CheckpointMismatchError(f"{path}: not a readable safetensors file ({error}); the file "
                                          "is corrupt or truncated.") from None
    try:
        import torch
    except ImportError:
        raise ImportError(f"{path}: reading a PyTorch checkpoint needs torch (pip install torch); "
                          "safetensors checkpoints need only NumPy.") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise CheckpointMismatchError(f"{path}: not a readable PyTorch state dict ({error}).") from None
    if isinstance(state, dict):  # training checkpoints wrap the state dict
        for wrapper in ("state_dict_ema", "state_dict", "model"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
                break
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{path}: expected a state dict, found {type(state).__name__}")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointMismatchError(f"{path}: entry {bad[0]!r} is a {type(state[bad[0]]).__name__}, not a "
                                      "tensor; expected a plain state dict.")
    return {k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in state.items()}


def _classifier(model):
    for name in _CLASSIFIERS:
        try:
            return model.get_layer(name)
        except ValueError:
            continue
    return None


def _drop_classifier(state_dict):
    return {k: v for k, v in state_dict.items() if k.split(".", 1)[0] not in _CLASSIFIERS}


def apply_state_dict(model, state_dict, source):
    """Load a timm state dict; a model without its top takes all but the classifier tensors."""
    if _classifier(model) is None:
        state_dict = _drop_classifier(state_dict)
    return load_timm_state_dict(model, state_dict, source=source)


def copy_weights_by_name(model, donor, source):
    """Copy every weighted layer of `model` from the layer of the same name in `donor`.

    Strict both ways: every weighted layer of `model` must be in `donor` with the same shapes, and
    every weighted layer of `donor` must be used, except its classifier when `model` has no top.
    """
    wanted = {layer.name for layer in model.layers if layer.weights}
    skippable = set(_CLASSIFIERS) if _classifier(model) is None else set()
    unused = [layer.name for layer in donor.layers
              if layer.weights and layer.name not in wanted and layer.name not in skippable]
    if unused:
        raise CheckpointMismatchError(f"{source}: layer {unused[0]!r} (and {len(unused) - 1} more) has no "
                                      f"counterpart in model {model.name!r}; is it another architecture?")
    plan = []
    for layer in model.layers:
        if not layer.weights:
            continue
        try:
            other = donor.get_layer(layer.name)
        except ValueError:
            raise CheckpointMismatchError(f"{source}: has no layer {layer.name!r} needed by model "
                                          f"{model.name!r}") from None
        mine = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(w.shape) for w in other.weights]
        if mine != theirs:
            raise CheckpointMismatchError(f"{source}: layer {layer.name!r} has weight shapes {theirs}, "
                                          f"model {model.name!r} needs {mine}")
        plan.append((layer, other))
    for layer, other in plan:
        layer.set_weights(other.get_weights())


def _full_model(model_name, num_classes):
    import keras

    from keras_senet.factory import create_model

    channels_last = keras.config.image_data_format() == "channels_last"
    return create_model(model_name, weights=None, input_shape=(None, None, 3) if channels_last else (3, None, None),
                        classes=num_classes, classifier_activation=None)


def _is_full(model, num_classes):
    classifier = _classifier(model)
    return classifier is not None and classifier.units == num_classes


def _fetch_convert(model, model_name, key, url, sha256=None, record=None):
    """Download a timm checkpoint, convert it, cache the converted weights, and load them into `model`."""
    if is_offline():
        raise OfflineError(
            f"Offline mode is on and weights {key!r} for model {model_name!r} are not in the cache "
            f"(looked for {os.path.join(cache.entry_dir(key), cache.WEIGHTS_FILE)}). Either unset "
            f"KERAS_SENET_OFFLINE/HF_HUB_OFFLINE once so it is downloaded from {url} and cached, or fetch "
            "that file on another machine, copy it here and pass its path: weights='/path/to/"
            f"{os.path.basename(urllib.parse.urlsplit(url).path)}' (or convert it once with "
            f"`keras-senet convert --model {model_name} FILE OUT.weights.h5` and pass OUT.weights.h5).")
    os.makedirs(cache.cache_dir(), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache.cache_dir()) as tmp:
        filename = os.path.basename(urllib.parse.urlsplit(url).path) or "checkpoint"
        upstream = os.path.join(tmp, filename)
        digest = download(url, upstream, sha256=sha256, label=key)
        prefix = _PTH_HASH.search(filename)
        if prefix and not digest.startswith(prefix.group(1)):
            raise CheckpointMismatchError(f"{url}: SHA-256 {digest} does not start with {prefix.group(1)} "
                                          "as the file name promises; the file is corrupt or replaced.")
        state_dict = read_state_dict(upstream)
    num_classes = _classifier_classes(state_dict)
    if num_classes is None:  # a headless checkpoint: load it, nothing to cache as a full model
        return apply_state_dict(model, state_dict, source=url)
    target = model if _is_full(model, num_classes) else _full_model(model_name, num_classes)
    load_timm_state_dict(target, state_dict, source=url)
    record = dict(record or {}, model=model_name, source_url=url, upstream_sha256=digest,
                  num_classes=num_classes)
    cache.write_entry(key, target.save_weights, record)
    if target is not model:
        copy_weights_by_name(model, target, url)


def _load_cached(model, model_name, key):
    """Load cache entry `key` into `model`; False when there is no valid entry."""
    path, record = cache.read_entry(key)
    if path is None:
        return False
    if _is_full(model, record["num_classes"]):
        model.load_weights(path)
    else:
        donor = _full_model(model_name, record["num_classes"])
        donor.load_weights(path)
        copy_weights_by_name(model, donor, path)
    return True


def load_pretrained(model, model_name, tag=None):
    """Load upstream checkpoint `model_name.tag` (default tag if None) into `model`; returns its config."""
    cfg = get_pretrained(model_name, tag)
    key = cfg.name
    if not _load_cached(model, model_name, key):
        _fetch_convert(model, model_name, key, cfg.source_url(), sha256=cfg.sha256, record={"tag": cfg.tag})
    return cfg


def _classifier_classes(state_dict):
    for name in _CLASSIFIERS:
        if f"{name}.weight" in state_dict:
            return int(state_dict[f"{name}.weight"].shape[0])
    return None


def load_file(model, path, model_name=None):
    """Load a local checkpoint file (any kind in the module docstring) into `model`."""
    if _has_suffix(path, (".weights.h5",)):
        model.load_weights(path)
    elif _has_suffix(path, (".keras",)):
        import keras

        saved = keras.saving.load_model(path, compile=False, safe_mode=True)
        copy_weights_by_name(model, saved, path)
    elif _has_suffix(path, STATE_DICT_SUFFIXES):
        apply_state_dict(model, read_state_dict(path), source=path)
    else:
        raise ValueError(f"{path}: unknown checkpoint kind; expected one of "
                         f"{', '.join(KERAS_SUFFIXES + STATE_DICT_SUFFIXES)}")


def load_url(model, url, model_name):
    """Download `url` (cached by URL) and load it; timm checkpoints are converted and cached."""
    check_url(url)
    filename = os.path.basename(urllib.parse.urlsplit(url).path)
    key = f"{model_name}-url-{hashlib.sha256(url.encode()).hexdigest()[:16]}"
    if _has_suffix(filename, STATE_DICT_SUFFIXES):
        if not _load_cached(model, model_name, key):
            _fetch_convert(model, model_name, key, url)
        return
    if not _has_suffix(filename, KERAS_SUFFIXES):
        raise ValueError(f"{url}: unknown checkpoint kind; the URL must end in one of "
                         f"{', '.join(KERAS_SUFFIXES + STATE_DICT_SUFFIXES)}")
    # Keras files need no conversion: fetched (verified) into a temporary folder and loaded, not cached.
    if is_offline():
        raise OfflineError(f"Offline mode is on: cannot fetch {url}; download it yourself and pass its "
                           "path as weights=...")
    os.makedirs(cache.cache_dir(), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache.cache_dir()) as tmp:
        local = os.path.join(tmp, filename)
        download(url, local, label=filename)
        load_file(model, local, model_name)


def load(model, source, model_name=None):
    """Load weights from `source` into `model` in place (see the module docstring for sources).

    Args:
        model: a keras-senet model.
        source: ``"imagenet"``, a tag, a path, an ``https://`` URL or ``hf://org/repo``.
        model_name: the registry name of `model`'s architecture; default ``model.name``.
    """
    from keras_senet import zoo

    model_name = model_name or model.name
    zoo.get_entry(model_name)  # a renamed model needs model_name=...: fail before any work
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    if not isinstance(source, str):
        raise ValueError(f"weights source must be a string or path, got {type(source).__name__}")
    if source == "imagenet":
        return load_pretrained(model, model_name)
    if source.startswith("hf://"):
        return load_url(model, hub_url(source), model_name)
    if source.startswith(("http://", "https://")):
        return load_url(model, source, model_name)
    if os.path.isfile(source):
        return load_file(model, source, model_name)
    if looks_like_path(source):
        raise ValueError(f"weights={source!r}: no such file.")
    tag = source.split(".", 1)[1] if source.startswith(model_name + ".") else source
    return load_pretrained(model, model_name, tag)


def convert_checkpoint(model_name, checkpoint, output, overwrite=False):
    """Convert a local timm checkpoint into a Keras ``.weights.h5`` file of the full model.

    The output is written to a temporary file beside `output` and renamed into place only after the
    conversion succeeded. Returns ``(output, num_classes)``.
    """
    if not output.endswith(".weights.h5"):
        raise ValueError(f"{output}: the output must end in '.weights.h5'")
    if os.path.exists(output) and not overwrite:
        raise ValueError(f"{output} exists; pass overwrite=True (--overwrite) to replace it")
    state_dict = read_state_dict(checkpoint)
    num_classes = _classifier_classes(state_dict)
    if num_classes is None:
        raise CheckpointMismatchError(f"{checkpoint}: no classifier tensor (fc.weight / last_linear.weight); "
                                      "is it a timm checkpoint of this model family?")
    model = _full_model(model_name, num_classes)
    load_timm_state_dict(model, state_dict, source=checkpoint)
    folder = os.path.dirname(os.path.abspath(output))
    fd, partial = tempfile.mkstemp(prefix=".partial-", suffix=".weights.h5", dir=folder)
    os.close(fd)
    try:
        model.save_weights(partial, overwrite=True)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return output, num_classes
