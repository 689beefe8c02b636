"""The public surface: small, exported, typed, and packaged under one namespace."""

from __future__ import annotations

import inspect
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import orchestra
from orchestra.core import errors

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_import_and_stay_few():
    assert len(orchestra.__all__) <= 40
    for name in orchestra.__all__:
        assert getattr(orchestra, name) is not None


def test_every_exception_is_exported():
    exceptions = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, errors.OrchestraError)
    }
    assert exceptions <= set(orchestra.__all__)


def test_public_classes_have_docstrings():
    for name in orchestra.__all__:
        obj = getattr(orchestra, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), name


@pytest.mark.slow
def test_wheel_has_one_namespace_and_no_bare_top_level_packages(tmp_path: Path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("orchestra_teams-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("orchestra_teams-")}
    assert tops == {"orchestra"}
    for path in (
        "orchestra/agents/planner.py",
        "orchestra/tools/decorator.py",
        "orchestra/memory/__init__.py",
        "orchestra/agents/prompts/planner.md",
        "orchestra/py.typed",
    ):
        assert path in names


def test_the_suite_cannot_reach_the_network():
    import socket

    with pytest.raises(OSError, match="must not reach the network"):
        socket.getaddrinfo("api.openai.com", 443)
    with pytest.raises(OSError, match="must not reach the network"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
