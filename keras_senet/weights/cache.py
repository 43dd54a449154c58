"""The local weights cache: converted ``.weights.h5`` files with a provenance record each.

Layout under ``$KERAS_HOME/keras_senet/weights`` (``~/.keras`` when KERAS_HOME is unset):

    <key>.weights.h5    Keras weights of the full model (with its classifier)
    <key>.json          provenance: source URL, SHA-256 of the upstream file, SHA-256 of the
                        .weights.h5, converter version

An entry is used only when both files exist and the ``.weights.h5`` still has the recorded SHA-256,
so a truncated or corrupted entry is never loaded. Entries are written to temporary names and renamed
into place, the record last, so readers never see half an entry.
"""

from __future__ import annotations

import json
import os
import tempfile

from keras_senet.weights.download import sha256_file

CONVERTER_VERSION = 1  # bump when the conversion changes: older cache entries are then re-made


def cache_dir():
    """``$KERAS_HOME/keras_senet/weights`` (default ``~/.keras/keras_senet/weights``)."""
    root = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(root, "keras_senet", "weights")


def entry_paths(key):
    """(weights path, record path) of cache entry `key` (a file-name-safe string)."""
    base = os.path.join(cache_dir(), key)
    return base + ".weights.h5", base + ".json"


def read_entry(key):
    """The verified ``.weights.h5`` path and record of `key`, or (None, None) if absent or corrupt."""
    weights_path, record_path = entry_paths(key)
    try:
        with open(record_path) as f:
            record = json.load(f)
        if record.get("converter_version") != CONVERTER_VERSION:
            return None, None
        if sha256_file(weights_path) != record["keras_sha256"]:
            return None, None
    except (OSError, ValueError, KeyError):
        return None, None
    return weights_path, record


def write_entry(key, save_weights, record):
    """Create entry `key`: ``save_weights(path)`` writes the weights; `record` is the provenance."""
    weights_path, record_path = entry_paths(key)
    os.makedirs(cache_dir(), exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".partial-", suffix=".weights.h5", dir=cache_dir())
    os.close(fd)
    try:
        save_weights(partial)
        record = dict(record, keras_sha256=sha256_file(partial), converter_version=CONVERTER_VERSION)
        os.replace(partial, weights_path)
        fd, partial = tempfile.mkstemp(prefix=".partial-", suffix=".json", dir=cache_dir())
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(partial, record_path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return weights_path, record
