"""Load a weights source into a model: resolve -> fetch -> read -> convert -> assign, each step once.

Sources (see `keras_senet.weights.source`):
  ``"imagenet"`` / a tag       the model's default / named upstream timm checkpoint; downloaded once and
                               cached as verified safetensors (see `keras_senet.weights.cache`)
  ``path.safetensors``         a timm state dict (read with safetensors + NumPy, no torch)
  ``path.pth`` / ``.bin``      a PyTorch state dict, read with ``torch.load(weights_only=True)``
  ``path.weights.h5``          Keras weights of the same architecture
  ``path.keras``               a saved Keras model (``safe_mode=True``); its weights are copied by name
  ``https://...``              any of the file kinds above (``http://`` for loopback hosts only)
  ``hf://org/repo[/file]``     ``model.safetensors`` (or `file`) of a hub repository

A timm state dict is converted onto whatever model it is loaded into: a model without its top takes
every tensor but the classifier's, so no second network is ever built. Offline
(``KERAS_SENET_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``) only the cache and local files are used. Nothing is
loaded partially: a checkpoint that does not fit raises before any weight is set. This package never
builds a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import urllib.parse

from keras_senet.weights import cache
from keras_senet.weights.download import download
from keras_senet.weights.source import WeightsSource, resolve
from keras_senet.weights.timm_convert import CheckpointMismatchError, load_timm_state_dict

_PTH_HASH = re.compile(r"-([0-9a-f]{8,64})\.pth$")  # torch.hub convention: name-<sha256 prefix>.pth


class OfflineError(RuntimeError):
    """Weights are needed from the network while offline mode is on."""


def is_offline():
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("KERAS_SENET_OFFLINE", "HF_HUB_OFFLINE"))


# --- read -------------------------------------------------------------------------------------------

def read_state_dict(path):
    """A checkpoint file -> {name: NumPy array}. Never unpickles arbitrary objects."""
    if path.lower().endswith(".safetensors"):
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


# --- fetch ------------------------------------------------------------------------------------------

def _cache_key(source):
    if source.pretrained is not None:
        return source.pretrained.name
    return f"url-{hashlib.sha256(source.location.encode()).hexdigest()[:16]}"


def _offline_error(source, key):
    filename = os.path.basename(urllib.parse.urlsplit(source.location).path) or "checkpoint"
    return OfflineError(
        f"Offline mode is on and weights {source.name!r} for model {source.model!r} are not in the cache "
        f"(looked for {os.path.join(cache.entry_dir(key), cache.WEIGHTS_FILE)}). Either unset "
        f"KERAS_SENET_OFFLINE/HF_HUB_OFFLINE once so it is downloaded from {source.location} and cached, or "
        f"fetch that file on another machine, copy it here and pass its path: weights='/path/to/{filename}' "
        f"(or convert it once with `keras-senet convert --model {source.model} FILE OUT.weights.h5` and pass "
        "OUT.weights.h5).")


def _download_verified(source, folder):
    """Download `source` into `folder`; returns (path, SHA-256). Legacy .pth names carry a hash prefix."""
    filename = os.path.basename(urllib.parse.urlsplit(source.location).path) or "checkpoint"
    path = os.path.join(folder, filename)
    sha256 = source.pretrained.sha256 if source.pretrained else None
    digest = download(source.location, path, sha256=sha256, label=source.name)
    prefix = _PTH_HASH.search(filename)
    if prefix and not digest.startswith(prefix.group(1)):
        raise CheckpointMismatchError(f"{source.location}: SHA-256 {digest} does not start with {prefix.group(1)} "
                                      "as the file name promises; the file is corrupt or replaced.")
    return path, digest


def _fetch_state_dict(source):
    """The state dict of a remote timm checkpoint: from the cache, or downloaded, verified and cached."""
    key = _cache_key(source)
    cache.sweep_stale()  # every use of the cache, a hit too, removes what killed processes left
    path, _ = cache.read_entry(key)
    if path is not None:
        return read_state_dict(path)
    if is_offline():
        raise _offline_error(source, key)
    with cache.lock(key):  # concurrent loads of one checkpoint download it once
        path, _ = cache.read_entry(key)  # filled while this process waited for the lock
        if path is not None:
            return read_state_dict(path)
        return _download_into_cache(source, key)


def _download_into_cache(source, key):
    with _download_folder() as tmp:
        upstream, digest = _download_verified(source, tmp)
        try:
            state_dict = read_state_dict(upstream)
        except CheckpointMismatchError as error:  # name the URL, not a temporary path deleted on return
            raise CheckpointMismatchError(str(error).replace(upstream, source.location)) from None
    from safetensors.numpy import save_file

    record = {"source": source.name, "source_url": source.location, "upstream_sha256": digest,
              "model": source.model, "tag": source.pretrained.tag if source.pretrained else None}
    cache.write_entry(key, lambda target: save_file(state_dict, target), record)
    return state_dict


@contextlib.contextmanager
def _download_folder():
    """A temporary folder in the cache for one download, removed afterwards; those of killed processes
    are swept first."""
    os.makedirs(cache.cache_dir(), exist_ok=True)
    cache.sweep_stale()
    folder = cache.make_temporary(".download-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _local_file(source):
    """A local path of a Keras checkpoint source; URLs are fetched (verified) into a temporary folder
    that is removed afterwards (Keras files need no conversion, so they are not cached)."""
    if source.kind == "file":
        yield source.location
        return
    if is_offline():
        raise OfflineError(f"Offline mode is on: cannot fetch {source.location}; download it yourself and pass "
                           "its path as weights=...")
    with _download_folder() as tmp:
        yield _download_verified(source, tmp)[0]


# --- convert and assign -------------------------------------------------------------------------------

def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)


def _absent(model, head):
    """The layers of `head` (a name or names: the layers after global pooling) that `model` lacks."""
    head = (head,) if isinstance(head, str) else tuple(head)
    return tuple(name for name in head if not _has_layer(model, name))


def apply_state_dict(model, state_dict, head, source):
    """Convert and assign a timm state dict; a model without its top (the `head` layers: the classifier,
    and for MobileNetV3-style nets the ``conv_head`` after pooling) takes all but those layers' tensors.
    Returns the number of variables assigned."""
    absent = _absent(model, head)
    if absent:
        state_dict = {k: v for k, v in state_dict.items()
                      if k.rsplit(".", 1)[0].replace(".", "_") not in absent}
    return load_timm_state_dict(model, state_dict, source=source)


def copy_weights_by_name(model, donor, source, skippable=()):
    """Copy every weighted layer of `model` from the layer of the same name in `donor`.

    Strict both ways: every weighted layer of `model` must be in `donor` with the same shapes, and
    every weighted layer of `donor` must be used, except the layers named in `skippable`.
    """
    wanted = {layer.name for layer in model.layers if layer.weights}
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


def _weighted_layers_in_h5(path, label):
    """Names of the top-level layers that hold variables in a Keras 3 ``.weights.h5`` file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            layers = f.get("layers")
            if not isinstance(layers, h5py.Group):
                raise CheckpointMismatchError(f"{label}: an HDF5 file without a 'layers' group; expected Keras 3 "
                                              "weights saved with model.save_weights('NAME.weights.h5').")
            found = set()
            for name, group in layers.items():
                datasets = []
                group.visititems(lambda _, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
                if datasets:
                    found.add(name)
            return found
    except OSError as error:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        raise CheckpointMismatchError(f"{label}: not a readable Keras .weights.h5 (HDF5) file ({size} bytes; "
                                      f"{error}); it is empty, truncated or of another kind. Expected weights "
                                      "saved with model.save_weights('NAME.weights.h5').") from None


def check_keras_archive(path, label):
    """A `.keras` file must be a zip archive: say so, with its size, before Keras says "File not found"."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise CheckpointMismatchError(f"{label}: not a readable .keras file (a zip archive; this one is "
                                      f"{os.path.getsize(path)} bytes): it is empty, truncated or of another "
                                      "kind. Expected a model saved with model.save('NAME.keras').")


def load_keras_weights(model, path, label, skippable=()):
    """Load a Keras ``.weights.h5`` into `model`, all or nothing.

    Keras addresses a file's layers by class and position (``layers/conv2d_3``), assigns them one by one
    and reports a mismatch only at the end. So the number of layers holding weights is compared first
    (another count: another architecture; the file may hold the `skippable` layers, such as the
    classifier of a model saved with its top, in addition), and if Keras still fails (a shape differs)
    every variable is put back bit for bit before the error is raised.
    """
    in_file = len(_weighted_layers_in_h5(path, label))
    # layer.weights, not layer.variables: a Dropout's random-seed state is a variable Keras does not save
    wanted = sum(1 for layer in model.layers if layer.weights)
    if not wanted <= in_file <= wanted + len(skippable):
        raise CheckpointMismatchError(f"{label}: holds the weights of {in_file} layers, model {model.name!r} has "
                                      f"{wanted} layers with weights; is it weights of another architecture? No "
                                      "weight was changed.")
    snapshot = [variable.numpy() for variable in model.variables]
    try:
        model.load_weights(path)
    except BaseException as error:
        for variable, value in zip(model.variables, snapshot):
            variable.assign(value)
        if not isinstance(error, Exception):
            raise
        detail = " ".join(str(error).split("\n\n")[:2]).strip()
        detail = detail[:600] + (" ..." if len(detail) > 600 else "")
        raise CheckpointMismatchError(f"{label}: does not fit model {model.name!r} ({detail}). No weight was "
                                      "changed.") from None


def load_source(model, source: WeightsSource):
    """Load a resolved `source` into `model` in place (all or nothing); returns `source`."""
    from keras_senet import zoo

    head = zoo.get_entry(source.model).head_layers
    if source.checkpoint == "state_dict":
        state_dict = (read_state_dict(source.location) if source.kind == "file"
                      else _fetch_state_dict(source))
        apply_state_dict(model, state_dict, head, source.name)
        return source
    skippable = _absent(model, head)
    with _local_file(source) as path:
        if source.checkpoint == "keras_weights":
            load_keras_weights(model, path, source.name, skippable)
        else:
            import keras

            check_keras_archive(path, source.name)
            saved = keras.saving.load_model(path, compile=False, safe_mode=True)
            copy_weights_by_name(model, saved, source.name, skippable)
    return source


def model_name_of(model):
    """The registry name of `model`'s architecture: from its preprocessing config, else its name."""
    from keras_senet import zoo

    config = getattr(model, "preprocessing", None)
    name = getattr(config, "model", None) or model.name
    try:
        zoo.get_entry(name)
    except ValueError:
        raise ValueError(f"model {model.name!r} is not a registered architecture name; pass "
                         "model_name=... (the registry name it was built from).") from None
    return name


def load(model, source, model_name=None) -> WeightsSource:
    """Load weights from `source` into `model` in place (see the module docstring for sources).

    Args:
        model: a keras-senet model.
        source: ``"imagenet"``, a tag, a path, an ``https://`` URL or ``hf://org/repo``.
        model_name: the registry name of `model`'s architecture; default: the name recorded in the
            model's preprocessing config, else ``model.name``.

    Returns:
        The resolved `WeightsSource` (whatever the kind of source).

    Raises:
        ValueError: a bad source (before any work); CheckpointMismatchError: the checkpoint does not
        fit (no weight changed); DownloadError / OfflineError: it could not be fetched.
    """
    resolved = resolve(source, model_name or model_name_of(model))
    if resolved is None:
        raise ValueError("weights source None: nothing to load; pass 'imagenet', a tag, a path or a URL")
    return load_source(model, resolved)
