"""Durable logs of completed side-effecting tool calls (see ``orchestra.tools.CallLog``).

The log lives next to the run's checkpoints (the same SQLite file, or the same Postgres
database), so a run resumed from them, in any process, finds its calls: a completed call
is written before its result reaches the model.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from contextlib import closing
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from orchestra.core.home import sqlite_timeout
from orchestra.tools.invoke import ToolOutcome

__all__ = ["MemoryCallLog", "PostgresCallLog", "SqliteCallLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tool_call_log (
    key TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    logged_at TEXT NOT NULL DEFAULT (datetime('now'))
)
"""


def _encode(outcome: ToolOutcome) -> str:
    data = asdict(outcome)
    data["started_at"] = outcome.started_at.isoformat() if outcome.started_at else None
    return json.dumps(data, default=str)


def _decode(text: str) -> ToolOutcome:
    data = json.loads(text)
    started = data.get("started_at")
    data["started_at"] = datetime.fromisoformat(started) if started else None
    return ToolOutcome(**data)


class SqliteCallLog:
    """Completed side-effecting calls in a SQLite table (one connection per call)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=sqlite_timeout())
        if not self._ready:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db.execute(_SCHEMA)
                self._ready = True
        return db

    def _get(self, key: str) -> ToolOutcome | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT outcome FROM tool_call_log WHERE key = ?", (key,)).fetchone()
        return _decode(row[0]) if row else None

    def _put(self, outcome: ToolOutcome) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO tool_call_log (key, outcome) VALUES (?, ?)",
                (outcome.key, _encode(outcome)),
            )

    async def completed(self, key: str) -> ToolOutcome | None:
        """The logged outcome of the call with this key, if it completed."""
        return await asyncio.to_thread(self._get, key)

    async def record(self, outcome: ToolOutcome) -> None:
        """Log a completed call; committed before this returns."""
        await asyncio.to_thread(self._put, outcome)


class MemoryCallLog:
    """Completed side-effecting calls in this process (for in-memory checkpoints)."""

    def __init__(self) -> None:
        self._calls: dict[str, ToolOutcome] = {}

    async def completed(self, key: str) -> ToolOutcome | None:
        """The logged outcome of the call with this key, if it completed."""
        return self._calls.get(key)

    async def record(self, outcome: ToolOutcome) -> None:
        """Log a completed call."""
        self._calls[outcome.key] = outcome


_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS orchestra_tool_call_log (
    key TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class PostgresCallLog:
    """Completed side-effecting calls in a Postgres table (one connection per call).

    Connections are opened on the running event loop, as psycopg's async connections
    are bound to one; side-effecting calls are rare enough for that to be cheap.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._ready = False

    async def _execute(self, sql: str, params: tuple[str, ...]) -> tuple[str, ...] | None:
        from psycopg import AsyncConnection

        async with await AsyncConnection.connect(self.url, autocommit=True) as conn:
            if not self._ready:
                await conn.execute(_PG_SCHEMA)
                self._ready = True
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone() if cursor.description else None

    async def completed(self, key: str) -> ToolOutcome | None:
        """The logged outcome of the call with this key, if it completed."""
        row = await self._execute(
            "SELECT outcome FROM orchestra_tool_call_log WHERE key = %s", (key,)
        )
        return _decode(row[0]) if row else None

    async def record(self, outcome: ToolOutcome) -> None:
        """Log a completed call; committed before this returns."""
        await self._execute(
            "INSERT INTO orchestra_tool_call_log (key, outcome) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET outcome = EXCLUDED.outcome",
            (outcome.key, _encode(outcome)),
        )
