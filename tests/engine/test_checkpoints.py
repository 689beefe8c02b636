"""Where runs are checkpointed, and the log of completed side-effecting calls."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from orchestra import ConfigError, InputError, tool
from orchestra.core.home import SQLITE_TIMEOUT_ENV, SQLITE_TIMEOUT_S, sqlite_timeout
from orchestra.engine.call_log import MemoryCallLog, SqliteCallLog
from orchestra.engine.checkpoints import Checkpoints
from orchestra.observability.history import RunHistory
from orchestra.testing import plan, role_spec, subtask, verdict
from orchestra.tools.invoke import ToolOutcome, call_tool
from tests.conftest import GUARD_S, make_team


def test_what_team_checkpointer_accepts(tmp_path: Path, _orchestra_home: Path):
    default = Checkpoints.parse(None)
    assert (default.kind, default.target) == ("sqlite", str(_orchestra_home / "runs.db"))
    assert default.durable
    assert Checkpoints.parse("memory").kind == "memory"
    assert not Checkpoints.parse("memory").durable
    assert Checkpoints.parse(tmp_path / "x.db").target == str(tmp_path / "x.db")
    assert Checkpoints.parse("sqlite:///tmp/y.db").target == "tmp/y.db"
    saver = InMemorySaver()
    assert Checkpoints.parse(saver)._saver is saver
    with pytest.raises(ConfigError, match="unknown checkpointer"):
        Checkpoints.parse("redis://localhost")


async def test_a_team_resumes_from_a_sqlite_file_in_another_team_object(tmp_path: Path):
    db = tmp_path / "runs.db"
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("w", "Do it.", []),
        "executor": "done",
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    first, _ = make_team(dict(script), checkpointer=db)
    await first.arun("goal", run_id="r1")
    second, model = make_team(dict(script), checkpointer=str(db))
    again = await second.aresume("r1")  # an ended run comes back as it is
    assert again.succeeded and again.output == "ok" and model.calls == []
    with pytest.raises(InputError, match="no checkpointed run"):
        await second.aresume("never-ran")


async def test_the_call_log_survives_and_answers_by_key(tmp_path: Path):
    log = SqliteCallLog(tmp_path / "log.db")
    assert await log.completed("k1") is None
    outcome = ToolOutcome(
        tool="send",
        args={"to": "x"},
        ok=True,
        output="sent",
        duration_s=0.1,
        key="k1",
        side_effects=True,
        started_at=datetime.now(UTC),
    )
    await log.record(outcome)
    assert await SqliteCallLog(tmp_path / "log.db").completed("k1") == outcome


async def test_only_completed_side_effecting_calls_are_answered_from_the_log():
    runs: list[str] = []

    @tool(side_effects=True)
    def send(to: str) -> str:
        """Send."""
        runs.append(to)
        if to == "bad":
            raise RuntimeError("smtp down")
        return f"sent {to}"

    @tool
    def read(q: str) -> str:
        """Read."""
        runs.append(q)
        return q

    tools = {"send": send, "read": read}
    log = MemoryCallLog()

    async def call(name: str, arg: dict, key: str) -> ToolOutcome:
        return await call_tool(
            name, arg, available=tools, allowed={"send", "read"}, role="r", key=key, log=log
        )

    first = await call("send", {"to": "x"}, "k1")
    again = await call("send", {"to": "x"}, "k1")
    assert first.ok and not first.replayed and again.replayed and again.output == "sent x"
    assert (await call("send", {"to": "x"}, "k2")).ok  # another key: another call
    await call("send", {"to": "bad"}, "k3")
    assert not (await call("send", {"to": "bad"}, "k3")).replayed  # failures are retried
    await call("read", {"q": "q"}, "k4")
    await call("read", {"q": "q"}, "k4")  # no side effects: not logged, runs again
    assert runs == ["x", "x", "bad", "bad", "q", "q"]


AIOSQLITE_DEFAULT_TIMEOUT_S = 5.0
"""How long an aiosqlite connection waits for a lock unless told otherwise."""


@pytest.mark.slow
async def test_a_run_waits_out_an_outside_lock_on_its_database(tmp_path: Path):
    db = tmp_path / "runs.db"
    script = {
        "planner": [plan(subtask("a")), plan(subtask("a"))],
        "role_designer": role_spec("w", "Do it.", []),
        "executor": "done",
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(script, checkpointer=db, history=False)
    assert (await team.arun("first: makes the database")).succeeded

    locked, held_past_default, release = threading.Event(), threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:  # a sqlite3 shell, or a long prune, in another process
        with sqlite3.connect(db, isolation_level=None) as outside:
            outside.execute("BEGIN EXCLUSIVE")
            locked.set()
            # Holding is what this test is about: past aiosqlite's own default wait.
            time.sleep(AIOSQLITE_DEFAULT_TIMEOUT_S + 1)
            held_past_default.set()
            release.wait(GUARD_S)
            outside.execute("COMMIT")

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert await asyncio.to_thread(locked.wait, GUARD_S)
        run = asyncio.create_task(team.arun("second: meets the lock"))
        assert await asyncio.to_thread(held_past_default.wait, GUARD_S * 2)
        assert not run.done(), run.exception()  # blocked on the lock, not failed
    finally:
        release.set()
        await asyncio.to_thread(holder.join, GUARD_S)
    result = await run
    assert result.succeeded


def test_one_sqlite_timeout_configurable_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
):
    assert sqlite_timeout() == SQLITE_TIMEOUT_S > AIOSQLITE_DEFAULT_TIMEOUT_S
    monkeypatch.setenv(SQLITE_TIMEOUT_ENV, "120")
    assert sqlite_timeout() == 120.0
    for bad in ("soon", "0", "-3", "nan", "inf"):
        monkeypatch.setenv(SQLITE_TIMEOUT_ENV, bad)
        with pytest.raises(ConfigError, match=SQLITE_TIMEOUT_ENV):
            sqlite_timeout()


async def test_every_sqlite_connection_waits_the_one_configured_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    db = tmp_path / "runs.db"
    checkpoints = Checkpoints.sqlite(db)
    async with checkpoints.open() as saver:
        await saver.setup()
    history = RunHistory(db)
    history.started("r0", team="t", goal="g")
    outcome = ToolOutcome(tool="send", args={}, ok=True, output="sent", duration_s=0.0, key="k")
    await checkpoints.call_log().record(outcome)

    async def saver_write() -> None:
        async with checkpoints.open() as saver:
            await saver.conn.execute("DELETE FROM writes")

    attempts: dict[str, Callable[[], Awaitable[object]]] = {
        "checkpoint saver": saver_write,
        "call log": lambda: checkpoints.call_log().record(outcome),
        "run history": lambda: asyncio.to_thread(history.started, "r1", team="t", goal="g"),
    }
    # With a tiny timeout, each of the three gives up on an outside lock quickly (each used
    # to wait its own time: 5 s for the saver, 30 s for the others, past the guard here).
    monkeypatch.setenv(SQLITE_TIMEOUT_ENV, "0.05")
    gave_up: dict[str, str] = {}
    with sqlite3.connect(db, isolation_level=None) as outside:
        outside.execute("BEGIN EXCLUSIVE")
        for name, attempt in attempts.items():
            try:
                await asyncio.wait_for(attempt(), GUARD_S / 3)
            except (sqlite3.OperationalError, TimeoutError) as exc:
                gave_up[name] = f"{type(exc).__name__}: {exc}"
        outside.execute("COMMIT")
    assert gave_up == dict.fromkeys(attempts, "OperationalError: database is locked")
