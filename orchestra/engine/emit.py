"""Sending typed events to whoever streams the run.

Events go to the run's sink when one is set (:func:`event_sink`, as ``Team`` does for
every run): a call on the event loop, about 2 µs an event. Without one (a graph driven
by hand) they go to LangGraph's custom stream, which wakes the loop through its
thread-safe queue: about 25 µs an event, and a run emits some eight per task.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langgraph.config import get_stream_writer
from opentelemetry import trace

from orchestra.core.events import EventBase, Notice, NoticeKind, VerdictGiven
from orchestra.core.tree import Verdict
from orchestra.observability.semconv import ORCHESTRA_TASK_ID
from orchestra.observability.spans import add_event
from orchestra.observability.task_spans import observe_event, shown_id

__all__ = ["Emitter", "EventSink", "current_sink", "event_sink", "queue_sink"]

logger = logging.getLogger("orchestra")

EventSink = Callable[[EventBase], None]
_SINK: ContextVar[EventSink | None] = ContextVar("orchestra_event_sink", default=None)


@contextmanager
def event_sink(sink: EventSink) -> Iterator[None]:
    """Send the events emitted inside the block (graph nodes and jobs included) to ``sink``.

    Graph nodes and LangGraph tasks run in copies of the caller's context, so setting it
    around the graph's stream reaches all of them.
    """
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


def queue_sink(queue: asyncio.Queue[Any]) -> EventSink:
    """A sink putting events on ``queue``, from the loop's thread or any other."""
    loop = asyncio.get_running_loop()
    owner = threading.get_ident()

    def put(event: EventBase) -> None:
        if threading.get_ident() == owner:
            queue.put_nowait(event)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    return put


class Emitter:
    """Builds events for one run and writes them to the run's sink (see the module docstring).

    Create it inside a graph node or task: there the run's sink, or else LangGraph's
    stream writer, is in reach.
    """

    __slots__ = ("_run_id", "_write")

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._write: EventSink = current_sink()

    def __call__(self, event_type: type[EventBase], **fields: Any) -> None:
        """Emit an event of ``event_type`` for this run."""
        event = event_type(run_id=self._run_id, **fields)
        observe_event(event)  # the run's task spans follow the tree through its events
        self._write(event)

    def verdict(self, task_id: str, verdict: Verdict) -> None:
        """Emit a :class:`VerdictGiven` for ``verdict`` on ``task_id``."""
        self(
            VerdictGiven,
            task_id=task_id,
            verdict=verdict.verdict,
            reason=verdict.reason,
            source=verdict.source,
        )

    def notice(self, kind: NoticeKind, message: str, task_id: str | None = None) -> dict[str, Any]:
        """Emit a :class:`Notice` and return it as state data."""
        event = Notice(run_id=self._run_id, kind=kind, message=message, task_id=task_id)
        logger.warning("run %s: %s on task %s: %s", self._run_id, kind, task_id or "-", message)
        add_event(
            trace.get_current_span(),
            "orchestra.notice",
            {"orchestra.notice.kind": kind, ORCHESTRA_TASK_ID: shown_id(task_id)},
            content={"orchestra.notice.message": message},
        )
        self._write(event)
        return event.model_dump(mode="json")


def current_sink() -> EventSink:
    """Where events emitted here go: the run's sink, else LangGraph's stream writer."""
    return _SINK.get() or get_stream_writer()
