"""SIGKILL inside the window between a tool's effect and its return, then resume.

A cooperating tool (``effect_team.py``) passes its idempotency key to an outside system
that dedupes by it: over repeated kills at random points of that window, every email's
effect is applied exactly once, although the tool itself runs again (at least once).
``skip`` and ``ask`` are tried with one kill each.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GUARD_S, ROOT
from tests.engine.effect_team import RECIPIENTS
from tests.forked_cli import ForkedCli

pytestmark = pytest.mark.slow

TEAM = "tests/engine/effect_team.py:team"
RUN = "effects"
KILLS = 5


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _start(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = ["run", TEAM, "goal", "--run-id", RUN] if command == "run" else ["resume", TEAM, RUN]
    base = {k: v for k, v in os.environ.items() if k != "ORCHESTRA_MODEL"}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestra.cli", *args, "--json"],
        cwd=ROOT,
        env=base | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_at_next_effect(child: subprocess.Popen[bytes], markers: Path) -> bool:
    """Kill ``child`` as soon as the tool notes one more effect; False if it ended first."""
    seen = _lines(markers)
    deadline = time.monotonic() + GUARD_S * 3
    try:
        while _lines(markers) == seen:
            if child.poll() is not None:
                return False
            assert time.monotonic() < deadline, "no effect and no end"
            time.sleep(0.01)  # another process: nothing to wait on but the file
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    return True


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ORCHESTRA_HOME": str(tmp_path / "home"),
        "EFFECTS_DB": str(tmp_path / "effects.db"),
        "EFFECT_MARKERS": str(tmp_path / "markers.txt"),
        **extra,
    }


def _outside(tmp_path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The outside system's requests and applied effects, as (key, recipient)."""
    with sqlite3.connect(tmp_path / "effects.db") as db:
        requests = db.execute("SELECT key, recipient FROM requests ORDER BY n").fetchall()
        effects = db.execute("SELECT key, recipient FROM effects").fetchall()
    return requests, effects


def test_repeated_kills_inside_the_effect_window_apply_each_effect_once(
    tmp_path: Path, forked_cli: ForkedCli
):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    markers = tmp_path / "markers.txt"
    kills = 0
    command = "run"
    for kill in range(KILLS):
        # holding puts the kill strictly between the effect and the return; not holding
        # lets it land wherever the process has got to once the effect is noted (before
        # the return, before the call log's record, after it)
        hold = kill == 0 or rng.random() < 0.5
        child = _start(command, _env(tmp_path, EFFECT_HOLD="1" if hold else "0"))
        killed = _kill_at_next_effect(child, markers)
        if not killed:  # the run got to its end before another effect
            break
        kills += 1
        command = "resume"
    assert kills >= 2, f"seed {seed}: too few kills landed ({kills})"

    resumed = forked_cli.run("resume", TEAM, RUN, "--json", env_extra=_env(tmp_path))
    assert resumed.returncode == 0, f"seed {seed}: {resumed.stderr}"
    record = json.loads(resumed.stdout)
    assert record["status"] == "succeeded", f"seed {seed}"

    requests, effects = _outside(tmp_path)
    # exactly once where it counts: one effect per email, whatever ran twice
    assert sorted(r for _, r in effects) == sorted(RECIPIENTS), f"seed {seed}: {effects}"
    keys_per_recipient = Counter(r for _, r in set(requests))
    assert all(n == 1 for n in keys_per_recipient.values()), f"seed {seed}: {requests}"
    # at least once for the tool: the calls killed in flight ran again, with their keys
    assert len(requests) > len(RECIPIENTS), f"seed {seed}: nothing was retried"
    sends = [c for c in record["tool_calls"] if c["tool"] == "send_email"]
    assert sorted(c["args"]["to"] for c in sends) == sorted(RECIPIENTS)
    assert all(c["ok"] for c in sends) and any(c["interrupted"] for c in sends)
    with sqlite3.connect(tmp_path / "home" / "runs.db") as db:
        left = db.execute("SELECT count(*) FROM tool_call_log WHERE state = 'started'")
        assert left.fetchone() == (0,), f"seed {seed}: calls still in flight"


def _killed_in_first_effect(tmp_path: Path, policy: str) -> str:
    """Run until the first email's effect is out, kill there; that call's key."""
    markers = tmp_path / "markers.txt"
    child = _start("run", _env(tmp_path, EFFECT_HOLD="1", EFFECT_POLICY=policy))
    assert _kill_at_next_effect(child, markers)
    first = markers.read_text().splitlines()[0]  # a and b run at once: maybe both held
    return first.split()[0]


def _interrupted(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's calls that were in flight at the kill, by key.

    Tasks a and b run at once, so the other one's call may have been in flight too
    (logged as started, its effect out or not yet).
    """
    return {c["key"]: c for c in record["tool_calls"] if c["interrupted"]}


def test_skip_does_not_run_the_interrupted_call_again(tmp_path: Path, forked_cli: ForkedCli):
    key = _killed_in_first_effect(tmp_path, "skip")
    env = _env(tmp_path, EFFECT_POLICY="skip")
    resumed = forked_cli.run("resume", TEAM, RUN, "--json", env_extra=env)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads(resumed.stdout)
    interrupted = _interrupted(record)
    assert key in interrupted
    requests, effects = _outside(tmp_path)
    for skipped in interrupted.values():
        assert not skipped["ok"] and skipped["error"].startswith("interrupted:")
        assert [k for k, _ in requests].count(skipped["key"]) <= 1  # never ran again
    others = {c["args"]["to"] for c in record["tool_calls"] if c["key"] not in interrupted}
    assert others | {interrupted[key]["args"]["to"]} <= {r for _, r in effects}


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_ask_pauses_the_task_until_a_person_decides(
    tmp_path: Path, decision: str, forked_cli: ForkedCli
):
    key = _killed_in_first_effect(tmp_path, "ask")
    env = _env(tmp_path, EFFECT_POLICY="ask")
    paused = forked_cli.run("resume", TEAM, RUN, env_extra=env)
    assert paused.returncode == 4, paused.stderr  # waiting for a person
    assert "was in flight when the run stopped" in paused.stderr + paused.stdout
    if decision == "approve":
        done = forked_cli.run("approve", TEAM, RUN, "--json", env_extra=env)
    else:
        done = forked_cli.run(
            "reject", TEAM, RUN, "--reason", "it went out", "--json", env_extra=env
        )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "succeeded"
    interrupted = _interrupted(record)
    assert key in interrupted
    requests, effects = _outside(tmp_path)
    runs = [k for k, _ in requests]
    for asked in interrupted.values():
        assert asked["ok"] is (decision == "approve")
    # the call killed after its effect: run again only when approved, applied once
    assert runs.count(key) == (2 if decision == "approve" else 1)
    assert sorted(r for _, r in effects).count(interrupted[key]["args"]["to"]) == 1
    if decision == "approve":  # every email went out, once
        assert sorted(r for _, r in effects) == sorted(RECIPIENTS)
