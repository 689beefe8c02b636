"""The spans orchestra writes, through the OpenTelemetry API only.

Agents, tools and the engine call these helpers; which provider receives the spans,
whether message content is captured and what is redacted come from the
:class:`TraceSettings` active in the run's context (see :func:`use_settings`). With no
SDK provider configured, every span here is a no-op.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeAlias

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    INVALID_SPAN,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from orchestra.core.plan_selection import PlanSelection
from orchestra.core.search_tree import SearchRecord
from orchestra.core.statement import TaskStatement
from orchestra.core.tree import ROOT_ID, TaskNode, Verdict
from orchestra.core.usage import Usage
from orchestra.observability import semconv as sc
from orchestra.observability.redact import Redactor
from orchestra.observability.task_spans import (
    TaskSpans,
    current_task_id,
    current_task_spans,
    shown_depth,
    shown_id,
    using_task,
    using_task_spans,
)

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "TraceSettings",
    "add_event",
    "agent_span",
    "chat_span",
    "clear_cut",
    "current_settings",
    "record_error",
    "run_span",
    "set_attributes",
    "set_content",
    "task_attributes",
    "tool_span",
    "trace_run_end",
    "trace_run_usage",
    "trace_plan_selection",
    "trace_search",
    "trace_statement",
    "trace_verdict",
    "use_settings",
]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI instrumentations' standard switch for capturing message content."""

AttributeValue: TypeAlias = str | bool | int | float | Sequence[str] | Sequence[float]
Attributes: TypeAlias = Mapping[str, AttributeValue | None]

_TRACER_NAME = "orchestra"
_MAX_CONTENT_CHARS = 32_000


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """Where a run's spans go and what they may contain.

    Attributes:
        provider: the tracer provider (None: OpenTelemetry's global one).
        capture_content: put prompts, replies, tool arguments and results, goals and task
            titles on spans. Off unless the user opts in.
        redactor: applied to every string orchestra puts on a span, content or not.
    """

    provider: TracerProvider | None = None
    capture_content: bool = False
    redactor: Redactor = field(default_factory=Redactor)
    tracer: Tracer = field(init=False, repr=False, compare=False)
    """orchestra's tracer on this provider (looked up once: spans are made often)."""

    def __post_init__(self) -> None:
        tracer = trace.get_tracer(_TRACER_NAME, tracer_provider=self.provider)
        object.__setattr__(self, "tracer", tracer)

    def tracing_off(self) -> bool:
        """No span can record: a no-op provider, or none given and no global one set."""
        provider = self.provider if self.provider is not None else trace.get_tracer_provider()
        return isinstance(provider, NoOpTracerProvider | ProxyTracerProvider)

    @classmethod
    def from_env(cls) -> TraceSettings:
        """The global provider, content capture from ``OTEL_INSTRUMENTATION_GENAI_...``."""
        return cls(capture_content=_env_flag(CAPTURE_CONTENT_ENV))


_SETTINGS: ContextVar[TraceSettings | None] = ContextVar("orchestra_trace_settings", default=None)
_DEFAULT: list[TraceSettings] = []


def current_settings() -> TraceSettings:
    """The settings of the run in this context, else defaults from the environment."""
    found = _SETTINGS.get()
    if found is not None:
        return found
    if not _DEFAULT:
        _DEFAULT.append(TraceSettings.from_env())
    return _DEFAULT[0]


@contextmanager
def use_settings(settings: TraceSettings) -> Iterator[None]:
    """Make ``settings`` the current ones inside the ``with`` block (in this context)."""
    token = _SETTINGS.set(settings)
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def _clean(value: AttributeValue, redact: Redactor) -> AttributeValue:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (bool, int, float)):
        return value
    if all(isinstance(v, (int, float)) for v in value):
        return [float(v) for v in value]  # numbers: nothing to redact
    return [redact(str(v)) for v in value]


def set_attributes(span: Span, attributes: Attributes) -> None:
    """Set ``attributes`` on ``span``, redacted; None values are left out."""
    if not span.is_recording():
        return
    redact = current_settings().redactor
    span.set_attributes({k: _clean(v, redact) for k, v in attributes.items() if v is not None})


def set_content(span: Span, key: str, value: object) -> None:
    """Set a content attribute (JSON unless a string), only when content capture is on.

    ``value`` may be a function of no arguments: it is called only when captured.
    """
    settings = current_settings()
    if value is None or not settings.capture_content or not span.is_recording():
        return
    if callable(value):
        value = value()
        if value is None:
            return
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    span.set_attribute(key, settings.redactor.clip(text, _MAX_CONTENT_CHARS))


