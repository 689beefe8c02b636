"""The runs a machine ran: a small SQLite table behind ``orchestra runs`` and reports.

Each run is written when it starts (status ``running``) and again when it ends, with
its whole run record, so a run that crashed still shows up.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from orchestra.core.errors import InputError
from orchestra.core.home import orchestra_home, sqlite_timeout
from orchestra.core.record import RunRecord

__all__ = ["RunHistory", "RunSummary", "StoredRun"]

HistoryStatus = Literal[
    "running", "succeeded", "failed", "budget_exceeded", "awaiting_approval", "rejected", "error"
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    goal TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    tasks INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    record TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
"""
_CHECKPOINT_TABLES = {"checkpoints", "writes"}
"""LangGraph's SQLite saver's tables, keyed by ``thread_id`` (= run id)."""
_COLUMNS = (
    "run_id, team, goal, status, started_at, finished_at,"
    " input_tokens, output_tokens, cost_usd, tasks, error"
)


class RunSummary(BaseModel):
    """One line of ``orchestra runs list``."""

    run_id: str
    team: str
    goal: str
    status: HistoryStatus
    started_at: datetime
    finished_at: datetime | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    tasks: int
    error: str | None

    @property
    def seconds(self) -> float | None:
        """Wall-clock duration, once the run has ended."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class StoredRun(BaseModel):
    """A run from the history: its summary and, once it ended, its whole record."""

    summary: RunSummary
    record: RunRecord | None


class RunHistory:
    """Run summaries and records in one SQLite file (safe across threads and processes).

    Args:
        path: the database file (created with its folder on first use).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

    @classmethod
    def default(cls) -> RunHistory:
        """``runs.db`` in :func:`orchestra_home`."""
        return cls(orchestra_home() / "runs.db")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=sqlite_timeout())) as db, db:
                if not self._ready:
                    db.executescript(_SCHEMA)
                    self._ready = True
                yield db

    def started(self, run_id: str, *, team: str, goal: str, at: datetime | None = None) -> None:
        """Record that a run began."""
        with self._db() as db:
            db.execute(
                "INSERT INTO runs (run_id, team, goal, status, started_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT(run_id) DO UPDATE SET status='running', finished_at=NULL,"
                " error=NULL",
                (run_id, team, goal, "running", _iso(at)),
            )

    def finished(self, record: RunRecord, *, at: datetime | None = None) -> None:
        """Record how a run ended, with its whole record."""
        with self._db() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=?, input_tokens=?, output_tokens=?,"
                " cost_usd=?, tasks=?, error=?, record=? WHERE run_id=?",
                (
                    record.status.value,
                    _iso(at),
                    record.usage.input_tokens,
                    record.usage.output_tokens,
                    record.usage.cost_usd,
                    len(record.tasks),
                    record.reason,
                    record.model_dump_json(),
                    record.run_id,
                ),
            )

    def errored(
        self,
        run_id: str,
        error: str,
        *,
        record: RunRecord | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record that a run ended with an exception (its partial record if there is one)."""
        with self._db() as db:
            db.execute(
                "UPDATE runs SET status='error', finished_at=?, error=?,"
                " record=COALESCE(?, record) WHERE run_id=?",
                (_iso(at), error, record.model_dump_json() if record else None, run_id),
            )

    def list(
        self, *, limit: int = 20, team: str | None = None, status: str | None = None
    ) -> list[RunSummary]:
        """The newest runs first."""
        where, args = _filters(team=team, status=status)
        with self._db() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM runs{where} ORDER BY started_at DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_summary(row) for row in rows]

    def get(self, run_id: str) -> StoredRun:
        """The run with this id, or the only one whose id starts with it.

        Raises:
            InputError: no run, or several runs, match.
        """
        with self._db() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS}, record FROM runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\'"
                " ORDER BY run_id = ? DESC LIMIT 3",
                (run_id, _like_prefix(run_id), run_id),
            ).fetchall()
        if not rows:
            raise InputError(f"no run {run_id!r} in {self.path}")
        if rows[0][0] != run_id and len(rows) > 1:
            raise InputError(f"{run_id!r} matches several runs; give more of the id")
        row = rows[0]
        record = RunRecord.model_validate_json(row[-1]) if row[-1] else None
        return StoredRun(summary=_summary(row[:-1]), record=record)

    def prune(self, older_than: timedelta) -> int:
        """Forget runs that started more than ``older_than`` ago; how many went.

        Their checkpoints go too when they live in the same file (the default), and so
        do tool-call log entries and stored tool results older than the cutoff.
        """
        moment = datetime.now(UTC) - older_than
        with self._db() as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            old = [
                (row[0],)
                for row in db.execute(
                    "SELECT run_id FROM runs WHERE started_at < ?", (_iso(moment),)
                )
            ]
            for table in _CHECKPOINT_TABLES & tables:
                db.executemany(f"DELETE FROM {table} WHERE thread_id = ?", old)
            for log_table in sorted({"tool_call_log", "tool_results"} & tables):
                db.execute(
                    f"DELETE FROM {log_table} WHERE logged_at < ?",
                    (moment.strftime("%Y-%m-%d %H:%M:%S"),),
                )
            db.executemany("DELETE FROM runs WHERE run_id = ?", old)
            return len(old)


def _iso(at: datetime | None) -> str:
    return (at or datetime.now(UTC)).astimezone(UTC).isoformat()


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _filters(**equal: str | None) -> tuple[str, list[str]]:
    parts = [(f"{name} = ?", value) for name, value in equal.items() if value is not None]
    if not parts:
        return "", []
    return " WHERE " + " AND ".join(p for p, _ in parts), [v for _, v in parts]


def _summary(row: tuple[object, ...]) -> RunSummary:
    names = [c.strip() for c in _COLUMNS.split(",")]
    return RunSummary.model_validate(dict(zip(names, row, strict=True)))
