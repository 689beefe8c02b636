"""The runs a machine ran: a small SQLite table behind ``orchestra runs`` and reports.

Each run is written when it starts (status ``running``, with its owner: host, process id
and that process's start time) and again when it ends, with its whole run record, so a
run that crashed still shows up. A ``running`` run whose owner process is gone (killed,
crashed, the machine rebooted) reads as ``interrupted``; runs owned by another host stay
``running`` (this machine cannot see that host's processes).

Secrets are redacted before anything is written, and again when read (for rows written
before a secret was known), like span content; ``ORCHESTRA_REDACT_HISTORY=0`` keeps raw
values (see docs/observing.md). A store that cannot be used is a one-line ``ConfigError``
naming the file (:func:`orchestra.core.home.store_error`); reading never creates or
changes anything.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from orchestra.core.errors import InputError
from orchestra.core.home import check_store, orchestra_home, sqlite_timeout, store_error
from orchestra.core.record import RunRecord
from orchestra.observability.redact import Redactor

__all__ = [
    "REDACT_HISTORY_ENV",
    "RunHistory",
    "RunSummary",
    "StoredRun",
    "history_redactor",
    "redacted",
    "redacted_json",
    "shown_redactor",
]

REDACT_HISTORY_ENV = "ORCHESTRA_REDACT_HISTORY"
"""``0`` keeps raw values in the run history, ``runs show``, ``--json`` records and reports."""

HistoryStatus = Literal[
    "running",
    "interrupted",
    "succeeded",
    "failed",
    "budget_exceeded",
    "awaiting_approval",
    "rejected",
    "partial",
    "error",
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
    record TEXT,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
"""
_CHECKPOINT_TABLES = {"checkpoints", "writes"}
"""LangGraph's SQLite saver's tables, keyed by ``thread_id`` (= run id)."""
_COLUMNS = (
    "run_id, team, goal, status, started_at, finished_at,"
    " input_tokens, output_tokens, cost_usd, tasks, error, owner"
)
_NAMES = [c.strip() for c in _COLUMNS.split(",")]
_IDS = frozenset(
    {"run_id", "id", "task_id", "parent_id", "depends_on", "replaces", "replaced_by"}
    | {"new_task_ids", "request_id", "key"}
)
"""Fields that identify things: not redacted, so references between them hold."""


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
    owner: str | None = None
    """``host:pid:start`` of the process that ran it last (None in older histories)."""

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
        path: the database file (created with its folder on first write; reading creates
            nothing).
        redactor: hides secrets in what is written and read (default: the built-in
            rules and secret-named environment variables); redaction is off when
            ``ORCHESTRA_REDACT_HISTORY=0``.

    Raises:
        ConfigError: (from any method) the file cannot be used: not a SQLite database,
            a read-only folder, a file where a folder should be.
    """

    def __init__(self, path: str | Path, *, redactor: Redactor | None = None) -> None:
        self.path = Path(path)
        self.redactor = redactor
        self._lock = threading.Lock()
        self._ready = False

    @classmethod
    def default(cls, *, redactor: Redactor | None = None) -> RunHistory:
        """``runs.db`` in :func:`orchestra_home`."""
        return cls(orchestra_home() / "runs.db", redactor=redactor)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection for writing (the file and its table are made if missing)."""
        with self._lock:
            try:
                if not self._ready:
                    check_store(self.path, write=True)
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                with closing(sqlite3.connect(self.path, timeout=sqlite_timeout())) as db, db:
                    if not self._ready:
                        db.executescript(_SCHEMA)
                        _add_owner_column(db)
                        self._ready = True
                    yield db
            except (OSError, sqlite3.DatabaseError) as exc:
                if _busy(exc):
                    raise
                raise store_error(self.path, exc) from exc

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        """A read-only connection, or None when there is no history (nothing is made)."""
        try:
            check_store(self.path, write=False)
            if not self.path.is_file():
                yield None
                return
            with closing(_read_only(self.path)) as db:
                found = db.execute("SELECT name FROM sqlite_master WHERE name = 'runs'")
                yield db if found.fetchone() else None
        except (OSError, sqlite3.DatabaseError) as exc:
            if _busy(exc):
                raise
            raise store_error(self.path, exc) from exc

    def _redact(self) -> Redactor | None:
        if self.redactor is None:
            return history_redactor()
        return self.redactor if history_redactor() is not None else None

    def started(self, run_id: str, *, team: str, goal: str, at: datetime | None = None) -> None:
        """Record that a run began, owned by this process."""
        redact = self._redact()
        goal = redact(goal) if redact else goal
        with self._db() as db:
            db.execute(
                "INSERT INTO runs (run_id, team, goal, status, started_at, owner)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET status='running',"
                " finished_at=NULL, error=NULL, owner=excluded.owner",
                (run_id, team, goal, "running", _iso(at), _owner()),
            )

    def exists(self, run_id: str) -> bool:
        """Whether a run with exactly this id is in the history."""
        with self._reading() as db:
            if db is None:
                return False
            found = db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return found is not None

    def finished(self, record: RunRecord, *, at: datetime | None = None) -> None:
        """Record how a run ended, with its whole record."""
        redact = self._redact()
        record = redacted(record, redact) if redact else record
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
        """Record that a run ended with an exception (its partial record if there is one).

        With a partial record, the summary counts what it spent and its tasks so far, as
        the record shows them.
        """
        redact = self._redact()
        if redact is not None:
            error = redact(error)
            record = redacted(record, redact) if record is not None else None
        usage = record.usage if record is not None else None
        with self._db() as db:
            db.execute(
                "UPDATE runs SET status='error', finished_at=?, error=?,"
                " record=COALESCE(?, record), input_tokens=COALESCE(?, input_tokens),"
                " output_tokens=COALESCE(?, output_tokens), cost_usd=COALESCE(?, cost_usd),"
                " tasks=COALESCE(?, tasks) WHERE run_id=?",
                (
                    _iso(at),
                    error,
                    record.model_dump_json() if record else None,
                    usage.input_tokens if usage else None,
                    usage.output_tokens if usage else None,
                    usage.cost_usd if usage else None,
                    len(record.tasks) if record else None,
                    run_id,
                ),
            )

    def list(
        self,
        *,
        limit: int = 20,
        team: str | None = None,
        status: str | None = None,
        offset: int = 0,
    ) -> list[RunSummary]:
        """The newest runs first, ``offset`` of them skipped (pages of ``limit``).

        ``status="interrupted"`` (or ``"running"``) tells the two apart by their owner.
        """
        owned = status in ("running", "interrupted")
        where, args = _filters(team=team, status="running" if owned else status)
        with self._reading() as db:
            if db is None:
                return []
            rows = db.execute(
                f"SELECT {_columns(db)} FROM runs{where} ORDER BY started_at DESC"
                + ("" if owned else " LIMIT ? OFFSET ?"),
                (*args,) if owned else (*args, limit, offset),
            ).fetchall()
        runs = [self._summary(row) for row in rows]
        if owned:
            return [r for r in runs if r.status == status][offset : offset + limit]
        return runs

    def whole_id(self, run_id: str) -> str | None:
        """The whole id of the run ``run_id`` names, or None if it names none.

        ``run_id`` itself if a run has it, else the one run whose id starts with it
        (case counts).

        Raises:
            InputError: several runs start with it.
        """
        with self._reading() as db:
            rows = (
                db.execute(
                    "SELECT run_id FROM runs WHERE run_id = ? OR run_id GLOB ?"
                    " ORDER BY run_id = ? DESC, run_id LIMIT 6",
                    (run_id, _glob_prefix(run_id), run_id),
                ).fetchall()
                if db is not None
                else []
            )
        ids: list[str] = [r[0] for r in rows]
        if not ids or ids[0] == run_id:
            return ids[0] if ids else None
        if len(ids) > 1:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise InputError(f"{run_id!r} matches several runs ({shown}); give more of the id")
        return ids[0]

    def get(self, run_id: str) -> StoredRun:
        """The run with this id, or the only one whose id starts with it (case counts).

        Raises:
            InputError: no run, or several runs, match.
        """
        whole = self.whole_id(run_id)
        with self._reading() as db:
            row = (
                db.execute(
                    f"SELECT {_columns(db)}, record FROM runs WHERE run_id = ?", (whole,)
                ).fetchone()
                if db is not None and whole is not None
                else None
            )
        if row is None:
            raise InputError(f"no run {run_id!r} in {self.path} (orchestra runs list shows them)")
        record = RunRecord.model_validate_json(row[-1]) if row[-1] else None
        redact = self._redact()
        if record is not None and redact is not None:
            record = redacted(record, redact)
        return StoredRun(summary=self._summary(row[:-1]), record=record)

    def _summary(self, row: tuple[object, ...]) -> RunSummary:
        summary = RunSummary.model_validate(dict(zip(_NAMES, row, strict=True)))
        if summary.status == "running" and not _alive(summary.owner):
            summary = summary.model_copy(update={"status": "interrupted"})
        redact = self._redact()
        if redact is not None:
            summary = redacted(summary, redact)
        return summary

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


