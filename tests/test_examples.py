"""The examples run as a user would run them (slow: the embedded model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_mcp_example_starts_its_server_and_runs_offline():
    proc = run_cli(
        "run",
        "examples/mcp_team.py:team",
        "Convert 10 km to miles",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded"
    assert any(t["executions"] >= 1 for t in record["tasks"])
