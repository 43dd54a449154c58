"""TensorFlow CPU kernels that neither TensorFlow nor a library offers, built from source on first use.

`se_residual.cc`: an SE-ResNet block's tail (squeeze, excitation, scale, residual add, ReLU) as one op, used by
``compile_predict(model, fused_se=True)`` (`keras_senet.fused_se`). TensorFlow's CPU path runs those as eight ops,
three of them passes over the block's output; Grappler and oneDNN fuse a convolution with its bias, add and ReLU,
but not a per-channel multiply before the add, and XLA, which would fuse it, runs the convolutions slower on CPU
(benchmarks/NOTES.md, tries 3, 8, 21, 23, 24). So the op is written here, in 100 lines of C++.

The library is compiled with the C++ compiler in ``$CXX`` (default ``g++``) against the installed TensorFlow's
headers (``tf.sysconfig``), for this CPU (``-march=native``), and cached under
``$KERAS_HOME/keras_senet/kernels`` (default ``~/.keras/keras_senet/kernels``) by TensorFlow version, source and
CPU flags: about 15 s the first time, then a load. The file is written under a temporary name and renamed when
complete, so a killed build leaves no half-written library.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess

from keras_senet import _temporary

SE_RESIDUAL = "se_residual.cc"
_loaded = {}


def kernels_dir():
    """``$KERAS_HOME/keras_senet/kernels`` (default ``~/.keras/keras_senet/kernels``), beside the weights cache."""
    from keras_senet.weights.cache import cache_dir

    return os.path.join(os.path.dirname(cache_dir()), "kernels")


def load(source=SE_RESIDUAL):
    """The ops of `source` (a ``.cc`` file beside this module) as `tf.load_op_library` returns them, built and
    cached first if needed. Raises RuntimeError, saying what is missing, when it cannot be built."""
    if source not in _loaded:
        import tensorflow as tf

        _loaded[source] = tf.load_op_library(library_path(source))
    return _loaded[source]


def library_path(source=SE_RESIDUAL):
    """The cached shared library of `source`, compiled now if this TensorFlow, source and CPU have none."""
    import tensorflow as tf

    source_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), source)
    compiler = os.environ.get("CXX") or "g++"
    flags = ["-shared", "-O3", "-march=native", "-fPIC", *tf.sysconfig.get_compile_flags()]
    link = tf.sysconfig.get_link_flags()
    with open(source_path, "rb") as f:
        key = hashlib.sha256(f.read() + repr((compiler, flags, link, _cpu_flags())).encode()).hexdigest()[:16]
    name = f"{os.path.splitext(source)[0]}-tf{tf.__version__}-{platform.machine()}-{key}.so"
    target = os.path.join(kernels_dir(), name)
    if os.path.exists(target):
        return target
    if shutil.which(shlex.split(compiler)[0]) is None:
        raise RuntimeError(f"fused_se=True builds a TensorFlow kernel from C++ and needs a compiler: {compiler!r} "
                           f"was not found (install g++, e.g. apt-get install g++, or point CXX at one); "
                           f"compile_predict without fused_se needs none")
    os.makedirs(kernels_dir(), exist_ok=True)
    _temporary.sweep(kernels_dir(), [".partial-"], suffix=".so")  # those of a killed build
    partial = _temporary.make_file(".partial-", kernels_dir(), ".so")
    command = [*shlex.split(compiler), *flags, source_path, "-o", partial, *link]
    try:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"building the fused SE kernel failed ({' '.join(command)}):\n{tail}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def _cpu_flags():
    """The CPU's feature flags (Linux), so that a library built with ``-march=native`` is not loaded on
    another CPU sharing the cache."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].split() for line in f  # x86: flags; ARM: Features
                         if line.startswith(("flags", "Features"))), [platform.processor()])
    except OSError:
        return [platform.processor()]
