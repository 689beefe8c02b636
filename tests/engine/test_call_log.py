"""The tool-call log: started, completed and failed calls, its upgrade, long results once."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestra.engine.call_log import (
    INLINE_RESULT_CHARS,
    MemoryCallLog,
    PostgresCallLog,
    SqliteCallLog,
    result_digest,
)
from orchestra.tools.invoke import CallLog, ToolOutcome

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

OLD_ROW = (
    '{"tool": "send", "args": {"to": "x"}, "ok": true, "output": "sent", "duration_s": 0.1,'
    ' "key": "old", "tries": 1, "side_effects": true, "started_at": "2026-01-02T03:04:05+00:00",'
    ' "error_type": null, "replayed": false}'
)
"""A completed call as the first version of the log wrote it."""


def _outcome(key: str, output: str = "sent", *, ok: bool = True) -> ToolOutcome:
    return ToolOutcome(
        tool="send",
        args={"to": "x"},
        ok=ok,
        output=output,
        duration_s=0.1,
        key=key,
        side_effects=True,
        started_at=NOW,
    )


@pytest.fixture(params=["sqlite", "memory", pytest.param("postgres", marks=pytest.mark.slow)])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], CallLog]:
    """A factory of logs on one store (a second log object sees what the first wrote)."""
    if request.param == "sqlite":
        return lambda: SqliteCallLog(tmp_path / "runs.db")
    if request.param == "memory":
        log = MemoryCallLog()
        return lambda: log
    url = request.getfixturevalue("postgres").new_database()
    return lambda: PostgresCallLog(url)


async def test_a_call_is_in_flight_from_its_start_until_it_returns(make_log):
    log = make_log()
    assert not await log.in_flight("k1") and await log.completed("k1") is None
    await log.started("k1", "send", {"to": "x"}, NOW)
    again = make_log()  # another process, after a kill
    assert await again.in_flight("k1") and await again.completed("k1") is None
    await again.record(_outcome("k1"))
    assert not await make_log().in_flight("k1")
    assert await make_log().completed("k1") == _outcome("k1")


async def test_a_failed_call_is_neither_in_flight_nor_completed(make_log):
    log = make_log()
    await log.started("k2", "send", {"to": "x"}, NOW)
    await log.record(_outcome("k2", "error: RuntimeError: down", ok=False))
    assert not await make_log().in_flight("k2")
    assert await make_log().completed("k2") is None  # a resumed run makes it again


async def test_a_long_result_is_stored_once_and_comes_back_whole(make_log):
    log = make_log()
    text = "y" * (INLINE_RESULT_CHARS + 10)
    ref = await log.keep_result(text)
    if isinstance(log, MemoryCallLog):  # nothing outlives the process: stays inline
        assert ref is None
        return
    assert ref == result_digest(text)
    assert await log.keep_result(text) == ref  # by content: the same text, the same entry
    await log.record(_outcome("k3", text))
    assert await make_log().result(ref) == text
    assert (await make_log().completed("k3")) == _outcome("k3", text)
    assert await make_log().result(result_digest("never stored")) is None


async def test_a_long_result_is_in_the_sqlite_file_once(tmp_path: Path):
    log = SqliteCallLog(tmp_path / "runs.db")
    text = "z" * 1_000_000
    await log.record(_outcome("k1", text))
    await log.keep_result(text)  # what the checkpointed record refers to
    with sqlite3.connect(tmp_path / "runs.db") as db:
        (log_chars,) = db.execute("SELECT sum(length(outcome)) FROM tool_call_log").fetchone()
        (stored,) = db.execute("SELECT count(*) FROM tool_results").fetchone()
    assert log_chars < 1_000 and stored == 1


async def test_a_log_of_the_first_schema_is_upgraded_in_place(tmp_path: Path):
    """Rows logged before calls had states were all completed calls: they still are."""
    db_path = tmp_path / "runs.db"
    with sqlite3.connect(db_path) as db:
        db.execute(
            "CREATE TABLE tool_call_log (key TEXT PRIMARY KEY, outcome TEXT NOT NULL,"
            " logged_at TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        db.execute(
            "INSERT INTO tool_call_log (key, outcome) VALUES (?, ?)",
            ("old", OLD_ROW),
        )
    log = SqliteCallLog(db_path)
    assert await log.completed("old") == _outcome("old")
    assert not await log.in_flight("old")
    await log.started("new", "send", {"to": "y"}, NOW)
    assert await SqliteCallLog(db_path).in_flight("new")


@pytest.mark.slow
async def test_an_upgraded_postgres_log_keeps_its_rows(request: pytest.FixtureRequest):
    import psycopg

    url = request.getfixturevalue("postgres").new_database()
    with psycopg.connect(url) as pg:
        pg.execute(
            "CREATE TABLE orchestra_tool_call_log (key TEXT PRIMARY KEY, outcome TEXT NOT NULL,"
            " logged_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        pg.execute(
            "INSERT INTO orchestra_tool_call_log (key, outcome) VALUES (%s, %s)",
            ("old", OLD_ROW),
        )
    log = PostgresCallLog(url)
    assert await log.completed("old") == _outcome("old")
    assert not await log.in_flight("old")
