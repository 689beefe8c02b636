"""Calling a tool on a model's behalf: check, validate, run with a timeout and retries.

Whatever goes wrong (unknown tool, refused tool, invalid arguments, a timeout, an
exception in the tool) becomes an observation the model can read and react to; the run
never crashes on a tool.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import jsonschema
from langchain_core.tools import BaseTool
from opentelemetry.trace import StatusCode
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from orchestra.core.budget import start_tool_call
from orchestra.core.errors import RetryableToolError
from orchestra.core.identity_cache import IdentityCache
from orchestra.observability import semconv as sc
from orchestra.observability.spans import (
    add_event,
    clear_cut,
    set_attributes,
    set_content,
    tool_span,
)
from orchestra.tools.content import MediaPart, render_pieces, split_content
from orchestra.tools.dispatch import LOCAL_RUNNER, ToolRunner
from orchestra.tools.options import ToolOptions, options_of
from orchestra.tools.progress import ToolProgressUpdate, calling

__all__ = [
    "CallLog",
    "ToolOutcome",
    "approved_argument_errors",
    "argument_errors",
    "call_tool",
    "idempotency_key",
    "tool_output",
    "tool_output_text",
    "truncate_for_model",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolOutcome:
    """What came of one tool call (the tool-call log keeps these whole)."""

    tool: str
    args: dict[str, Any]
    ok: bool
    output: str
    """The whole result as text, or the error message when ``ok`` is False. Images and
    sounds stand there as placeholders (``[image/png, 1.2 KiB]``); they are in ``media``."""
    duration_s: float
    key: str = ""
    """Idempotency key: the same call at the same point of the same attempt of a run."""
    tries: int = 1
    side_effects: bool = False
    started_at: datetime | None = None
    error_type: str | None = None
    """Why the call failed: ``refused``, ``invalid_arguments``, ``timeout`` or the
    exception's class name; None when it succeeded."""
    replayed: bool = False
    """The tool was not called: this side-effecting call had completed before (a resumed
    run) and its logged result was returned instead."""
    interrupted: bool = False
    """This side-effecting call was in flight when the run stopped before (logged as
    started, never as completed), so it may or may not have taken effect; ``tries``
    counts the run(s) of it here, after that."""
    media: list[MediaPart] = field(default_factory=list)
    """Images and sounds of the result, whole (see :mod:`orchestra.tools.content`)."""


class CallLog(Protocol):
    """A durable log of side-effecting tool calls by idempotency key, and a result store.

    A call is logged as started before the tool runs and as completed once it returns. A
    resumed run re-executes an interrupted attempt: a call that had completed returns its
    logged result instead of running again, and a call that started and never completed
    (in flight when the run stopped) gets its tool's ``on_interrupted`` policy.
    """

    async def completed(self, key: str) -> ToolOutcome | None:
        """The logged outcome of the call with this key, if it completed."""
        ...

    async def started(self, key: str, tool: str, args: dict[str, Any], at: datetime) -> None:
        """Log a call as started (durably, before the tool runs)."""
        ...

    async def in_flight(self, key: str) -> bool:
        """Whether the call with this key started and never completed."""
        ...

    async def record(self, outcome: ToolOutcome) -> None:
        """Log a call that returned (durably, before its result is used).

        One that failed (``ok`` False) is no longer in flight, but not completed either.
        """
        ...

    async def keep_result(self, text: str) -> str | None:
        """Store a long result once, by content; its reference (None: keep it inline)."""
        ...

    async def result(self, ref: str) -> str | None:
        """The result stored under ``ref``, or None if it is not (or no longer) stored."""
        ...


