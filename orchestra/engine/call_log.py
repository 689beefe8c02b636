"""Durable logs of side-effecting tool calls, and the store of long tool results.

See ``orchestra.tools.invoke.CallLog`` for the interface.
The log lives next to the run's checkpoints (the same SQLite file, or the same Postgres
database), so a run resumed from them, in any process, finds its calls. A call is logged
as *started* before the tool runs and as *completed* before its result reaches the model:
a resume answers a completed call from the log, and knows a call that started and never
completed was in flight when the run stopped (the tool's ``on_interrupted`` decides).

Long results (over :data:`INLINE_RESULT_CHARS`) are stored once, by content, in a result
table beside the log; the log entry and the run's checkpoints refer to them by digest
instead of holding copies (a 5 MB result used to be in the database seven times).

Schema changes go through one path for both stores: :data:`_ADDED_COLUMNS` lists the
columns added to the log table since its first version, and opening a log adds those an
existing table lacks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from contextlib import closing
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestra.core.home import sqlite_timeout
from orchestra.tools.invoke import ToolOutcome

__all__ = [
    "INLINE_RESULT_CHARS",
    "PREVIEW_CHARS",
    "MemoryCallLog",
    "PostgresCallLog",
    "SqliteCallLog",
    "result_digest",
    "stored_preview",
]

INLINE_RESULT_CHARS = 65_536
"""Results up to this many characters are kept inline; longer ones once, by digest."""

PREVIEW_CHARS = 4_000
"""How much of a result stored by digest the run's record keeps inline."""

STARTED, COMPLETED, FAILED = "started", "completed", "failed"
"""States of a logged call (a failed one runs again when a resumed run makes it)."""

_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (("state", f"TEXT NOT NULL DEFAULT '{COMPLETED}'"),)
"""Columns added to the log table after its first version (name, SQL type): every row
logged before a column existed gets its default (rows of old logs were all completed)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tool_call_log (
    key TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    logged_at TEXT NOT NULL DEFAULT (datetime('now'))
)
"""

_RESULTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS tool_results (
    digest TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    logged_at TEXT NOT NULL DEFAULT (datetime('now'))
)
"""


def result_digest(text: str) -> str:
    """The reference of a stored result: ``sha256:`` and the hex digest of its text."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stored_preview(text: str, ref: str) -> str:
    """What the record keeps inline of ``text``, stored whole under ``ref``."""
    return (
        f"{text[:PREVIEW_CHARS]}\n[... {len(text) - PREVIEW_CHARS} more characters: the whole"
        f" result is stored once in the run store as {ref}; Team.tool_result(call) reads it]"
    )


def _started_entry(tool: str, args: dict[str, Any], at: datetime) -> str:
    return json.dumps({"tool": tool, "args": args, "started_at": at.isoformat()}, default=str)


def _state(outcome: ToolOutcome) -> str:
    return COMPLETED if outcome.ok else FAILED


def _encode(outcome: ToolOutcome, output_ref: str | None) -> str:
    data = asdict(outcome)
    data["started_at"] = outcome.started_at.isoformat() if outcome.started_at else None
    if output_ref is not None:
        data["output"], data["output_ref"] = "", output_ref
    return json.dumps(data, default=str)


def _decode(text: str) -> tuple[ToolOutcome, str | None]:
    """The outcome and, when its output is stored apart, the output's reference."""
    data = json.loads(text)
    started = data.get("started_at")
    data["started_at"] = datetime.fromisoformat(started) if started else None
    ref = data.pop("output_ref", None)
    return ToolOutcome(**data), ref


