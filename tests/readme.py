"""README.md's code as the tests run it: its ```python blocks and its shell commands."""

import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..")
README = os.path.join(ROOT, "README.md")


def readme_text():
    with open(README) as f:
        return f.read()


def python_block(containing):
    """The one ```python block of the README that contains ``containing`` (fails if not exactly one)."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme_text(), flags=re.S) if containing in b]
    assert len(blocks) == 1, f"{len(blocks)} README python blocks contain {containing!r}"
    return blocks[0]


def run_python_block(containing, namespace):
    """Executes `python_block(containing)` in ``namespace`` (a dict, updated in place) and returns it."""
    exec(compile(python_block(containing), "README.md", "exec"), namespace)
    return namespace


def shell_line(starting):
    """The README's shell command line that starts with ``starting``."""
    lines = [line for line in readme_text().splitlines() if line.startswith(starting)]
    assert len(lines) == 1, f"{len(lines)} README lines start with {starting!r}"
    return lines[0]
