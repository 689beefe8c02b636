"""Errors as one line on stderr and an exit code: the CLI's single place for failures.

Every command runs inside :class:`ErrorsAsLines` (the root command group), so an
exception that leaves any command (run, resume, approve, reject, runs, report, memory,
graph, bench, eval) becomes one line naming what failed, which thing, and how to fix
it, and a documented exit code (docs/reliability.md, "When the CLI fails"). ``--debug``
or ``ORCHESTRA_DEBUG=1`` lets the exception through with its traceback.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from orchestra.core.errors import BudgetExceeded, ConfigError, InputError, OrchestraError
from orchestra.observability.redact import Redactor
from orchestra.observability.terminal import one_line

__all__ = [
    "DEBUG_ENV",
    "EXIT_BUDGET",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "ErrorsAsLines",
    "Failure",
    "debugging",
    "describe",
    "say_error",
]

DEBUG_ENV = "ORCHESTRA_DEBUG"
"""Set to ``1`` to see the traceback of any error (as ``--debug`` does)."""

EXIT_FAILED = 1
"""The run failed, or an unexpected error (a bug: ``--debug`` shows where)."""
EXIT_USAGE = 2
"""Bad input or configuration: a target, a goal, a run id, a file, a server, the run store."""
EXIT_BUDGET = 3
"""The run's budget ran out."""

_MAX_LINE = 600
"""Longest message printed; ``--debug`` shows all of it."""


@dataclass(frozen=True, slots=True)
class Failure:
    """How the CLI reports an exception: its exit code and its one line."""

    code: int
    line: str


def debugging(ctx: typer.Context | None = None) -> bool:
    """Whether ``--debug`` was given (on the root command) or ``ORCHESTRA_DEBUG`` is set."""
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return bool(ctx is not None and ctx.find_root().params.get("debug"))


def describe(exc: BaseException) -> Failure:
    """The exit code and the one line (without the ``error:`` prefix) for ``exc``."""
    exc = _leaf(exc)
    if isinstance(exc, BudgetExceeded):
        return Failure(EXIT_BUDGET, f"{exc} (a larger --max-* budget and `orchestra resume` go on)")
    if isinstance(exc, (InputError, ConfigError)):
        return Failure(EXIT_USAGE, str(exc))
    if isinstance(exc, OrchestraError):
        return Failure(EXIT_FAILED, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):
        return Failure(EXIT_USAGE, _os_error(exc))
    if isinstance(exc, sqlite3.Error):
        return Failure(
            EXIT_USAGE,
            f"a SQLite database cannot be used ({type(exc).__name__}: {exc}); the run store is"
            " $ORCHESTRA_HOME/runs.db: move a broken one aside or point ORCHESTRA_HOME elsewhere",
        )
    if type(exc).__module__.split(".")[0] in _SERVER_MODULES:
        return Failure(EXIT_USAGE, _server_error(exc))
    return Failure(
        EXIT_FAILED,
        f"unexpected {type(exc).__name__}: {exc} (orchestra --debug ... shows the traceback)",
    )


_SERVER_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2", "mcp")
"""Libraries whose errors mean a server could not be reached or talked to."""


def _server_error(exc: BaseException) -> str:
    try:
        url = f" at {exc.request.url}"  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        url = ""
    return (
        f"a server{url} failed: {type(exc).__name__}: {exc or 'no detail'} (is it running?"
        " orchestra --debug ... shows which call)"
    )


def _leaf(exc: BaseException) -> BaseException:
    """The exception that matters in a group: an orchestra one first, else the first."""
    while isinstance(exc, BaseExceptionGroup):
        leaves = list(exc.exceptions)
        exc = next((e for e in leaves if isinstance(e, OrchestraError)), leaves[0])
    return exc


def _os_error(exc: OSError) -> str:
    what = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return f"{what} ({type(exc).__name__})"
    where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
    fix = {
        PermissionError: "check its permissions",
        FileNotFoundError: "check the path or command",
        NotADirectoryError: "a part of the path is a file, not a folder",
        IsADirectoryError: "it is a folder, not a file",
        FileExistsError: "a file is where a folder should be",
    }.get(type(exc), "check the path")
    return f"cannot use {where}: {what} ({fix})"


def say_error(line: str, *, prefix: str = "error") -> None:
    """Write ``prefix: line`` to stderr as one clean, redacted line."""
    text = one_line(_REDACT(line), _MAX_LINE)
    sys.stderr.write(f"{prefix}: {text}\n")
    sys.stderr.flush()


_REDACT = Redactor()


class ErrorsAsLines(TyperGroup):
    """The root command group: any exception out of a command becomes one line and a code."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; report what escapes it unless debugging."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # typer's own signals (exit codes, usage errors, aborts) are typer's to print
            if type(exc).__module__.split(".")[0] in ("typer", "click") or debugging(ctx):
                raise
            failure = describe(exc)
            say_error(failure.line)
            raise typer.Exit(failure.code) from None
