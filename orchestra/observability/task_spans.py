"""One span per task node, nested as the task tree nests.

A run's trace reads like its task tree: the run span holds a span for each top-level
task, which holds its subtasks' spans, and so on down; every agent's span (lead,
executor, critic, role designer, re-planner) sits inside the span of the task it serves.

The engine does not open these spans itself. A :class:`TaskSpans` registry lives in the
run's context (:func:`run_span` makes one): it learns the tree's shape from the run's
events (``task_planned`` carries each task's parent), opens a task's span the first time
anything needs it (an agent working on the task or on a task below it), and ends it when
the task's final event arrives (``task_finished``: OK; ``task_failed``: ERROR; replaced
by a re-plan: ERROR). Jobs run as LangGraph tasks in copies of the run's context, so the
ambient current span there is the run span: agent spans take their parent from the
registry instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode

from orchestra.core.events import (
    EventBase,
    LeadAssigned,
    Replanned,
    RoleAssigned,
    RunFinished,
    TaskDecomposed,
    TaskEscalated,
    TaskFailed,
    TaskFinished,
    TaskIntegrating,
    TaskPlanned,
    TaskStarted,
    VerdictGiven,
)
from orchestra.core.nesting import nested_id
from orchestra.core.tree import ROOT_ID, TaskNode, TaskTree
from orchestra.observability import semconv as sc

__all__ = [
    "TaskSpans",
    "current_task_id",
    "current_task_spans",
    "observe_event",
    "task_span_name",
    "using_task",
    "using_task_spans",
]

_TITLE_CHARS = 60

_REGISTRY: ContextVar[TaskSpans | None] = ContextVar("orchestra_task_spans", default=None)
_TASK: ContextVar[str | None] = ContextVar("orchestra_current_task", default=None)
_NESTING: ContextVar[tuple[str, int] | None] = ContextVar("orchestra_span_nesting", default=None)
"""(delegated task id, its depth) when the spans made here are a sub-team's run's."""


@contextmanager
def nested_under(task_id: str, depth: int) -> Iterator[None]:
    """Spans made inside the block are a sub-team's run for ``task_id`` (at ``depth``).

    Their task ids, parents and depths are shown as the delegating run names them
    (``rules/find`` at depth 2, see :mod:`orchestra.core.nesting`), so one trace reads as
    one tree; nested sub-teams compose.
    """
    outer = _NESTING.get()
    if outer is not None:
        task_id, depth = nested_id(outer[0], task_id), outer[1] + depth
    token = _NESTING.set((task_id, depth))
    try:
        yield
    finally:
        _NESTING.reset(token)


def shown_id(task_id: str | None) -> str | None:
    """``task_id`` as the outermost run names it (itself outside a sub-team's run)."""
    nesting = _NESTING.get()
    return task_id if nesting is None else nested_id(nesting[0], task_id)


def shown_depth(depth: int) -> int:
    """A depth as the outermost run counts it."""
    nesting = _NESTING.get()
    return depth if nesting is None else depth + nesting[1]


def task_span_name(task_id: str, title: str | None) -> str:
    """``task <id>: <title>``, or ``task <id>`` when the title may not be shown."""
    return f"task {task_id}: {title}" if title else f"task {task_id}"


class TaskSpans:
    """The task spans of one run (see the module docstring).

    Thread-safe: events may be emitted from worker threads.
    """

    def __init__(self, run_span: Span, run_id: str) -> None:
        self._run = run_span
        self._run_id = run_id
        self._parents: dict[str, str | None] = {ROOT_ID: None}
        self._titles: dict[str, str] = {}
        self._depths: dict[str, int] = {ROOT_ID: 0}
        self._spans: dict[str, Span] = {}
        self._ended: set[str] = set()
        self._lock = threading.RLock()

    # -- learning the tree ---------------------------------------------------------

    def know(self, task_id: str, parent_id: str | None, title: str | None = None) -> None:
        """Record where ``task_id`` sits in the tree (and its title, for the span name)."""
        with self._lock:
            self._parents[task_id] = parent_id or ROOT_ID
            if title:
                self._titles[task_id] = title
            self._depths.pop(task_id, None)

    def know_node(self, node: TaskNode) -> None:
        """Record ``node`` unless its place is known already (an agent span's task)."""
        if node.id != ROOT_ID and node.id not in self._parents:
            self.know(node.id, node.parent_id, node.title)

    def know_tree(self, tree: TaskTree) -> None:
        """Record every node of ``tree`` (a resumed run's tasks were planned before it)."""
        for node in tree.nodes.values():
            if node.id != ROOT_ID:
                self.know(node.id, node.parent_id, node.title)

    def _depth(self, task_id: str) -> int:
        if task_id not in self._depths:
            parent = self._parents.get(task_id)
            self._depths[task_id] = 1 if parent in (None, ROOT_ID) else self._depth(parent) + 1
        return self._depths[task_id]

    # -- spans ---------------------------------------------------------------------

    def span_for(self, task_id: str) -> Span:
        """The span of ``task_id`` (the run span for the goal), opened on first use."""
        if task_id == ROOT_ID:
            return self._run
        with self._lock:
            found = self._spans.get(task_id)
            if found is not None:
                return found
            parent_id = self._parents.get(task_id) or ROOT_ID
            if parent_id == task_id or task_id in _ancestry(self._parents, parent_id):
                parent_id = ROOT_ID  # never loop on a malformed chain
            parent = self.span_for(parent_id)
            span = self._open(task_id, parent_id, trace.set_span_in_context(parent))
            self._spans[task_id] = span
            return span

    def _open(self, task_id: str, parent_id: str, context: Context) -> Span:
        from orchestra.observability.spans import clear_cut, current_settings, set_attributes

        settings = current_settings()
        title = self._titles.get(task_id) if settings.capture_content else None
        shown = settings.redactor(clear_cut(title, _TITLE_CHARS)) if title else None
        span = settings.tracer.start_span(
            task_span_name(shown_id(task_id) or task_id, shown),
            context=context,
            kind=SpanKind.INTERNAL,
        )
        set_attributes(
            span,
            {
                sc.ORCHESTRA_TASK_ID: shown_id(task_id),
                sc.ORCHESTRA_TASK_PARENT_ID: shown_id(parent_id),
                sc.ORCHESTRA_TASK_DEPTH: shown_depth(self._depth(task_id)),
                sc.ORCHESTRA_RUN_ID: self._run_id,
                sc.OPENINFERENCE_SPAN_KIND: "CHAIN",
            },
        )
        return span

    def context_for(self, task_id: str) -> Context:
        """A context whose current span is ``task_id``'s (to start agent spans in)."""
        return trace.set_span_in_context(self.span_for(task_id))

    def _end(self, task_id: str, ok: bool, status: str, reason: str | None) -> None:
        from orchestra.observability.spans import current_settings, set_attributes

        if task_id == ROOT_ID:
            return  # the run span ends with the run
        with self._lock:
            if task_id in self._ended:
                return
            span = self.span_for(task_id)
            self._ended.add(task_id)
        set_attributes(span, {sc.ORCHESTRA_TASK_STATUS: status})
        if ok:
            span.set_status(StatusCode.OK)
        else:
            settings = current_settings()
            why = settings.redactor(reason)[:500] if reason and settings.capture_content else status
            span.set_status(StatusCode.ERROR, why)
        span.end()

    def _event(self, task_id: str, name: str, attributes: dict[str, str | int | None]) -> None:
        from orchestra.observability.spans import add_event

        add_event(self.span_for(task_id), name, attributes)

    def observe(self, event: EventBase) -> None:
        """Follow the run's event stream: learn the tree, annotate and end task spans."""
        match event:
            case TaskPlanned():
                self.know(event.task_id, event.parent_id, event.title)
            case TaskStarted():
                self.span_for(event.task_id)
            case RoleAssigned():
                self._attribute(event.task_id, {sc.ORCHESTRA_TASK_ROLE: event.role})
            case LeadAssigned():
                self._attribute(
                    event.task_id,
                    {sc.ORCHESTRA_TASK_LEAD: event.role, sc.ORCHESTRA_TASK_KIND: "inner"},
                )
                self._event(event.task_id, sc.LEAD_EVENT, {sc.ORCHESTRA_TASK_LEAD: event.role})
            case TaskIntegrating():
                self._event(
                    event.task_id,
                    sc.INTEGRATION_EVENT,
                    {
                        sc.ORCHESTRA_TASK_LEAD: event.role,
                        "orchestra.integration": event.integration,
                    },
                )
            case VerdictGiven():
                self._event(
                    event.task_id,
                    sc.EVALUATION_EVENT,
                    {sc.EVALUATION_NAME: event.source, sc.EVALUATION_SCORE_LABEL: event.verdict},
                )
            case TaskEscalated():
                self._event(
                    event.task_id,
                    sc.ESCALATION_EVENT,
                    {
                        sc.ORCHESTRA_TASK_ID: shown_id(event.task_id),
                        "orchestra.escalation.from": shown_id(event.from_task_id),
                        "orchestra.escalation.level": event.level,
                    },
                )
            case TaskDecomposed():
                self._event(
                    event.task_id,
                    sc.DECOMPOSITION_EVENT,
                    {"orchestra.decomposition.new_tasks": len(event.new_task_ids)},
                )
            case Replanned():
                self._end(event.task_id, False, "replaced", f"replaced: {event.reason}")
            case TaskFinished():
                self._end(event.task_id, True, "done", None)
            case TaskFailed():
                status = "skipped" if event.skipped else "failed"
                self._end(event.task_id, False, status, event.reason)
            case RunFinished():
                self.close()
            case _:
                pass

    def _attribute(self, task_id: str, attributes: dict[str, str]) -> None:
        from orchestra.observability.spans import set_attributes

        if task_id != ROOT_ID:
            set_attributes(self.span_for(task_id), attributes)

    def close(self) -> None:
        """End every task span still open (the run ended or stopped before its task did)."""
        from orchestra.observability.spans import set_attributes

        with self._lock:
            still_open = [(i, s) for i, s in self._spans.items() if i not in self._ended]
            self._ended.update(i for i, _ in still_open)
        for _, span in still_open:
            set_attributes(span, {sc.ORCHESTRA_TASK_STATUS: "unfinished"})
            span.end()


def _ancestry(parents: dict[str, str | None], task_id: str) -> set[str]:
    seen: set[str] = set()
    node: str | None = task_id
    while node is not None and node not in seen:
        seen.add(node)
        node = parents.get(node)
    return seen


def current_task_spans() -> TaskSpans | None:
    """The task-span registry of the run in this context, if its spans are recorded."""
    return _REGISTRY.get()


@contextmanager
def using_task_spans(registry: TaskSpans) -> Iterator[TaskSpans]:
    """Make ``registry`` the run's task-span registry inside the block; close it after."""
    token = _REGISTRY.set(registry)
    try:
        yield registry
    finally:
        _REGISTRY.reset(token)
        registry.close()


def observe_event(event: EventBase) -> None:
    """Let the run's task spans follow ``event`` (nothing when spans are not recorded)."""
    registry = _REGISTRY.get()
    if registry is not None:
        registry.observe(event)


def current_task_id() -> str | None:
    """The task the agent working in this context serves (for tool and chat spans)."""
    return _TASK.get()


@contextmanager
def using_task(task_id: str | None) -> Iterator[None]:
    """Mark the code inside the block as serving ``task_id`` (None: no task)."""
    token = _TASK.set(task_id)
    try:
        yield
    finally:
        _TASK.reset(token)
