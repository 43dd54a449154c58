"""Shared test set-up.

torch (and timm, which imports it) must be imported before TensorFlow: with TF 2.21 and torch 2.14
on this platform, importing torch after TensorFlow has initialised segfaults the process.
"""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: one compute thread per worker process (TensorFlow, oneDNN/OpenMP, torch)
    # instead of each worker's default of one per core; measured ~10% faster, no oversubscription.
    # Read by TensorFlow and torch at start-up, so set before they are imported.
    for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(variable, "1")

# TensorFlow's oneDNN CPU kernels, as the `keras-senet` command line turns them on
# (keras_senet/_cpu_kernels.py): TensorFlow enables them by default only on AVX-512 VNNI/BF16/AMX CPUs,
# so without this the suite runs different kernels, and twice as long, on an AVX2 CI machine (training
# steps 6.4x slower). tests/test_cpu_kernels.py reruns the layout tests with them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

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


def pytest_collection_modifyitems(config, items):
    """The architecture-generic checks of the model sweep (marked ``generic``) run on
    test_models.REPRESENTATIVE, one model per architectural feature; on every other registered model they
    are deselected, not skipped (the pytest summary counts them as deselected). The numeric claims
    (parameter and MAC counts, timm parity) are not marked ``generic`` and sweep every model; those that
    only read the graph (marked ``graph``) are deselected on backends other than TensorFlow."""
    from test_models import REPRESENTATIVE

    keep, drop = [], []
    other_backend = keras.backend.backend() != "tensorflow"
    for item in items:
        name = getattr(item, "callspec", None) and item.callspec.params.get("name")
        generic = item.get_closest_marker("generic") is not None
        if generic and name is None:
            raise pytest.UsageError(f"{item.nodeid}: a generic test must be parametrised by model name")
        # graph checks read the Keras graph (counts, names, shapes), the same on every backend: they
        # run on the TensorFlow pass; the other backends' passes check what does differ (numerics).
        graph = item.get_closest_marker("graph") is not None
        (drop if generic and name not in REPRESENTATIVE or graph and other_backend else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = sorted(keep, key=_start_order)


# Longest first: under `pytest -n 2` a long test started last leaves the other worker idle at the end
# (setup.cfg turns xdist's reordering by group size off, so this order is the one the workers get).
_LONG_MODULES = ("test_quickstart", "test_training")


def _start_order(item):
    from test_models import LARGE

    module = item.module.__name__
    name = getattr(item, "callspec", None) and item.callspec.params.get("name")
    if module in _LONG_MODULES:
        return _LONG_MODULES.index(module)
    return len(_LONG_MODULES) + (0 if module == "test_models" and name in LARGE else 1)
