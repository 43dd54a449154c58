"""Child processes started as a user starts them: the `keras-senet` command line, a Python snippet, a
script. Each runs with this interpreter (the test environment) and TensorFlow's start-up log silenced,
and returns the finished `subprocess.CompletedProcess` (text stdout/stderr) or, for the ``start_*``
forms, the running `subprocess.Popen` (stdout and stderr merged)."""

import os
import subprocess
import sys
import textwrap

CLI = [sys.executable, "-m", "keras_senet.cli"]


def quiet_env(**extra):
    """os.environ without TensorFlow's C++ start-up log, unbuffered, plus ``extra``."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", **extra)


def run(command, timeout=300, **kwargs):
    """``command`` (a list), run to its end; ``env`` defaults to `quiet_env()`."""
    kwargs.setdefault("env", quiet_env())
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs)


def run_cli(*args, **kwargs):
    """`keras-senet ARGS...`, run to its end."""
    return run([*CLI, *args], **kwargs)


def run_python(code, **kwargs):
    """`python -c CODE` (dedented), run to its end."""
    return run([sys.executable, "-c", textwrap.dedent(code)], **kwargs)


def run_script(path, *args, **kwargs):
    """`python PATH ARGS...`, run to its end."""
    return run([sys.executable, path, *args], **kwargs)


def start(command, **kwargs):
    """``command`` started in the background, stdout and stderr merged into ``.stdout``."""
    kwargs.setdefault("env", quiet_env())
    return subprocess.Popen([str(c) for c in command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)


def start_cli(*args, **kwargs):
    return start([*CLI, *args], **kwargs)


def start_python(code, **kwargs):
    return start([sys.executable, "-c", textwrap.dedent(code)], **kwargs)