def clear_cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, never inside a secret.

    For text cut before it reaches a span (a title, a one-line summary): redaction on the
    span cannot recognise a stub of a key, so the cut goes before the key instead (see
    :meth:`~orchestra.observability.redact.Redactor.safe_cut`).
    """
    return text[: current_settings().redactor.safe_cut(text, limit)]


def add_event(
    span: Span, name: str, attributes: Attributes, content: Attributes | None = None
) -> None:
    """Add a span event; ``content`` attributes only when content capture is on."""
    if not span.is_recording():
        return
    settings = current_settings()
    merged = dict(attributes)
    if content and settings.capture_content:
        merged.update(content)
    span.add_event(
        name, {k: _clean(v, settings.redactor) for k, v in merged.items() if v is not None}
    )


def record_error(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed with ``exc``: type always, message and stack redacted."""
    if not span.is_recording():
        return
    redact = current_settings().redactor
    message = redact(str(exc))
    span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
    span.add_event(
        "exception",
        {
            "exception.type": type(exc).__qualname__,
            "exception.message": message,
            "exception.stacktrace": redact("".join(traceback.format_exception(exc))),
        },
    )
    span.set_status(Status(StatusCode.ERROR, message[:500]))


@contextmanager
def _span(
    name: str,
    kind: SpanKind,
    attributes: Attributes,
    context: Context | None = None,
    *,
    ok_on_exit: bool = True,
) -> Iterator[Span]:
    """A current span that records (redacted) any exception that leaves the block.

    Its parent is the current span, or the one current in ``context`` when given. A block
    that ends without an exception leaves the span OK unless something in it set its
    status (``ok_on_exit=False``: spans whose outcome a verdict decides stay as set).
    """
    settings = current_settings()
    if settings.tracing_off():
        yield INVALID_SPAN  # nothing is configured to record spans: skip making one
        return
    span = settings.tracer.start_span(name, context=context, kind=kind)
    if not span.is_recording() and not span.get_span_context().is_valid:
        # Tracing is off (a no-op tracer and no trace to join): making this span current
        # would change nothing that anyone can see, and costs more than the span.
        yield span
        return
    with trace.use_span(
        span, end_on_exit=True, record_exception=False, set_status_on_exception=False
    ):
        set_attributes(span, attributes)
        try:
            yield span
        except BaseException as exc:
            record_error(span, exc)
            raise
        if ok_on_exit:
            _ok_unless_set(span)


def _ok_unless_set(span: Span) -> None:
    status = getattr(span, "status", None)  # an SDK span's; the API's Span hides it
    if status is not None and status.status_code is StatusCode.UNSET:
        span.set_status(StatusCode.OK)


def task_attributes(task: TaskNode) -> dict[str, AttributeValue | None]:
    """What locates a span in the task tree: id, parent id, depth, role."""
    return {
        sc.ORCHESTRA_TASK_ID: shown_id(task.id),
        sc.ORCHESTRA_TASK_PARENT_ID: shown_id(task.parent_id),
        sc.ORCHESTRA_TASK_DEPTH: shown_depth(task.depth),
        sc.ORCHESTRA_TASK_ROLE: task.role,
    }


@contextmanager
def agent_span(
    agent: str,
    *,
    task: TaskNode | None = None,
    role: str | None = None,
    attempt: int | None = None,
    run_id: str | None = None,
) -> Iterator[Span]:
    """An ``invoke_agent`` span for one agent's work (planner, executor, critic, ...).

    The agent's name on the span is the role when there is one (``invoke_agent writer``),
    else the agent kind; ``orchestra.agent`` always says the kind. With content capture on,
    an executor's span carries its task (title and description) as ``input.value``, which
    Phoenix shows as the span's input (its answer is ``output.value``).
    """
    name = role or agent
    attributes: dict[str, AttributeValue | None] = {
        sc.OPERATION_NAME: sc.OP_INVOKE_AGENT,
        sc.AGENT_NAME: name,
        "orchestra.agent": agent,
        sc.CONVERSATION_ID: run_id,
        sc.ORCHESTRA_RUN_ID: run_id,
        sc.ORCHESTRA_ATTEMPT: attempt,
    }
    if task is not None:
        attributes.update(task_attributes(task))
    if role is not None:
        attributes[sc.ORCHESTRA_TASK_ROLE] = role
    context = _task_context(task)
    with (
        _span(
            f"{sc.OP_INVOKE_AGENT} {name}",
            SpanKind.INTERNAL,
            attributes,
            context,
            ok_on_exit=agent not in ATTEMPT_AGENTS,
        ) as span,
        using_task(task.id) if task is not None else nullcontext(),
        _attempt_of(span) if agent in ATTEMPT_AGENTS else nullcontext(),
    ):
        if task is not None:
            set_content(span, sc.ORCHESTRA_TASK_TITLE, lambda: _title(task))
            if agent == "executor":
                set_content(span, sc.OPENINFERENCE_INPUT, lambda: _task_text(task))
        yield span


