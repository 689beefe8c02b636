"""Where orchestra keeps its files on this machine, and how long it waits for a busy one."""

from __future__ import annotations

import os
from pathlib import Path

from orchestra.core.errors import ConfigError

__all__ = [
    "HOME_ENV",
    "SQLITE_TIMEOUT_ENV",
    "SQLITE_TIMEOUT_S",
    "orchestra_home",
    "sqlite_timeout",
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
