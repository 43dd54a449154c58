"""TensorFlow's oneDNN CPU kernels for the ``keras-senet`` command line.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI, AVX-512 BF16 or AMX;
on an AVX2-only CPU it runs Eigen's kernels, whose convolution gradients are slow: one training step
of the quickstart's SE-ResNet-18 (batch 64, 32x32) takes 2.10 s with them and 0.33 s with oneDNN
(6.4x) on a 2-core AMD EPYC (AVX2), so the README's main job took 704 s instead of the ~2 minutes it
takes on an AVX-512 CPU. The variable is read once, when TensorFlow is imported, so it has to be set
before: the command line sets it, unless the user has set it either way (``TF_ENABLE_ONEDNN_OPTS=0``
keeps Eigen's kernels). A library import changes no global setting: scripts that import keras_senet
set the variable themselves (README, "CPU speed").
"""

import os
import sys

COMMAND = "keras-senet"
VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn_for_command_line(argv0=None):
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` when this process is the ``keras-senet`` command, TensorFlow is not
    imported yet and the variable is unset. Returns True when it set the variable."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if os.path.basename(argv0 or "") != COMMAND or "tensorflow" in sys.modules or VARIABLE in os.environ:
        return False
    os.environ[VARIABLE] = "1"
    return True
