"""A run on Ray, checkpointed in Postgres, resumed by a second process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.postgres_server import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _phase(phase: str, url: str, run_id: str, calls: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.executors.ray_resume_team", phase, url, run_id],
        cwd=ROOT,
        env={**_env(), "MODEL_CALLS_FILE": str(calls)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def test_a_ray_run_started_in_one_process_is_resumed_in_another(
    postgres: PostgresServer, tmp_path: Path
):
    url, calls = postgres.new_database(), tmp_path / "model_calls.log"

    first = _phase("start", url, "ray-pg-1", calls)
    assert first.returncode != 0 and "process died in c" in first.stderr, first.stderr[-2000:]

    second = _phase("resume", url, "ray-pg-1", calls)
    assert second.returncode == 0, second.stderr[-2000:]
    result = json.loads(second.stdout.strip().splitlines()[-1])
    assert result == {"status": "succeeded", "output": "squares done"}

    noted = calls.read_text().split("\n")
    resumed = {line.split()[1] for line in noted if line.startswith("resume ")}
    assert resumed == {"c"}  # a and b finished in the first process and were not redone
    assert {line.split()[1] for line in noted if line.startswith("start ")} == {"a", "b", "c"}