ATTEMPT_AGENTS = frozenset({"executor", "lead", "synthesizer", "team"})
"""Agents whose span is an attempt at a task's result: the critic's verdict on that
result sets the span's status (OK, or ERROR with the reason)."""

_ATTEMPT: ContextVar[Span | None] = ContextVar("orchestra_attempt_span", default=None)


@contextmanager
def _attempt_of(span: Span) -> Iterator[None]:
    token = _ATTEMPT.set(span)
    try:
        yield
    finally:
        _ATTEMPT.reset(token)


def _task_context(task: TaskNode | None) -> Context | None:
    """Where an agent span for ``task`` goes: inside the task's span.

    Not when the code is already working for that task (a critic inside the attempt it
    judges stays inside that attempt's span).
    """
    registry = current_task_spans()
    if task is None or registry is None or current_task_id() == task.id:
        return None
    registry.know_node(task)
    return registry.context_for(task.id)


def _title(task: TaskNode) -> str:
    """The task's title; cut again, clear of secrets, when it is its description cut short.

    (The root's title is the goal's first 120 characters: a key there could be cut in two.)
    """
    title, description = task.title, task.description
    if len(description) > len(title) and description.startswith(title):
        return clear_cut(description, len(title))
    return title


def _task_text(task: TaskNode) -> str:
    """A task as its executor is asked it: the title, and the description when it says more."""
    if task.description.strip() in ("", task.title.strip()):
        return task.title
    return f"{task.title}\n\n{task.description}"


@contextmanager
def chat_span(
    model: str, *, provider: str, agent: str, task_id: str | None = None
) -> Iterator[Span]:
    """A ``chat`` span around one model call."""
    attributes: dict[str, AttributeValue | None] = {
        sc.OPERATION_NAME: sc.OP_CHAT,
        sc.PROVIDER_NAME: provider,
        sc.REQUEST_MODEL: model,
        "orchestra.agent": agent,
        sc.ORCHESTRA_TASK_ID: shown_id(task_id or current_task_id()),
    }
    with _span(f"{sc.OP_CHAT} {model}", SpanKind.CLIENT, attributes) as span:
        yield span


@contextmanager
def tool_span(
    tool: str, *, call_id: str | None = None, description: str | None = None
) -> Iterator[Span]:
    """An ``execute_tool`` span around one tool call."""
    attributes: dict[str, AttributeValue | None] = {
        sc.OPERATION_NAME: sc.OP_EXECUTE_TOOL,
        sc.TOOL_NAME: tool,
        sc.TOOL_TYPE: "function",
        sc.TOOL_CALL_ID: call_id,
        sc.TOOL_DESCRIPTION: description,
        sc.ORCHESTRA_TASK_ID: shown_id(current_task_id()),
    }
    with _span(f"{sc.OP_EXECUTE_TOOL} {tool}", SpanKind.INTERNAL, attributes) as span:
        yield span


def trace_statement(span: Span, statement: TaskStatement) -> None:
    """The refiner's task statement on its span: sizes always, the text as content."""
    set_attributes(
        span,
        {
            f"{sc.ORCHESTRA_STATEMENT}.constraints": len(statement.constraints),
            f"{sc.ORCHESTRA_STATEMENT}.deliverables": len(statement.deliverables),
            f"{sc.ORCHESTRA_STATEMENT}.acceptance_criteria": len(statement.acceptance_criteria),
        },
    )
    set_content(span, sc.ORCHESTRA_STATEMENT, statement.model_dump_json())
    set_content(span, sc.OPENINFERENCE_OUTPUT, statement.render())


def trace_plan_selection(span: Span, selection: PlanSelection) -> None:
    """How the plan was chosen among samples, on the planner's span."""
    scores = [c.score for c in selection.candidates if c.score is not None]
    set_attributes(
        span,
        {
            "orchestra.plan.samples": selection.k,
            "orchestra.plan.rejected_samples": len(selection.rejected),
            "orchestra.plan.candidates": len(selection.candidates),
            "orchestra.plan.chosen": selection.chosen,
            "orchestra.plan.chosen_by": selection.chosen_by,
            "orchestra.plan.scores": scores or None,
            "orchestra.plan.agreement": [c.agreement for c in selection.candidates],
            "orchestra.plan.stage_tokens": selection.usage.total_tokens,
            "orchestra.plan.single_shot_tokens": selection.single_shot_usage.total_tokens,
        },
    )
    set_content(span, "orchestra.plan.choice_reason", selection.reason)