class SqliteCallLog:
    """Side-effecting calls and long results in SQLite tables (one connection per call)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:  # a fresh home: the folder first, or SQLite cannot open the file
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=sqlite_timeout())
        if not self._ready:
            with self._lock:
                db.execute(_SCHEMA)
                db.execute(_RESULTS_SCHEMA)
                _add_missing_columns(db)
                db.commit()
                self._ready = True
        return db

    def _row(self, key: str) -> tuple[str, str] | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT state, outcome FROM tool_call_log WHERE key = ?", (key,)
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def _completed(self, key: str) -> ToolOutcome | None:
        row = self._row(key)
        if row is None or row[0] != COMPLETED:
            return None
        outcome, ref = _decode(row[1])
        if ref is None:
            return outcome
        output = self._result(ref)
        if output is None:  # the result was pruned: the call stays completed, say so
            output = f"[the result of this call ({ref}) is no longer stored]"
        return replace(outcome, output=output)

    def _put(self, outcome: ToolOutcome) -> None:
        with closing(self._connect()) as db, db:
            ref = _store(db, outcome.output) if len(outcome.output) > INLINE_RESULT_CHARS else None
            db.execute(
                "INSERT OR REPLACE INTO tool_call_log (key, outcome, state) VALUES (?, ?, ?)",
                (outcome.key, _encode(outcome, ref), _state(outcome)),
            )

    def _start(self, key: str, entry: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO tool_call_log (key, outcome, state) VALUES (?, ?, ?)",
                (key, entry, STARTED),
            )

    def _keep(self, text: str) -> str:
        with closing(self._connect()) as db, db:
            return _store(db, text)

    def _result(self, ref: str) -> str | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT text FROM tool_results WHERE digest = ?", (ref,)).fetchone()
        return str(row[0]) if row else None

    async def completed(self, key: str) -> ToolOutcome | None:
        """The logged outcome of the call with this key, if it completed."""
        return await asyncio.to_thread(self._completed, key)

    async def started(self, key: str, tool: str, args: dict[str, Any], at: datetime) -> None:
        """Log a call as started; committed before this returns (before the tool runs)."""
        await asyncio.to_thread(self._start, key, _started_entry(tool, args, at))

    async def in_flight(self, key: str) -> bool:
        """Whether the call with this key started and never completed."""
        row = await asyncio.to_thread(self._row, key)
        return row is not None and row[0] == STARTED

    async def record(self, outcome: ToolOutcome) -> None:
        """Log a call that returned (completed, or failed); committed before this returns."""
        await asyncio.to_thread(self._put, outcome)

    async def keep_result(self, text: str) -> str | None:
        """Store ``text`` once (by content); its reference for :meth:`result`."""
        return await asyncio.to_thread(self._keep, text)

    async def result(self, ref: str) -> str | None:
        """A result stored by :meth:`keep_result`, or None if it is not (or no longer) here."""
        return await asyncio.to_thread(self._result, ref)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    have = {str(row[1]) for row in db.execute("PRAGMA table_info(tool_call_log)")}
    for name, sql_type in _ADDED_COLUMNS:
        if name in have:
            continue
        try:
            db.execute(f"ALTER TABLE tool_call_log ADD COLUMN {name} {sql_type}")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise


def _store(db: sqlite3.Connection, text: str) -> str:
    ref = result_digest(text)
    # a result stored again is fresh again: pruning by age must not take it from a new run
    db.execute(
        "INSERT INTO tool_results (digest, text) VALUES (?, ?)"
        " ON CONFLICT (digest) DO UPDATE SET logged_at = datetime('now')",
        (ref, text),
    )
    return ref


class MemoryCallLog:
    """Side-effecting calls in this process (for in-memory checkpoints).

    Results stay inline in the checkpoints (:meth:`keep_result` stores nothing): a saver
    of yours may outlive this process, and a reference into it would then dangle.
    """

    def __init__(self) -> None:
        self._calls: dict[str, ToolOutcome] = {}
        self._started: set[str] = set()

    async def completed(self, key: str) -> ToolOutcome | None:
        """The logged outcome of the call with this key, if it completed."""
        return self._calls.get(key)

    async def started(self, key: str, tool: str, args: dict[str, Any], at: datetime) -> None:
        """Log a call as started."""
        self._started.add(key)

    async def in_flight(self, key: str) -> bool:
        """Whether the call with this key started and never completed."""
        return key in self._started

    async def record(self, outcome: ToolOutcome) -> None:
        """Log a call that returned (completed, or failed: then it is only not in flight)."""
        self._started.discard(outcome.key)
        if outcome.ok:
            self._calls[outcome.key] = outcome

    async def keep_result(self, text: str) -> str | None:
        """None: results stay inline (see the class docstring)."""
        return None

    async def result(self, ref: str) -> str | None:
        """None: nothing is stored by reference here."""
        return None


_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS orchestra_tool_call_log (
    key TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS orchestra_tool_results (
    digest TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

_PG_STORE = (
    "INSERT INTO orchestra_tool_results (digest, text) VALUES (%s, %s)"
    " ON CONFLICT (digest) DO UPDATE SET logged_at = now()"
)


class PostgresCallLog:
    """Side-effecting calls and long results in Postgres tables (one connection per call).

    Connections are opened on the running event loop, as psycopg's async connections
    are bound to one; side-effecting calls are rare enough for that to be cheap.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._ready = False

    async def _execute(self, *statements: tuple[str, tuple[str, ...]]) -> tuple[str, ...] | None:
        """Run ``statements`` in one transaction; the first row of the last, if any."""
        from psycopg import AsyncConnection

        async with await AsyncConnection.connect(self.url) as conn:
            if not self._ready:
                for sql in _PG_SCHEMA.split(";"):
                    await conn.execute(sql)
                for name, sql_type in _ADDED_COLUMNS:
                    await conn.execute(
                        f"ALTER TABLE orchestra_tool_call_log ADD COLUMN IF NOT EXISTS"
                        f" {name} {sql_type}"
                    )
                await conn.commit()
                self._ready = True
            row = None
            for sql, params in statements:
                cursor = await conn.execute(sql, params)
                row = await cursor.fetchone() if cursor.description else None
            await conn.commit()
            return row

    async def _row(self, key: str) -> tuple[str, ...] | None:
        return await self._execute(
            ("SELECT state, outcome FROM orchestra_tool_call_log WHERE key = %s", (key,))
        )

    async def completed(self, key: str) -> ToolOutcome | None:
        """The logged outcome of the call with this key, if it completed."""
        row = await self._row(key)
        if row is None or row[0] != COMPLETED:
            return None
        outcome, ref = _decode(row[1])
        if ref is None:
            return outcome
        output = await self.result(ref)
        if output is None:
            output = f"[the result of this call ({ref}) is no longer stored]"
        return replace(outcome, output=output)

    async def started(self, key: str, tool: str, args: dict[str, Any], at: datetime) -> None:
        """Log a call as started; committed before this returns (before the tool runs)."""
        await self._execute(
            (
                "INSERT INTO orchestra_tool_call_log (key, outcome, state) VALUES (%s, %s, %s)"
                " ON CONFLICT (key) DO UPDATE SET outcome = EXCLUDED.outcome,"
                " state = EXCLUDED.state, logged_at = now()",
                (key, _started_entry(tool, args, at), STARTED),
            )
        )

    async def in_flight(self, key: str) -> bool:
        """Whether the call with this key started and never completed."""
        row = await self._row(key)
        return row is not None and row[0] == STARTED

    async def record(self, outcome: ToolOutcome) -> None:
        """Log a call that returned (completed, or failed); committed before this returns."""
        statements: list[tuple[str, tuple[str, ...]]] = []
        ref = None
        if len(outcome.output) > INLINE_RESULT_CHARS:
            ref = result_digest(outcome.output)
            statements.append((_PG_STORE, (ref, outcome.output)))
        statements.append(
            (
                "INSERT INTO orchestra_tool_call_log (key, outcome, state) VALUES (%s, %s, %s)"
                " ON CONFLICT (key) DO UPDATE SET outcome = EXCLUDED.outcome,"
                " state = EXCLUDED.state, logged_at = now()",
                (outcome.key, _encode(outcome, ref), _state(outcome)),
            )
        )
        await self._execute(*statements)

    async def keep_result(self, text: str) -> str | None:
        """Store ``text`` once (by content); its reference for :meth:`result`."""
        ref = result_digest(text)
        await self._execute((_PG_STORE, (ref, text)))
        return ref

    async def result(self, ref: str) -> str | None:
        """A result stored by :meth:`keep_result`, or None if it is not (or no longer) here."""
        row = await self._execute(
            ("SELECT text FROM orchestra_tool_results WHERE digest = %s", (ref,))
        )
        return row[0] if row else None
