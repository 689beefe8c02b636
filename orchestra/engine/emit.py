"""Sending typed events to whoever streams the run."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.config import get_stream_writer
from opentelemetry import trace

from orchestra.core.events import EventBase, Notice, NoticeKind
from orchestra.observability.semconv import ORCHESTRA_TASK_ID
from orchestra.observability.spans import add_event

__all__ = ["Emitter"]

logger = logging.getLogger("orchestra")


class Emitter:
    """Builds events for one run and writes them to LangGraph's custom stream.

    Create it inside a graph node or task (where LangGraph provides the stream writer).
    """

    __slots__ = ("_run_id", "_write")

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._write = get_stream_writer()

    def __call__(self, event_type: type[EventBase], **fields: Any) -> None:
        """Emit an event of ``event_type`` for this run."""
        self._write(event_type(run_id=self._run_id, **fields))

    def notice(self, kind: NoticeKind, message: str, task_id: str | None = None) -> dict[str, Any]:
        """Emit a :class:`Notice` and return it as state data."""
        event = Notice(run_id=self._run_id, kind=kind, message=message, task_id=task_id)
        logger.warning("run %s: %s on task %s: %s", self._run_id, kind, task_id or "-", message)
        add_event(
            trace.get_current_span(),
            "orchestra.notice",
            {"orchestra.notice.kind": kind, ORCHESTRA_TASK_ID: task_id},
            content={"orchestra.notice.message": message},
        )
        self._write(event)
        return event.model_dump(mode="json")
