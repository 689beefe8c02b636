"""One writer per run: the lock a run holds while it executes or is edited.

LangGraph lets two processes write the same thread: both would append checkpoints and
the run's history would fork. So every run (and every edit of a paused run) first takes
a lock named after its id, in the place its checkpoints live, and holds it to the end:

* Postgres: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of
  its own, so workers on any machine sharing the database exclude each other;
* SQLite: an exclusive ``flock`` on a lock file next to the database (one machine);
* in memory, or a saver of yours: a lock within this process.

A lock is never waited for: a run that is busy raises :class:`RunBusyError` at once. A
process that dies releases its locks with it (the connection closes, the file is let go).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from orchestra.core.errors import ConfigError, RunBusyError

__all__ = ["file_run_lock", "local_run_lock", "postgres_run_lock"]

_HELD_HERE: set[tuple[str, str]] = set()
"""(store, run id) pairs locked by this process: a second holder in the same process is
refused before any file or database lock (those cannot tell two holders of one process
apart in every case)."""


@asynccontextmanager
async def local_run_lock(store: str, run_id: str) -> AsyncIterator[None]:
    """Exclude other holders in this process of ``run_id`` in ``store``."""
    key = (store, run_id)
    if key in _HELD_HERE:
        raise RunBusyError(run_id, "in this process")
    _HELD_HERE.add(key)
    try:
        yield
    finally:
        _HELD_HERE.discard(key)


@asynccontextmanager
async def file_run_lock(database: str | Path, run_id: str) -> AsyncIterator[None]:
    """Exclude every other holder on this machine: a ``flock`` beside the SQLite file."""
    folder = Path(f"{database}.locks")
    path = folder / f"{hashlib.sha256(run_id.encode()).hexdigest()[:32]}.lock"
    async with local_run_lock(str(database), run_id):
        fd = _flock(path, run_id)
        try:
            yield
        finally:
            _unlock(path, fd)


def _flock(path: Path, run_id: str) -> int:
    """An open descriptor of ``path`` holding its exclusive lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunBusyError(run_id, f"locked through {path}") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file as we locked it: lock the new one


def _unlock(path: Path, fd: int) -> None:
    path.unlink(missing_ok=True)  # before the unlock: a waiter re-checks the path
    os.close(fd)


@asynccontextmanager
async def postgres_run_lock(url: str, run_id: str, *, label: str) -> AsyncIterator[None]:
    """Exclude every other holder sharing the database: a Postgres advisory lock.

    ``label`` names the store in errors (without the URL's password).
    """
    from psycopg import AsyncConnection, OperationalError

    async with local_run_lock(url, run_id):
        try:
            conn = await AsyncConnection.connect(url, autocommit=True)
        except OperationalError as exc:
            raise ConfigError(f"cannot use the Postgres checkpoints at {label}: {exc}") from exc
        try:
            key = f"orchestra.run:{run_id}"
            cursor = await conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)
            )
            row = await cursor.fetchone()
            if not (row and row[0]):
                raise RunBusyError(run_id, "another process holds its Postgres lock")
            yield
        finally:
            await conn.close()  # a session's advisory locks end with it
