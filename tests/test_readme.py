"""The README's examples run as written (the ones that need no network)."""

import os
import re
import subprocess
import sys

import numpy as np

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", open(README).read(), flags=re.S)


def test_use_example_runs():
    (block,) = [b for b in _python_blocks() if "ks.list_models(\"seresne*\")" in b]
    namespace = {"images": np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3)).astype("uint8"),
                 "probs": np.random.default_rng(0).dirichlet(np.ones(1000), size=2)}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["model"].name == "resnet50"  # the last line: an attention ablation
    assert namespace["x"].shape == (2, 224, 224, 3)


def test_summary_one_liner():
    command = re.search(r'`(python -c "import keras_senet as ks; ks\.SEResNet50\(weights=None\)\.summary\(\)")`',
                        open(README).read()).group(1)
    code = command[len('python -c "'):-1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Total params: 28,141,144" in result.stdout
