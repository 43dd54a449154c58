"""The README's examples run as written (the ones that need no network), and CI runs its commands."""

import os
import re

import numpy as np

from processes import run_python
from readme import ROOT, readme_text, run_python_block, shell_line

INSTALL = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]"'


def test_use_example_runs():
    namespace = {"images": np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3)).astype("uint8"),
                 "probs": np.random.default_rng(0).dirichlet(np.ones(1000), size=2)}
    run_python_block('ks.list_models("seresne*")', namespace)
    assert namespace["model"].name == "resnet50"  # the last line: an attention ablation
    assert namespace["x"].shape == (2, 224, 224, 3)


def test_summary_one_liner():
    command = re.search(r'`(python -c "import keras_senet as ks; ks\.SEResNet50\(weights=None\)\.summary\(\)")`',
                        readme_text()).group(1)
    result = run_python(command[len('python -c "'):-1])
    assert result.returncode == 0, result.stderr[-2000:]
    # timm's seresnet50: 28,088,024 parameters + 53,120 BatchNorm running statistics
    from timm_reference import timm_param_counts

    assert f"Total params: {sum(timm_param_counts('seresnet50')):,}" in result.stdout


def test_ci_runs_the_readme_install_and_test_commands():
    """.ci/run installs and tests with the README's commands, word for word (after `.venv/bin/`)."""
    ci = open(os.path.join(ROOT, ".ci", "run")).read().replace(" -q ", " ")  # CI installs quietly
    install, _, tests = shell_line(INSTALL).partition(" && .venv/bin/python -m pytest")
    assert install in ci
    assert ".venv/bin/python -m pytest" + tests in ci
