"""Progress of a running tool call: MCP progress notifications, or a tool's own reports.

The engine says where progress goes for an attempt (:func:`progress_sink`, which turns it
into ``tool_progress`` events); :func:`orchestra.tools.call_tool` binds it to each call
(tool name, idempotency key, trace span); while the call runs, :func:`report_progress`
(which an async ``@tool`` function may call too) and the MCP client's progress callback
reach it. Outside a call, reports go nowhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["ToolProgressUpdate", "progress_sink", "report_progress"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolProgressUpdate:
    """One progress report of a tool call."""

    tool: str
    key: str
    progress: float
    total: float | None = None
    message: str | None = None


ProgressSink = Callable[[ToolProgressUpdate], None]
Reporter = Callable[[float, float | None, str | None], None]

_SINK: ContextVar[ProgressSink | None] = ContextVar("orchestra_progress_sink", default=None)
_REPORTER: ContextVar[Reporter | None] = ContextVar("orchestra_progress_reporter", default=None)


@contextmanager
def progress_sink(sink: ProgressSink | None) -> Iterator[None]:
    """Send the progress of the tool calls made inside the block to ``sink``."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


@contextmanager
def calling(tool: str, key: str, also: Callable[[ToolProgressUpdate], None]) -> Iterator[None]:
    """Bind reports made inside the block to this call (used by ``call_tool``).

    ``also`` hears every update too (the call's trace span). Reports from a worker
    thread are handed to the event loop the call runs on.
    """
    sink = _SINK.get()
    loop = asyncio.get_running_loop()

    def deliver(update: ToolProgressUpdate) -> None:
        also(update)
        if sink is not None:
            sink(update)

    def report(progress: float, total: float | None, message: str | None) -> None:
        update = ToolProgressUpdate(
            tool=tool, key=key, progress=progress, total=total, message=message
        )
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            deliver(update)
        else:
            loop.call_soon_threadsafe(deliver, update)

    token = _REPORTER.set(report)
    try:
        yield
    finally:
        _REPORTER.reset(token)


def current_reporter() -> Reporter | None:
    """The progress reporter of the call this runs in, to hand to another task.

    The MCP client delivers progress from its own reader task, outside the call's
    context: the call looks its reporter up first and passes it on.
    """
    return _REPORTER.get()


def report_progress(
    progress: float, total: float | None = None, message: str | None = None
) -> None:
    """Report the progress of the tool call this runs in (a no-op outside one).

    Shown on the call's line in the live view, as a ``tool_progress`` event and as an
    event on the call's ``execute_tool`` span.
    """
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(progress, total, message)
