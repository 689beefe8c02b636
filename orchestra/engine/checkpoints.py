"""Where runs are checkpointed: SQLite by default; Postgres, memory or a saver of yours.

A LangGraph saver of SQLite or Postgres holds a connection bound to one event loop, and
``Team.run`` starts a new loop for every run; so a :class:`Checkpoints` opens a saver for
each run (or look-up) and the team compiles its graph with it (about 2.5 ms).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from orchestra.core.errors import ConfigError
from orchestra.core.home import orchestra_home, sqlite_timeout
from orchestra.engine.call_log import MemoryCallLog, PostgresCallLog, SqliteCallLog
from orchestra.engine.outcomes import JOB_KEY
from orchestra.engine.run_lock import file_run_lock, local_run_lock, postgres_run_lock
from orchestra.observability.redact import url_without_password
from orchestra.tools.invoke import CallLog

__all__ = ["CHECKPOINTER_ENV", "Checkpoints", "CheckpointSpec", "finished_jobs"]

CHECKPOINTER_ENV = "ORCHESTRA_CHECKPOINTER"
"""Environment variable naming the default checkpoint store of every team."""

Saver = BaseCheckpointSaver[Any]

RETURN_CHANNEL = "__return__"
"""Where LangGraph writes a task's return value."""


class Checkpoints:
    """A place for checkpoints that opens a LangGraph saver per run.

    Use :meth:`sqlite`, :meth:`postgres`, :meth:`memory` or :meth:`of` (a saver you
    made); :meth:`parse` reads ``"memory"``, ``"sqlite:///path.db"``, a ``.db`` path or a
    ``postgresql://`` URL.
    """

    def __init__(self, kind: str, target: str | None = None, saver: Saver | None = None) -> None:
        self.kind = kind
        self.target = target
        self._saver = saver
        self._set_up = False

    @classmethod
    def default(cls) -> Checkpoints:
        """The store of every team that names none.

        ``$ORCHESTRA_CHECKPOINTER`` when set (anything :meth:`parse` reads, e.g. a
        ``postgresql://`` URL), else SQLite in ``$ORCHESTRA_HOME/runs.db`` (default
        ``.orchestra/runs.db``).
        """
        configured = os.environ.get(CHECKPOINTER_ENV, "").strip()
        if configured:
            return cls.parse(configured)
        return cls.sqlite(orchestra_home() / "runs.db")

    @classmethod
    def sqlite(cls, path: str | Path) -> Checkpoints:
        """Checkpoints in a SQLite file (created with its folder on first use)."""
        return cls("sqlite", str(path))

    @classmethod
    def postgres(cls, url: str) -> Checkpoints:
        """Checkpoints in a Postgres database (``postgresql://user:pw@host:5432/db``).

        Needs the ``postgres`` extra (``pip install 'orchestra-teams[postgres]'``). The
        tables are created on first use. Several processes can share the database: a
        run started in one can be resumed in another.
        """
        return cls("postgres", url)

    @classmethod
    def memory(cls) -> Checkpoints:
        """Checkpoints in this process only (gone when it exits)."""
        return cls("memory", saver=InMemorySaver())

    @classmethod
    def of(cls, saver: Saver) -> Checkpoints:
        """A saver you made and manage (it must work on the loop the team runs on)."""
        return cls("saver", saver=saver)

    @classmethod
    def parse(cls, spec: CheckpointSpec) -> Checkpoints:
        """Checkpoints from what ``Team(checkpointer=...)`` accepts.

        Raises:
            ConfigError: a string that names no known kind of store.
        """
        if spec is None:
            return cls.default()
        if isinstance(spec, Checkpoints):
            return spec
        if isinstance(spec, BaseCheckpointSaver):
            return cls.of(spec)
        text = str(spec)
        if text == "memory":
            return cls.memory()
        if text.startswith(("postgresql://", "postgres://")):
            return cls.postgres(text)
        if text.startswith("sqlite:///"):
            return cls.sqlite(text.removeprefix("sqlite:///"))
        if isinstance(spec, Path) or text.endswith((".db", ".sqlite", ".sqlite3")):
            return cls.sqlite(text)
        raise ConfigError(
            f"unknown checkpointer {text!r}: use 'memory', a .db path, 'sqlite:///PATH'"
            " or a postgresql:// URL"
        )

    @property
    def durable(self) -> bool:
        """Whether checkpoints outlive the process."""
        return self.kind in ("sqlite", "postgres")

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Saver]:
        """A saver for the current event loop, closed when the block ends."""
        if self._saver is not None:
            yield self._saver
            return
        opener = self._postgres if self.kind == "postgres" else self._sqlite
        async with opener() as saver:
            yield saver

    def lock(self, run_id: str) -> AbstractAsyncContextManager[None]:
        """Hold run ``run_id`` for writing; :class:`RunBusyError` when another holds it.

        See :mod:`orchestra.engine.run_lock`: a Postgres advisory lock, a file lock beside
        a SQLite database, or a lock within this process for the other stores.
        """
        if self.kind == "postgres":
            assert self.target is not None
            return postgres_run_lock(self.target, run_id, label=repr(self))
        if self.kind == "sqlite":
            assert self.target is not None
            return file_run_lock(self.target, run_id)
        return local_run_lock(f"{self.kind}:{id(self)}", run_id)

    def call_log(self) -> CallLog:
        """The log of completed side-effecting tool calls that goes with these checkpoints."""
        if self.kind == "sqlite":
            assert self.target is not None
            return SqliteCallLog(self.target)
        if self.kind == "postgres":
            assert self.target is not None
            return PostgresCallLog(self.target)
        return MemoryCallLog()

    @asynccontextmanager
    async def _sqlite(self) -> AsyncIterator[Saver]:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        assert self.target is not None
        Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        # Our own connection, for its lock timeout (aiosqlite's default is 5 s; the call log
        # and run history sharing the file wait sqlite_timeout(), and so must the saver).
        async with aiosqlite.connect(self.target, timeout=sqlite_timeout()) as conn:
            saver = AsyncSqliteSaver(conn)
            try:
                yield saver
            finally:
                await _settle_writes(saver)

    @asynccontextmanager
    async def _postgres(self) -> AsyncIterator[Saver]:
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError as exc:
            raise ConfigError(
                "Postgres checkpoints need the postgres extra:"
                " pip install 'orchestra-teams[postgres]'"
            ) from exc
        from psycopg import OperationalError

        assert self.target is not None
        async with AsyncExitStack() as stack:
            try:
                saver = await stack.enter_async_context(
                    AsyncPostgresSaver.from_conn_string(self.target)
                )
                if not self._set_up:
                    await saver.setup()
                    self._set_up = True
            except OperationalError as exc:
                raise ConfigError(f"cannot use the Postgres checkpoints at {self}: {exc}") from exc
            yield saver

    def __repr__(self) -> str:
        where = f": {url_without_password(self.target)}" if self.target else ""
        return f"Checkpoints({self.kind}{where})"