def trace_search(span: Span, record: SearchRecord) -> None:
    """A workflow search on its attempt's span: totals, and one event per node of the tree.

    Each node's event holds its place (id, parent, depth) and numbers (visits, mean,
    score), so a dashboard can redraw what was tried and why the winner won; what the step
    was (the model's text or tool call) and why candidates were rejected are content.
    """
    set_attributes(
        span,
        {
            "orchestra.search.nodes": len(record.nodes),
            "orchestra.search.evaluations": record.evaluations,
            "orchestra.search.stop_reason": record.stop_reason,
            "orchestra.search.best_node": record.best_node,
            "orchestra.search.best_score": record.best_score,
        },
    )
    for node in record.nodes:
        add_event(
            span,
            "orchestra.search.node",
            {
                "orchestra.search.node.id": node.id,
                "orchestra.search.node.parent": node.parent,
                "orchestra.search.node.depth": node.depth,
                "orchestra.search.node.visits": node.visits,
                "orchestra.search.node.mean": node.mean,
                "orchestra.search.node.score": node.score,
                "orchestra.search.node.rejected": len(node.rejected),
            },
            content={
                "orchestra.search.node.step": node.step,
                "orchestra.search.node.rejected_reasons": [why for _, why in node.rejected] or None,
            },
        )


def trace_verdict(span: Span, verdict: Verdict) -> None:
    """A verdict as a ``gen_ai.evaluation.result`` event (reason: content only).

    The evaluation's name is the verdict's source (``critic`` or ``check:<name>``). The
    attempt the verdict judges (the executor's, lead's or synthesizer's span around this
    one, or ``span`` itself) gets its status from it: OK when it passed, else ERROR with
    the source and reason (the verdict's kind alone unless content capture is on).
    """
    set_attributes(
        span,
        {sc.ORCHESTRA_TASK_STATUS: verdict.verdict, "orchestra.verdict.source": verdict.source},
    )
    add_event(
        span,
        sc.EVALUATION_EVENT,
        {sc.EVALUATION_NAME: verdict.source, sc.EVALUATION_SCORE_LABEL: verdict.verdict},
        content={sc.EVALUATION_EXPLANATION: verdict.reason},
    )
    attempt = _ATTEMPT.get() or span
    if not attempt.is_recording():
        return
    if verdict.verdict == "pass":
        attempt.set_status(StatusCode.OK)
        return
    settings = current_settings()
    reason = verdict.reason if settings.capture_content else "no reason shown"
    attempt.set_status(
        StatusCode.ERROR,
        settings.redactor(f"{verdict.source}: {verdict.verdict}: {reason}")[:500],
    )


@contextmanager
def run_span(*, team: str, run_id: str, goal: str) -> Iterator[Span]:
    """The span of a whole run (``invoke_workflow <team>``); every other span is inside it.

    It stands for the goal (``orchestra.task.id`` is ``root``); inside it, a span per task
    nests as the task tree nests, and agents' spans go in the span of their task.
    """
    attributes: dict[str, AttributeValue | None] = {
        sc.OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
        sc.WORKFLOW_NAME: team,
        sc.CONVERSATION_ID: run_id,
        sc.ORCHESTRA_RUN_ID: run_id,
        sc.ORCHESTRA_TASK_ID: shown_id(ROOT_ID),
        # Phoenix maps gen_ai.* operations to its span kinds but has none for a workflow.
        sc.OPENINFERENCE_SPAN_KIND: "CHAIN",
    }
    with _span(f"{sc.OP_INVOKE_WORKFLOW} {team}", SpanKind.INTERNAL, attributes) as span:
        set_content(span, sc.ORCHESTRA_GOAL, goal)
        set_content(span, sc.OPENINFERENCE_INPUT, goal)
        if not span.is_recording():
            yield span
            return
        # the goal's task spans nest in this one (see orchestra.observability.task_spans)
        with using_task_spans(TaskSpans(span, run_id)):
            yield span


def trace_run_end(span: Span, status: str, reason: str | None, output: str | None) -> None:
    """The run's status and answer on its span.

    ERROR when it failed or ran out of budget; not when it waits for a person, or a person
    rejected its plan.
    """
    set_attributes(span, {sc.ORCHESTRA_RUN_STATUS: status})
    set_content(span, sc.OPENINFERENCE_OUTPUT, output)
    if status not in ("succeeded", "awaiting_approval", "rejected"):
        span.set_status(StatusCode.ERROR, current_settings().redactor(reason or status)[:500])


def trace_run_usage(span: Span, usage: Usage) -> None:
    """The run's total tokens, model calls and cost on its span.

    Under orchestra's own names: ``gen_ai.usage.*`` stays on the ``chat`` spans, so a
    dashboard summing tokens over a trace counts each call once.
    """
    set_attributes(
        span,
        {
            "orchestra.usage.input_tokens": usage.input_tokens,
            "orchestra.usage.cached_input_tokens": usage.cached_input_tokens,
            "orchestra.usage.output_tokens": usage.output_tokens,
            "orchestra.usage.model_calls": usage.model_calls,
            "orchestra.usage.cost_usd": usage.cost_usd,
        },
    )
