"""A run killed with SIGKILL in the middle of a parallel wave resumes without redoing work."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import GUARD_S, ROOT, free_port
from tests.forked_cli import ForkedCli

pytestmark = pytest.mark.slow

TEAM = "tests/engine/crash_team.py:team"
RUN = "killed-run"


def _durable(db: Path | str, text: str) -> bool:
    """Whether a finished job whose result contains ``text`` is in the checkpoint."""
    if isinstance(db, str):  # a Postgres URL
        import psycopg

        with psycopg.connect(db) as pg:
            row = pg.execute(
                "SELECT count(*) FROM checkpoint_writes WHERE thread_id = %s"
                " AND channel = '__return__' AND position(%s::bytea in blob) > 0",
                (RUN, text.encode()),
            ).fetchone()
        return bool(row and row[0])
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM writes WHERE thread_id = ? AND channel = '__return__'"
            " AND instr(value, CAST(? AS BLOB)) > 0",
            (RUN, text),
        ).fetchone()
    return bool(count)


def _comparable(record: dict) -> list[tuple]:
    return sorted(
        (t["id"], t["status"], t["result"], t["executions"], t["attempts"], tuple(t["depends_on"]))
        for t in record["tasks"]
    )


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_sigkill_mid_wave_then_resume(
    tmp_path: Path, store: str, request: pytest.FixtureRequest, forked_cli: ForkedCli
):
    """With Postgres, the run is resumed from the database by another process."""
    home, calls, model_calls = tmp_path / "home", tmp_path / "calls.txt", tmp_path / "model.txt"
    env = {
        "ORCHESTRA_HOME": str(home),
        "CALLS_FILE": str(calls),
        "MODEL_CALLS_FILE": str(model_calls),
    }
    checkpoints: Path | str = home / "runs.db"
    if store == "postgres":
        checkpoints = request.getfixturevalue("postgres").new_database()
        env["ORCHESTRA_CHECKPOINTER"] = str(checkpoints)
    port = free_port()
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(GUARD_S * 6)
        child = subprocess.Popen(
            [sys.executable, "-m", "orchestra.cli", "run", TEAM, "goal", "--run-id", RUN, "--json"],
            cwd=ROOT,
            env={**_environ(), **env, "CRASH_HOLD": "1", "CRASH_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            conn, _ = server.accept()  # c is mid-attempt: its email sent, now held
            with conn:
                assert conn.makefile().readline().strip() == "holding c"
            # d ran beside c in the same wave; wait until its result is checkpointed
            deadline = time.monotonic() + GUARD_S
            while not _durable(checkpoints, "d done"):
                assert time.monotonic() < deadline, "d's result never reached the checkpoint"
                time.sleep(0.05)  # another process: nothing to wait on but the file
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert calls.read_text().split() == ["a@example.org", "c@example.org"]
    before = model_calls.read_text().splitlines()
    assert {"executor d", "critic d", "critic a", "critic b"} <= set(before)

    listed = forked_cli.run("runs", "show", RUN, "--json", env_extra=env)
    assert json.loads(listed.stdout)["summary"]["status"] == "interrupted"  # its process died

    resumed = forked_cli.run("resume", TEAM, RUN, "--json", env_extra=env)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads(resumed.stdout)
    assert record["status"] == "succeeded" and record["output"] == "all done"
    # the emails went out once each: c's completed call was answered from the log
    assert calls.read_text().split() == ["a@example.org", "c@example.org"]
    [c_email] = [
        c for c in record["tool_calls"] if c["tool"] == "send_email" and c["task_id"] == "c"
    ]
    assert c_email["ok"] and c_email["result"] == "sent to c@example.org"
    assert c_email["replayed"] is True
    # finished work was not redone: after the kill, the model saw only c (its attempt
    # again, from the start), e, and the synthesis
    after = model_calls.read_text().splitlines()[len(before) :]
    assert set(after) == {
        *("executor c", "critic c", "executor e", "critic e"),
        *("synthesizer root", "critic root"),
    }
    assert after.count("executor c") == 3  # email (replayed), hold (released), answer
    # every task executed once: a, b, d came back from the checkpoint, c ran to its end
    assert {t["id"]: t["executions"] for t in record["tasks"]} == dict.fromkeys("abcde", 1)

    # the final tree equals that of a run nobody interrupted
    clean_home = tmp_path / "clean"
    clean_env = {
        "ORCHESTRA_HOME": str(clean_home),
        "CALLS_FILE": str(tmp_path / "clean.txt"),
        "MODEL_CALLS_FILE": str(tmp_path / "clean-model.txt"),
    }
    clean = forked_cli.run("run", TEAM, "goal", "--run-id", RUN, "--json", env_extra=clean_env)
    assert clean.returncode == 0, clean.stderr
    assert _comparable(json.loads(clean.stdout)) == _comparable(record)


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "ORCHESTRA_MODEL"}


def _interruptible() -> None:
    """In the child before it starts: SIGINT with its default action, and not blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_leaves_a_run_that_resume_finishes(tmp_path: Path, forked_cli: ForkedCli):
    home = tmp_path / "home"
    env = {
        "ORCHESTRA_HOME": str(home),
        "CALLS_FILE": str(tmp_path / "calls.txt"),
        "MODEL_CALLS_FILE": str(tmp_path / "model.txt"),
    }
    port = free_port()
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(GUARD_S * 6)
        child = subprocess.Popen(
            [sys.executable, "-m", "orchestra.cli", "run", TEAM, "goal", "--run-id", "ctrl-c"],
            cwd=ROOT,
            env={
                **_environ(),
                **env,
                "CRASH_HOLD": "1",
                "CRASH_PORT": str(port),
                "PYTHONFAULTHANDLER": "1",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # as a shell starts a foreground command: SIGINT handled and not blocked, not
            # as whatever state this test process is in after the tests before it
            preexec_fn=_interruptible,
        )
        conn, _ = server.accept()
        with conn:
            assert conn.makefile().readline().strip() == "holding c"
        child.send_signal(signal.SIGINT)
        try:
            _, stderr = child.communicate(timeout=GUARD_S * 3)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGUSR1)  # the child prints its asyncio tasks' stacks
            time.sleep(1)
            child.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            _, stderr = child.communicate(timeout=GUARD_S)
            here = (signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, []))
            pytest.fail(f"the run did not stop after Ctrl-C (here: {here}):\n{stderr[-6000:]}")
    assert child.returncode == 130, stderr
    assert f"orchestra resume {TEAM} ctrl-c" in stderr
    shown = json.loads(forked_cli.run("runs", "show", "ctrl-c", "--json", env_extra=env).stdout)
    assert shown["summary"]["status"] == "error"
    assert shown["summary"]["error"].startswith("CancelledError")

    resumed = forked_cli.run("resume", TEAM, "ctrl-c", "--json", env_extra=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    assert (tmp_path / "calls.txt").read_text().split() == ["a@example.org", "c@example.org"]