async def _settle_writes(saver: Any) -> None:
    """Let a write in flight finish before the SQLite saver's connection closes.

    A cancelled run can leave LangGraph writing in the background; if the connection
    closed between that write and its commit, the statement still held by its cursor
    would keep the connection, and its write lock, alive, and nothing else could write
    to the file (the run history could not record how the run ended). The saver holds
    its lock across each write and commit, so taking it waits for the write; the
    rollback ends any transaction a cancelled writer left open.
    """
    async with saver.lock:
        with suppress(Exception):
            await saver.conn.rollback()


CheckpointSpec = Checkpoints | Saver | str | Path | None
"""What ``Team(checkpointer=...)`` accepts (see :meth:`Checkpoints.parse`)."""


async def finished_jobs(saver: Saver, run_id: str) -> dict[str, dict[str, Any]]:
    """Results of the jobs that finished in the run's interrupted step, by job name.

    They are the step's pending writes: LangGraph stores each task's return value as it
    finishes, and every job's result carries its name (``orchestra.engine.outcomes.JOB_KEY``).
    """
    found = await saver.aget_tuple({"configurable": {"thread_id": run_id}})
    out: dict[str, dict[str, Any]] = {}
    writes = found.pending_writes or [] if found is not None else []
    for _task, channel, value in writes:
        if channel == RETURN_CHANNEL and isinstance(value, dict) and JOB_KEY in value:
            out[str(value[JOB_KEY])] = value
    return out
