"""The local weights cache: verified upstream checkpoints as safetensors, with a provenance record each.

Layout under ``$KERAS_HOME/keras_senet/weights`` (``~/.keras`` when KERAS_HOME is unset), one folder
per entry:

    <key>.v<N>/model.safetensors  the upstream state dict (timm layout, NumPy; a legacy ``.pth`` is
                                  stored as safetensors, so torch is needed once only)
    <key>.v<N>/provenance.json    source, URL, SHA-256 of the upstream file and of model.safetensors,
                                  cache version, time

The state dict, not a converted model, is cached: conversion is a relayout done at each load onto the
model at hand (with or without its top), so no model is ever built to fill or read the cache.

An entry is written in a temporary folder and renamed into place whole, so readers never see half an
entry. Processes that want the same entry take its lock (`lock`): one fetches, the others wait and read
the entry; without the lock, the second rename would fail harmlessly and both keep their result. An entry
is used only if its ``model.safetensors`` still has the recorded SHA-256: a corrupt entry is removed, never
loaded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time

from keras_senet import _temporary
from keras_senet.weights.download import sha256_file

# Part of every entry's folder name: bump when the conversion or the layer naming changes, so new
# entries are made while installs of other versions sharing the cache keep theirs.
CONVERTER_VERSION = 2
STALE_SECONDS = _temporary.STALE_SECONDS  # a temporary older than this was left by a killed process
TEMPORARY_PREFIXES = (".partial-", ".download-", ".trash-")
WEIGHTS_FILE = "model.safetensors"
RECORD_FILE = "provenance.json"
_log = logging.getLogger("keras_senet.weights")


def cache_dir():
    """``$KERAS_HOME/keras_senet/weights`` (default ``~/.keras/keras_senet/weights``)."""
    root = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(root, "keras_senet", "weights")


def entry_dir(key):
    return os.path.join(cache_dir(), f"{key}.v{CONVERTER_VERSION}")


@contextlib.contextmanager
def lock(key):
    """Hold the cross-process lock of entry `key` (a ``filelock`` lock file beside the entries), so
    that processes wanting the same entry fetch it once: the others wait, then read the entry. The
    operating system releases the lock of a killed process, so a stale lock never blocks."""
    import filelock

    os.makedirs(cache_dir(), exist_ok=True)
    path = os.path.join(cache_dir(), f".lock-{key}.v{CONVERTER_VERSION}")
    guard = filelock.FileLock(path, mode=0o666 & ~_temporary.umask())  # shared caches: the umask's mode
    try:
        guard.acquire(timeout=0)
    except filelock.Timeout:
        _log.info("waiting for another process that is fetching %s into the cache", key)
        guard.acquire()
    try:
        yield
    finally:
        guard.release()


def sweep_stale(now=None):
    """Remove the temporaries a killed process left behind (Ctrl-C is cleaned up by `finally`): those
    whose owner process (named in them) is gone, and any older than `STALE_SECONDS`."""
    return _temporary.sweep(cache_dir(), TEMPORARY_PREFIXES, max_age=STALE_SECONDS, now=now)


def make_temporary(prefix):
    """A temporary folder in the cache named after this process (`prefix`: one of TEMPORARY_PREFIXES)."""
    os.makedirs(cache_dir(), exist_ok=True)
    return _temporary.make_dir(prefix, cache_dir())


def read_entry(key):
    """(weights path, provenance record) of a verified entry, or (None, None).

    An entry that exists but fails verification (missing file, unreadable record, SHA-256 mismatch)
    is deleted so that it is fetched again.
    """
    folder = entry_dir(key)
    if not os.path.isdir(folder):
        return None, None
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    try:
        with open(os.path.join(folder, RECORD_FILE)) as f:
            record = json.load(f)
        if sha256_file(weights_path) == record["sha256"]:
            return weights_path, record
    except (OSError, ValueError, KeyError):
        pass
    remove_entry(key)
    return None, None


def remove_entry(key):
    folder = entry_dir(key)
    if os.path.isdir(folder):
        # Rename first so a concurrent reader never sees a half-deleted entry.
        trash = make_temporary(".trash-")
        try:
            os.replace(folder, os.path.join(trash, "entry"))
        except OSError:
            pass
        shutil.rmtree(trash, ignore_errors=True)


def write_entry(key, save_weights, record):
    """Create entry `key`: ``save_weights(path)`` writes the file; `record` is the provenance.

    Returns the path of the cached weights (this process's or a concurrent writer's identical one).
    """
    sweep_stale()
    staging = make_temporary(".partial-")  # the user's umask: a cache may be shared
    try:
        weights_path = os.path.join(staging, WEIGHTS_FILE)
        save_weights(weights_path)
        _temporary.apply_umask(weights_path)  # safetensors writes 0600
        record = dict(record, sha256=sha256_file(weights_path), cache_version=CONVERTER_VERSION,
                      created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        with open(os.path.join(staging, RECORD_FILE), "w") as f:
            json.dump(record, f, indent=1)
        try:
            os.rename(staging, entry_dir(key))
        except OSError:
            pass  # another process completed the same entry first
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(entry_dir(key), WEIGHTS_FILE)
