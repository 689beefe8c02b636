"""One writer per run: a run in use elsewhere is refused with RunBusyError, never forked."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra import RunBusyError, RunStatus, tool
from orchestra.engine.checkpoints import Checkpoints
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import GUARD_S, ROOT, make_team
from tests.postgres_server import PostgresServer

GATES: dict[str, asyncio.Event] = {}


def _gates() -> tuple[asyncio.Event, asyncio.Event]:
    """Fresh ``held`` (the tool is running) and ``release`` events for this test's loop."""
    GATES["held"], GATES["release"] = asyncio.Event(), asyncio.Event()
    return GATES["held"], GATES["release"]


@tool
async def hold() -> str:
    """Wait until the test lets go."""
    GATES["held"].set()
    await asyncio.wait_for(GATES["release"].wait(), GUARD_S)
    return "released"


def _script() -> dict[str, object]:
    return {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task.", ["hold"]),
        "executor": lambda call: (
            "held" if any(m.type == "tool" for m in call.messages) else tool_call("hold", {})
        ),
        "critic": verdict("pass"),
        "synthesizer": "done",
    }


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_a_second_writer_of_a_running_run_is_refused(store: str, tmp_path: Path):
    held, release = _gates()
    spec = "memory" if store == "memory" else str(tmp_path / "runs.db")
    checkpoints = Checkpoints.parse(spec)
    team, _ = make_team(_script(), tools=[hold], checkpointer=checkpoints, history=False)
    other, _ = make_team(_script(), tools=[hold], checkpointer=checkpoints, history=False)
    first = asyncio.create_task(team.arun("goal", run_id="busy-1"))
    await asyncio.wait_for(held.wait(), GUARD_S)

    with pytest.raises(RunBusyError, match="busy-1"):
        await other.aresume("busy-1")

    release.set()
    assert (await first).status is RunStatus.SUCCEEDED
    again = await other.arun("goal", run_id="busy-2")  # the lock went with the run
    assert again.status is RunStatus.SUCCEEDED


_HOLDER = """
import asyncio, sys
from orchestra.engine.checkpoints import Checkpoints

async def main():
    async with Checkpoints.parse(sys.argv[1]).lock(sys.argv[2]):
        print("held", flush=True)
        sys.stdin.readline()

asyncio.run(main())
"""


def _holder(spec: str, run_id: str) -> subprocess.Popen[str]:
    """Another process holding the lock of ``run_id`` until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, spec, run_id],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


async def _lock_once(spec: str, run_id: str) -> None:
    async with Checkpoints.parse(spec).lock(run_id):
        pass


async def test_a_run_locked_by_another_process_is_refused_until_that_process_dies(
    tmp_path: Path,
):
    spec = str(tmp_path / "runs.db")
    proc = _holder(spec, "shared-1")
    try:
        with pytest.raises(RunBusyError, match="shared-1"):
            await _lock_once(spec, "shared-1")
        await _lock_once(spec, "another-run")  # other runs are not held up
    finally:
        proc.kill()
        proc.wait()
    await _lock_once(spec, "shared-1")  # a dead holder holds nothing


@pytest.mark.slow
async def test_postgres_locks_a_run_across_processes(postgres: PostgresServer):
    url = postgres.new_database()
    proc = _holder(url, "pg-shared")
    try:
        with pytest.raises(RunBusyError, match="Postgres"):
            await _lock_once(url, "pg-shared")
        await _lock_once(url, "pg-other")
    finally:
        proc.kill()
        proc.wait()
    await _lock_once(url, "pg-shared")  # the server ended the dead holder's session


@pytest.mark.slow
async def test_a_postgres_run_in_use_cannot_be_resumed_by_another_team(
    postgres: PostgresServer,
):
    held, release = _gates()
    url = postgres.new_database()
    team, _ = make_team(_script(), tools=[hold], checkpointer=url, history=False)
    first = asyncio.create_task(team.arun("goal", run_id="pg-busy"))
    await asyncio.wait_for(held.wait(), GUARD_S)
    proc = _holder(url, "pg-busy-other")  # a real second process works on another run
    try:
        other, _ = make_team(_script(), tools=[hold], checkpointer=url, history=False)
        with pytest.raises(RunBusyError):
            await other.aresume("pg-busy")
    finally:
        proc.kill()
        proc.wait()
        release.set()
    assert (await first).status is RunStatus.SUCCEEDED
