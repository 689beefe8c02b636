"""Where orchestra keeps its files on this machine, and one-line errors when it cannot.

The run store (``runs.db``: history, checkpoints, tool-call log) and everything else
live in ``$ORCHESTRA_HOME``. A store that cannot be used (a file that is not a SQLite
database, a read-only folder, ``ORCHESTRA_HOME`` pointing at a file) is a
:class:`~orchestra.core.errors.ConfigError` naming the file and what to do, raised
before anything is written. Every SQLite connection waits one timeout for a busy file
(:func:`sqlite_timeout`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from orchestra.core.errors import ConfigError

__all__ = [
    "HOME_ENV",
    "SQLITE_TIMEOUT_ENV",
    "SQLITE_TIMEOUT_S",
    "check_store",
    "orchestra_home",
    "sqlite_timeout",
    "store_error",
]

HOME_ENV = "ORCHESTRA_HOME"
"""Where orchestra keeps its files (default: ``.orchestra`` in the working directory)."""

SQLITE_TIMEOUT_S = 30.0
"""How long every SQLite connection of orchestra waits for a lock held by someone else.

The checkpoint saver, the tool-call log and the run history share ``runs.db``; a writer
in another process (another run, ``orchestra runs prune``, a ``sqlite3`` shell) holds the
file's write lock for a moment, and each of them waits up to this long for it before it
fails with ``database is locked``."""

SQLITE_TIMEOUT_ENV = "ORCHESTRA_SQLITE_TIMEOUT"
"""Set to a number of seconds to wait longer (or shorter) than :data:`SQLITE_TIMEOUT_S`."""

_ELSEWHERE = f"or point {HOME_ENV} (or --db) elsewhere"


def orchestra_home() -> Path:
    """``$ORCHESTRA_HOME``, else ``./.orchestra``."""
    return Path(os.environ.get(HOME_ENV) or ".orchestra")


def sqlite_timeout() -> float:
    """Seconds a SQLite connection waits for a lock: ``$ORCHESTRA_SQLITE_TIMEOUT`` or 30.

    Raises:
        ConfigError: ``$ORCHESTRA_SQLITE_TIMEOUT`` is not a positive number.
    """
    raw = os.environ.get(SQLITE_TIMEOUT_ENV, "").strip()
    if not raw:
        return SQLITE_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(
            f"{SQLITE_TIMEOUT_ENV}={raw!r} is not a number of seconds; use e.g. 30 or 120"
        )
    return seconds


def check_store(path: str | Path, *, write: bool) -> None:
    """Raise a one-line ``ConfigError`` if the SQLite file ``path`` cannot be used.

    Reads only: nothing is created or changed. ``write`` also checks that the file (or
    the folder it will be made in) can be written.

    Raises:
        ConfigError: a part of the path is a file, the file is not a SQLite database or
            cannot be read, or (``write``) it or its folder cannot be written.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path:
        if not existing.is_dir():
            raise ConfigError(
                f"{existing} is a file, not a folder, so the run store {path} cannot be made"
                f" there: move {existing} aside {_ELSEWHERE}"
            )
        if write and not os.access(existing, os.W_OK | os.X_OK):
            raise _read_only(path, existing)
        return
    if path.is_dir():
        raise ConfigError(
            f"the run store {path} is a folder, not a SQLite database: move it aside {_ELSEWHERE}"
        )
    try:
        with open(path, "rb") as file:
            header = file.read(16)
    except OSError as exc:
        raise store_error(path, exc) from exc
    if header and header != b"SQLite format 3\x00":
        raise _not_a_database(path, "file is not a database")
    if write and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        raise _read_only(path, path if not os.access(path, os.W_OK) else path.parent)


def store_error(path: str | Path, exc: BaseException) -> ConfigError:
    """The one-line ``ConfigError`` for ``exc``, met while using the SQLite file ``path``."""
    path = Path(path)
    if isinstance(exc, NotADirectoryError):
        return ConfigError(
            f"a part of {path} is a file, not a folder, so the run store cannot be made there:"
            f" move it aside {_ELSEWHERE}"
        )
    if isinstance(exc, IsADirectoryError):
        return ConfigError(
            f"the run store {path} is a folder, not a SQLite database: move it aside {_ELSEWHERE}"
        )
    if isinstance(exc, PermissionError) or _says(exc, "readonly", "read-only", "unable to open"):
        where = Path(exc.filename) if isinstance(exc, OSError) and exc.filename else path
        return _read_only(path, where, str(exc) or type(exc).__name__)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return _not_a_database(path, str(exc))
    return ConfigError(f"cannot use the run store {path}: {exc} ({type(exc).__name__})")


def _says(exc: BaseException, *words: str) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (OSError, sqlite3.Error)) and any(w in text for w in words)


def _read_only(path: Path, where: Path, why: str = "read-only") -> ConfigError:
    return ConfigError(
        f"cannot write the run store {path} ({why}): make {where} writable {_ELSEWHERE}"
    )


def _not_a_database(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"the run store {path} is not a usable SQLite database ({why}): move it aside {_ELSEWHERE}"
    )