def idempotency_key(scope: str, seq: int, tool: str, args: Mapping[str, Any]) -> str:
    """A stable key for the ``seq``-th call within ``scope`` (run/task/attempt)."""
    canonical = json.dumps([scope, seq, tool, args], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def tool_output_text(value: object) -> str:
    """A tool's return value as text for the model."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def tool_output(value: object) -> tuple[str, list[MediaPart]]:
    """A tool's return value as text for the model, and its images and sounds apart.

    An :class:`~orchestra.tools.content.Image` or ``Audio`` (or a LangChain image/audio
    content block), alone or in a list with text, is kept as a media part and named in
    the text by a placeholder; anything else is :func:`tool_output_text`.
    """
    pieces, has_media = split_content(value)
    if not has_media:
        return tool_output_text(value), []
    return render_pieces(pieces)


def truncate_for_model(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much was left out.

    The cut never splits a secret (:func:`~orchestra.observability.spans.clear_cut`): the
    model's messages are put on spans, redacted, and a stub of a key would not be
    recognised there.
    """
    if len(text) <= limit:
        return text
    head = clear_cut(text, limit)
    return (
        f"{head}\n[... truncated: {len(text) - len(head)} more characters not shown;"
        " the full result is kept in the run's tool-call log]"
    )


def _json_schema_validator(tool: BaseTool) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(tool.args_schema)


_VALIDATORS: IdentityCache[BaseTool, jsonschema.protocols.Validator] = IdentityCache(
    _json_schema_validator
)
"""One validator per tool whose arguments are a JSON schema (made once, not per call)."""


def argument_errors(tool: BaseTool, args: Mapping[str, Any]) -> str | None:
    """Why ``args`` do not fit ``tool``'s argument schema, or None when they do."""
    schema = tool.args_schema
    if isinstance(schema, dict):  # a JSON schema, e.g. from an MCP server
        validator = _VALIDATORS(tool)
        issues = [
            f"{'.'.join(str(p) for p in e.absolute_path) or 'args'}: {e.message}"
            for e in validator.iter_errors(dict(args))
        ]
        return f"invalid arguments for {tool.name}: {'; '.join(issues)}" if issues else None
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            schema.model_validate(dict(args))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            return f"invalid arguments for {tool.name}: {problems}"
    return None


def approved_argument_errors(tool: BaseTool, args: Mapping[str, Any], key: str) -> str | None:
    """Why arguments a person gave for a call do not fit ``tool``, or None when they do.

    Checked as :func:`call_tool` checks them before the call: with the call's idempotency
    key ``key`` in the argument the tool asked for it under (a person need not give it).
    """
    return argument_errors(tool, _with_key(dict(args), options_of(tool), key))


async def call_tool(
    name: str,
    args: object,
    *,
    available: Mapping[str, BaseTool],
    allowed: frozenset[str] | set[str],
    role: str,
    key: str = "",
    call_id: str | None = None,
    log: CallLog | None = None,
    runner: ToolRunner = LOCAL_RUNNER,
    approved: bool = False,
) -> ToolOutcome:
    """Call tool ``name`` with ``args`` if the role may, and report what happened.

    The allowlist is enforced here, at call time, whatever the prompt said. The call is
    traced as an ``execute_tool`` span (arguments and result only with content capture).
    ``runner`` runs the call itself (in this process by default; see
    :mod:`orchestra.tools.dispatch`). With a ``log`` and a ``key``, a side-effecting call
    is logged as started before it runs and as completed after; a call the log shows in
    flight from before gets the tool's ``on_interrupted`` policy (``"ask"`` runs it again
    only when ``approved``: a person decided so).
    """
    known = available.get(name)
    with tool_span(
        name, call_id=call_id or key or None, description=known.description if known else None
    ) as span:

        def on_span(update: ToolProgressUpdate) -> None:
            add_event(
                span,
                "orchestra.tool.progress",
                {
                    "orchestra.tool.progress": update.progress,
                    "orchestra.tool.progress_total": update.total,
                },
                content={"orchestra.tool.progress_message": update.message},
            )

        with calling(name, key, on_span):
            outcome = await _checked_call(
                name,
                args,
                available=available,
                allowed=allowed,
                role=role,
                key=key,
                log=log,
                runner=runner,
                approved=approved,
            )
        set_attributes(
            span,
            {
                "orchestra.tool.ok": outcome.ok,
                "orchestra.tool.tries": outcome.tries,
                "orchestra.tool.side_effects": outcome.side_effects,
                "orchestra.tool.key": key or None,
                "orchestra.tool.replayed": outcome.replayed,
                "orchestra.tool.interrupted": outcome.interrupted,
                sc.ERROR_TYPE: outcome.error_type,
            },
        )
        set_content(span, sc.TOOL_CALL_ARGUMENTS, outcome.args)
        set_content(span, sc.TOOL_CALL_RESULT, outcome.output)
        if not outcome.ok:
            span.set_status(StatusCode.ERROR, outcome.error_type)
    return outcome


async def _checked_call(
    name: str,
    args: object,
    *,
    available: Mapping[str, BaseTool],
    allowed: frozenset[str] | set[str],
    role: str,
    key: str,
    log: CallLog | None,
    runner: ToolRunner,
    approved: bool = False,
) -> ToolOutcome:
    start = time.perf_counter()
    started_at = datetime.now(UTC)
    arg_dict: dict[str, Any] = dict(args) if isinstance(args, Mapping) else {}
    tool = available.get(name) if name in allowed else None
    options = options_of(tool) if tool is not None else ToolOptions()
    tries = 0
    interrupted = False

    def outcome(
        ok: bool, output: str, error_type: str | None = None, media: list[MediaPart] | None = None
    ) -> ToolOutcome:
        return ToolOutcome(
            tool=name,
            args=arg_dict,
            ok=ok,
            output=output,
            duration_s=time.perf_counter() - start,
            key=key,
            tries=max(tries, 1),
            side_effects=options.side_effects,
            started_at=started_at,
            error_type=error_type,
            interrupted=interrupted,
            media=media or [],
        )

    if tool is None:
        permitted = sorted(t for t in allowed if t in available)
        return outcome(
            False,
            f"refused: tool {name!r} is not available to role {role!r};"
            f" you may use {permitted or 'no tools'}",
            "refused",
        )
    if not isinstance(args, Mapping):
        return outcome(
            False, f"invalid arguments for {name}: expected a JSON object", "invalid_arguments"
        )
    run_args = _with_key(arg_dict, options, key)
    problem = argument_errors(tool, run_args)
    if problem:
        return outcome(False, problem, "invalid_arguments")
    logged = log is not None and options.side_effects and bool(key)
    if logged:
        assert log is not None
        earlier = await log.completed(key)
        if earlier is not None:
            return replace(earlier, replayed=True, duration_s=time.perf_counter() - start)
        interrupted = await log.in_flight(key)
        policy = options.on_interrupted
        if interrupted and (policy == "skip" or (policy == "ask" and not approved)):
            # not logged: the call stays in flight, and a later resume answers the same
            return outcome(False, _interrupted_message(name, policy), "interrupted")
    start_tool_call()  # a call past the run's budget does not start
    if logged:
        assert log is not None
        await log.started(key, name, arg_dict, started_at)
    try:
        if options.retries == 0:  # the common case needs no retry machinery
            tries = 1
            value = await _run_once(runner, tool, run_args, options.timeout_s)
        else:
            retrying = AsyncRetrying(
                stop=stop_after_attempt(options.retries + 1),
                wait=wait_exponential(multiplier=options.backoff_s, max=30),
                retry=retry_if_exception_type((RetryableToolError, *options.retry_on)),
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    tries += 1
                    value = await _run_once(runner, tool, run_args, options.timeout_s)
    except TimeoutError:
        done = outcome(
            False,
            f"error: timed out after {options.timeout_s:g} s; the call was abandoned",
            "timeout",
        )
    except Exception as exc:  # a failing tool is an observation, not a crash
        done = outcome(False, f"error: {type(exc).__name__}: {exc}", type(exc).__name__)
    else:
        text, media = tool_output(value)
        done = outcome(True, text, media=media)
    if logged:  # a failed call is logged as such: no longer in flight, run again on resume
        assert log is not None
        await log.record(done)
    return done


def _with_key(args: dict[str, Any], options: ToolOptions, key: str) -> dict[str, Any]:
    """The arguments the tool runs with: with its idempotency key, if it asked for it.

    The key goes only to the tool: one the model passed under that name is dropped from
    ``args`` (what the log and the record show).
    """
    if options.idempotency_key_arg is None:
        return args
    args.pop(options.idempotency_key_arg, None)
    return {**args, options.idempotency_key_arg: key}


def _interrupted_message(tool: str, policy: str) -> str:
    why = (
        "its tool does not run such calls again"
        if policy == "skip"
        else "a person must decide whether it runs again"
    )
    return (
        f"interrupted: this {tool} call was in flight when the run stopped before, so it"
        f" may or may not have taken effect; it was not made again ({why})."
        " Check its effect before relying on it."
    )


async def _run_once(
    runner: ToolRunner, tool: BaseTool, args: dict[str, Any], timeout_s: float | None
) -> Any:
    # A timeout cancels the runner's await, which cancels the call where it runs;
    # asyncio.timeout, unlike wait_for, needs no extra task per call.
    async with asyncio.timeout(timeout_s):
        return await runner.run(tool, args)