def _glob_prefix(prefix: str) -> str:
    """A GLOB pattern for ids starting with ``prefix`` (its own ``*``, ``?``, ``[`` literal)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in prefix) + "*"


def _filters(**equal: str | None) -> tuple[str, list[str]]:
    parts = [(f"{name} = ?", value) for name, value in equal.items() if value is not None]
    if not parts:
        return "", []
    return " WHERE " + " AND ".join(p for p, _ in parts), [v for _, v in parts]


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write, even in a read-only folder.

    A WAL database (LangGraph's checkpoints make ``runs.db`` one) needs its ``-shm``
    file to be read; where that cannot be made, the file is read as immutable.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=sqlite_timeout())
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        db.close()
        if "unable to open" not in str(exc):
            raise
        db = sqlite3.connect(f"{uri}&immutable=1", uri=True, timeout=sqlite_timeout())
    return db


def _busy(exc: BaseException) -> bool:
    """A lock held too long by another writer: not a broken store."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


def _columns(db: sqlite3.Connection) -> str:
    """The summary columns, ``owner`` as NULL in a history made before it existed."""
    have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    return _COLUMNS if "owner" in have else _COLUMNS.replace("owner", "NULL AS owner")


def _add_owner_column(db: sqlite3.Connection) -> None:
    if "owner" not in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:
        db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")


