"""The code a new user copies first: the README's "Use it" and docs/testing.md's opening
sample run as written (no undefined names, no top-level ``await``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first_python_block(path: Path, after: str = "") -> str:
    text = path.read_text()
    start = text.index(after) if after else 0
    found = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert found is not None, f"no python block in {path} after {after!r}"
    return found.group(1)


def _problems(source: str) -> str:
    """What ruff finds a copied sample would fail on: undefined names, ``await`` outside
    a function, a syntax error."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821,F704"]
        + ["--output-format", "concise", "--stdin-filename", "sample.py", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def test_the_readme_sample_runs_as_written():
    source = _first_python_block(ROOT / "README.md", after="## Use it")
    compile(source, "README.md", "exec")  # top-level await would not compile
    assert _problems(source) == ""


def test_the_testing_guide_sample_runs_as_written():
    source = _first_python_block(ROOT / "docs" / "testing.md")
    assert _problems(source) == ""
    exec(compile(source, "docs/testing.md", "exec"), {"__name__": "sample"})  # its asserts hold
