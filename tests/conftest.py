"""Shared test set-up.

torch (and timm, which imports it) must be imported before TensorFlow: with TF 2.21 and torch 2.14
on this platform, importing torch after TensorFlow has initialised segfaults the process.
"""

import os

import torch  # noqa: F401  (import order: see the module docstring)
import timm  # noqa: F401

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    keras.utils.set_random_seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def checkpoint_server(tmp_path_factory):
    """An HTTP server on 127.0.0.1 serving test-made checkpoints (see checkpoint_server.py)."""
    from checkpoint_server import CheckpointServer

    server = CheckpointServer(str(tmp_path_factory.mktemp("served")))
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _private_keras_home(tmp_path, monkeypatch):
    """Each test gets an empty KERAS_HOME (weights cache) of its own, never ~/.keras."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("KERAS_SENET_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)


# Architecture-generic checks (saving, a training step, pooling heads) run on every model below ~60M
# parameters; on the largest tier (test_models.LARGE) they are deselected, not skipped: those models
# share all their layer types with smaller ones, and the numeric claims (parameter and MAC counts,
# timm parity) still run on every model. This keeps CI within its time budget.
_GENERIC_ON_LARGE = ("test_keras_save_and_load_identical", "test_one_fit_step_learns",
                     "test_without_top_each_pooling", "test_output_shape_and_name")


def pytest_collection_modifyitems(config, items):
    from test_models import LARGE

    keep, drop = [], []
    for item in items:
        param = getattr(item, "callspec", None) and item.callspec.params.get("name")
        generic = item.module.__name__ == "test_models" and item.originalname in _GENERIC_ON_LARGE
        (drop if generic and param in LARGE else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