def history_redactor() -> Redactor | None:
    """The redactor for what is stored or shown of runs; None if ``ORCHESTRA_REDACT_HISTORY=0``."""
    if os.environ.get(REDACT_HISTORY_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return None
    return _default_redactor()


@cache
def _default_redactor() -> Redactor:
    return Redactor()


_Model = TypeVar("_Model", bound=BaseModel)
_Json = TypeVar("_Json")


def redacted(model: _Model, redact: Redactor) -> _Model:
    """A copy of ``model`` (a run record, a summary) with secrets hidden in every text."""
    return type(model).model_validate(_redact_json(model.model_dump(mode="json"), redact))


def shown_redactor(redactor: Redactor) -> Redactor | None:
    """The redactor for a run's record and events as they leave the process.

    ``redactor`` is the team's (``team.tracing.redactor``: it knows the values the team
    marks); None when ``ORCHESTRA_REDACT_HISTORY=0`` keeps raw values. One rule for every
    way out: ``orchestra run --json``, ``orchestra serve`` and ``orchestra mcp``.
    """
    return redactor if history_redactor() is not None else None


def redacted_json(value: _Json, redact: Redactor | None) -> _Json:
    """``value`` (a record's or an event's JSON) with secrets hidden in every text but ids.

    As it is when ``redact`` is None (see :func:`shown_redactor`).
    """
    if redact is None:
        return value
    shown: _Json = _redact_json(value, redact)
    return shown


def _redact_json(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_json(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: v if k in _IDS else _redact_json(v, redact) for k, v in value.items()}
    return value


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), where ``/proc`` tells."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _owner() -> str:
    """This process, as ``host:pid:start`` (asked each time: a fork is another process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid()) or ''}"


def _alive(owner: str | None) -> bool:
    """Whether the owner process of a ``running`` row still runs (True when unknowable).

    The same process id with another start time is another process: the owner is gone.
    """
    if not owner:
        return True  # written before owners were recorded
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine's process: we cannot tell
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    return not started or _start_time(pid) in (None, started)
