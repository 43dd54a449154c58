"""TensorFlow's CPU kernels: the command line turns oneDNN on (keras_senet/_cpu_kernels.py), the user's
own setting wins, and the layers run channels_first on Eigen's kernels too (NHWC-only on the CPU)."""

import os
import platform
import subprocess
import sys

import pytest

from keras_senet import _cpu_kernels

ONEDNN_ON = "oneDNN custom operations are on"


@pytest.mark.parametrize("argv0, before, after, changed", [
    ("/venv/bin/keras-senet", None, "1", True),   # the command, unset: turned on
    ("/venv/bin/keras-senet", "0", "0", False),   # the user's choice is kept
    ("/venv/bin/python", None, None, False),      # a script importing the library: untouched
])
def test_command_line_prefers_onednn_unless_told(monkeypatch, argv0, before, after, changed):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as before Keras imports it
    if before is None:
        monkeypatch.delenv(_cpu_kernels.VARIABLE, raising=False)
    else:
        monkeypatch.setenv(_cpu_kernels.VARIABLE, before)
    assert _cpu_kernels.prefer_onednn_for_command_line(argv0) is changed
    assert os.environ.get(_cpu_kernels.VARIABLE) == after


def test_too_late_once_tensorflow_is_imported(monkeypatch):
    import tensorflow  # noqa: F401

    monkeypatch.delenv(_cpu_kernels.VARIABLE, raising=False)
    assert not _cpu_kernels.prefer_onednn_for_command_line("/venv/bin/keras-senet")
    assert _cpu_kernels.VARIABLE not in os.environ


def _environment(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", _cpu_kernels.VARIABLE)}
    env.update(overrides)
    return env


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64",
                    reason="the 'oneDNN custom operations are on' line is printed by TensorFlow's Linux x86-64 builds "
                           "only (CI and the project's machines are such)")
def test_the_installed_command_runs_tensorflow_with_onednn():
    command = os.path.join(os.path.dirname(sys.executable), _cpu_kernels.COMMAND)
    run = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=300,
                         env=_environment(TF_CPP_MIN_LOG_LEVEL="0"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert ONEDNN_ON in run.stderr, run.stderr[-2000:]


def test_channels_first_layers_run_on_eigen_kernels():
    """The NHWC-only CPU kernels (oneDNN off, TensorFlow's default on AVX2 CPUs): every attention layer's
    channels_first output is still its channels_last output transposed."""
    tests = os.path.dirname(__file__)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
         os.path.join(tests, "test_layers.py"), "-k", "test_channels_first_is_transposed_channels_last"],
        capture_output=True, text=True, timeout=600, cwd=os.path.dirname(tests),
        env=_environment(TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="0"))
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert ONEDNN_ON not in run.stdout + run.stderr
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-1000:]
