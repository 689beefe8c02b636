"""How agents call models: one tagged call, and a structured call with a repair loop."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    message_chunk_to_message,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.base import RunnableBindingBase
from opentelemetry.trace import Span
from pydantic import BaseModel, ValidationError

from orchestra.agents.prompts import render
from orchestra.core.budget import charge_model, start_model_call
from orchestra.core.errors import ModelBehaviorError
from orchestra.core.identity_cache import IdentityCache
from orchestra.core.messages import message_text
from orchestra.core.parsing import JSONBoundError, check_json_bounds, extract_json
from orchestra.core.usage import Price, Usage
from orchestra.models.caching import cache_tokens, with_cache_breakpoints
from orchestra.models.call_metadata import call_metadata
from orchestra.models.structured import (
    as_schema_decoder,
    parse_reply,
    shared_json_schema_of,
)
from orchestra.observability import semconv as sc
from orchestra.observability.messages import input_messages, output_messages
from orchestra.observability.spans import chat_span, set_attributes, set_content

__all__ = [
    "AgentCall",
    "UsageMeter",
    "ask",
    "ask_structured",
    "ask_with_schema",
    "echo_reply",
    "structured_runnable",
    "validation_messages",
    "streaming_tokens",
    "TokenListener",
    "message_text",
    "metered",
    "model_name",
    "provider_name",
]

M = TypeVar("M", bound=BaseModel)

METADATA_AGENT = "orchestra_agent"
METADATA_ROLE = "orchestra_role"
METADATA_TASK = "orchestra_task"
METADATA_REPAIR = "orchestra_repair"
METADATA_SAMPLE = "orchestra_sample"

USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_WRITE = "gen_ai.usage.cache_creation.input_tokens"

REPAIR_ECHO_CHARS = 4000
"""The most of an invalid reply a repair round sends back to the model (the whole reply
stays in the error's ``raw_outputs``): an oversized reply is not paid for twice."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCall:
    """Who is calling a model: the agent kind, and the task and role it works for.

    It travels to the model as run metadata, so callbacks, tracers and
    ``orchestra.testing.ScriptedChatModel`` can tell calls apart.
    """

    agent: str
    task_id: str | None = None
    role: str | None = None
    repair: int = 0
    """Which repair round this call is (0: the first try); models may sample wider."""
    sample: int = 0
    """Which of several samples of the same request this call is (plan sampling); a
    greedy model must sample for every one but the first, or all would be the same."""

    def config(self) -> RunnableConfig:
        """A runnable config that carries this call's identity."""
        metadata: dict[str, Any] = {METADATA_AGENT: self.agent}
        if self.task_id is not None:
            metadata[METADATA_TASK] = self.task_id
        if self.role is not None:
            metadata[METADATA_ROLE] = self.role
        if self.repair:
            metadata[METADATA_REPAIR] = self.repair
        if self.sample:
            metadata[METADATA_SAMPLE] = self.sample
        return {"metadata": metadata, "run_name": f"orchestra.{self.agent}"}


@dataclass(slots=True)
class UsageMeter:
    """Adds up the usage of every model call made while it is active (see :func:`metered`)."""

    prices: Mapping[str, Price]
    usage: Usage = field(default_factory=Usage)
    parent: UsageMeter | None = None
    """The meter this one was opened inside; it counts the same calls."""

    def record(self, model: object, reply: AIMessage, agent: str | None = None) -> Usage:
        """Count one reply of ``model`` to ``agent``; the reply's own usage back."""
        tokens: Mapping[str, Any] = reply.usage_metadata or {}
        cached, written = cache_tokens(tokens)
        call = Usage.of_call(
            model_name(model, reply),
            int(tokens.get("input_tokens", 0)),
            int(tokens.get("output_tokens", 0)),
            self.prices,
            agent=agent,
            cached_input_tokens=cached,
            cache_write_tokens=written,
        )
        meter: UsageMeter | None = self
        while meter is not None:
            meter.usage = meter.usage + call
            meter = meter.parent
        return call


_METER: ContextVar[UsageMeter | None] = ContextVar("orchestra_usage_meter", default=None)

TokenListener = Callable[["AgentCall", str, str], None]
"""Hears each piece of a streamed reply: ``(call, stream id, text)``."""

_TOKENS: ContextVar[TokenListener | None] = ContextVar("orchestra_tokens", default=None)


@contextmanager
def streaming_tokens(listener: TokenListener) -> Iterator[None]:
    """Stream every model call made here, telling ``listener`` each piece as it arrives.

    Streaming changes how replies arrive, not what they are: the same calls, the same
    replies (pieces joined), the same usage.
    """
    token = _TOKENS.set(listener)
    try:
        yield
    finally:
        _TOKENS.reset(token)


async def _streamed(
    runnable: BaseChatModel | Runnable[Any, BaseMessage],
    messages: Sequence[BaseMessage],
    call: AgentCall,
    listener: TokenListener,
) -> AIMessage:
    """One call streamed: each text piece to ``listener``, the pieces joined as the reply."""
    stream = uuid.uuid4().hex[:12]
    joined: AIMessageChunk | None = None
    config = call.config()
    with call_metadata(config.get("metadata") or {}):
        async for chunk in runnable.astream(list(messages), config=config):
            if not isinstance(chunk, AIMessageChunk):
                raise TypeError(f"{call.agent}: model streamed {type(chunk).__name__}")
            joined = chunk if joined is None else joined + chunk
            if piece := chunk.text:
                listener(call, stream, piece)
    if joined is None:
        raise TypeError(f"{call.agent}: model streamed nothing")
    reply = message_chunk_to_message(joined)
    if not isinstance(reply, AIMessage):
        raise TypeError(f"{call.agent}: model returned {type(reply).__name__}, not AIMessage")
    return reply


@contextmanager
def metered(prices: Mapping[str, Price]) -> Iterator[UsageMeter]:
    """Meter the model calls made inside the ``with`` block (in this context).

    An enclosing meter counts the same calls too.
    """
    meter = UsageMeter(prices, parent=_METER.get())
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


def _count_usage(model: object, reply: AIMessage, agent: str) -> None:
    """Add the reply's usage to the active meter, if a job is metering."""
    meter = _METER.get()
    if meter is not None:
        charge_model(meter.record(model, reply, agent))


def model_name(model: object, reply: AIMessage | None = None) -> str:
    """The name a reply or a model gives itself, for pricing and traces."""
    if reply is not None:
        meta = reply.response_metadata or {}
        for key in ("model_name", "model"):
            if isinstance(meta.get(key), str) and meta[key]:
                return str(meta[key])
    return _MODEL_NAMES(_inner(model))


def _inner(model: object) -> object:
    """The model a name is read from: a ``RunnableBinding``'s model, else ``model``.

    What ``getattr(model, "bound", model)`` is, without pydantic's failing
    ``__getattr__`` (microseconds) on every call of a model that is not a binding.
    """
    if isinstance(model, RunnableBindingBase):
        return model.bound
    return _INNERS(model)


_INNERS: IdentityCache[object, object] = IdentityCache(lambda m: getattr(m, "bound", m))


def _name_of(inner: object) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(inner, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(inner).__name__


_MODEL_NAMES: IdentityCache[object, str] = IdentityCache(_name_of)


def provider_name(model: object) -> str:
    """The provider behind a model (``openai``, ``anthropic``, ``ollama``, ...), for traces."""
    return _PROVIDERS(_inner(model))


def _provider_of(inner: object) -> str:
    params = getattr(inner, "_get_ls_params", None)
    try:
        provider = params().get("ls_provider") if callable(params) else None
    except Exception:  # a provider's own tracing hook must never break a call
        provider = None
    return str(provider) if provider else type(inner).__name__.lower()


_PROVIDERS: IdentityCache[object, str] = IdentityCache(_provider_of)


async def ask(
    model: BaseChatModel | Runnable[Any, BaseMessage],
    messages: Sequence[BaseMessage],
    call: AgentCall,
) -> AIMessage:
    """One model call, tagged with ``call``; the reply must be an ``AIMessage``."""
    listener = _TOKENS.get()
    with _traced(model, messages, call) as span:
        reply: BaseMessage
        sent = with_cache_breakpoints(messages, provider_name(model))
        if listener is not None:
            reply = await _streamed(model, sent, call, listener)
        else:
            reply = await model.ainvoke(sent, config=call.config())
        if not isinstance(reply, AIMessage):
            raise TypeError(f"{call.agent}: model returned {type(reply).__name__}, not AIMessage")
        _count_usage(model, reply, call.agent)
        _trace_reply(span, model, reply)
    return reply


@contextmanager
def _traced(model: object, messages: Sequence[BaseMessage], call: AgentCall) -> Iterator[Span]:
    """A ``chat`` span for one call, with the prompt when content capture is on.

    The run's budget is checked first: a call past it does not start.
    """
    start_model_call()
    with chat_span(
        model_name(model), provider=provider_name(model), agent=call.agent, task_id=call.task_id
    ) as span:
        if call.repair:
            set_attributes(span, {"orchestra.repair": call.repair})
        set_content(span, sc.INPUT_MESSAGES, lambda: input_messages(messages))
        yield span


def _trace_reply(span: Span, model: object, reply: AIMessage) -> None:
    tokens: Mapping[str, Any] = reply.usage_metadata or {}
    cached, written = cache_tokens(tokens)
    finish = (reply.response_metadata or {}).get("finish_reason")
    set_attributes(
        span,
        {
            sc.RESPONSE_MODEL: model_name(model, reply),
            sc.USAGE_INPUT_TOKENS: int(tokens.get("input_tokens", 0)),
            sc.USAGE_OUTPUT_TOKENS: int(tokens.get("output_tokens", 0)),
            USAGE_CACHE_READ: cached or None,
            USAGE_CACHE_WRITE: written or None,
            sc.RESPONSE_FINISH_REASONS: [str(finish)] if finish else None,
        },
    )
    set_content(span, sc.OUTPUT_MESSAGES, lambda: output_messages(reply))


def validation_messages(exc: ValidationError) -> list[str]:
    """Pydantic's errors as the lines a repair round shows the model: ``where: what``."""
    out = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        out.append(f"{where}: {err['msg']}")
    return out


async def ask_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[M],
    call: AgentCall,
    *,
    check: Callable[[M], list[str]] | None = None,
    json_schema: dict[str, Any] | None = None,
    max_repairs: int = 2,
    error: type[ModelBehaviorError] = ModelBehaviorError,
) -> M:
    """Ask for output matching ``schema``, validate it, and repair it a bounded number of times.

    Models with structured output (native JSON schema or tool calling on providers, a
    grammar on the embedded model) get ``json_schema`` (default: ``schema``'s own, which
    may be tighter, e.g. an enum of tool names); others are asked for JSON text. The reply
    is validated by pydantic, then by ``check`` (semantic rules returning error strings).
    On failure the errors go back to the model, at most ``max_repairs`` times; then
    ``error`` is raised with every raw reply.
    """
    structured = structured_runnable(model, json_schema or shared_json_schema_of(schema))
    history = list(messages)
    raws: list[str] = []
    errors: list[str] = []
    for round_ in range(max_repairs + 1):
        this_call = replace(call, repair=round_)
        if structured is not None:
            raw, data, problem = await ask_with_schema(structured, model, history, this_call)
        else:
            reply = await ask(model, history, this_call)
            raw, data, problem = message_text(reply), None, None
            try:
                data = extract_json(raw)
            except ValueError as exc:
                problem = exc
        raws.append(raw)
        errors = [str(problem)] if problem is not None else []
        if not errors:
            try:
                parsed = schema.model_validate(data)
            except ValidationError as exc:
                errors = validation_messages(exc)
            else:
                errors = check(parsed) if check else []
                if not errors:
                    return parsed
        history += [
            AIMessage(content=echo_reply(raw)),
            HumanMessage(content=render("repair", errors="\n".join(f"- {e}" for e in errors))),
        ]
    raise error(
        f"{call.agent} output stayed invalid after {max_repairs} repair(s): {'; '.join(errors)}",
        agent=call.agent,
        raw_outputs=raws,
        errors=errors,
    )


def echo_reply(raw: str) -> str:
    """An invalid reply as the repair round shows it to the model: cut when it is long."""
    if len(raw) <= REPAIR_ECHO_CHARS:
        return raw
    left = len(raw) - REPAIR_ECHO_CHARS
    return f"{raw[:REPAIR_ECHO_CHARS]}\n[... {left:,} more characters of this reply not shown]"


def structured_runnable(
    model: BaseChatModel, json_schema: dict[str, Any]
) -> Runnable[Any, Any] | None:
    """What answers under ``json_schema``, or None if the model cannot.

    Orchestra's own models (:class:`~orchestra.models.structured.SchemaDecoder`) are bound
    to the schema and their replies parsed by :func:`ask_with_schema`; other models go
    through ``with_structured_output`` with the raw reply kept.
    """
    decoder = as_schema_decoder(model)
    if decoder is not None:
        return decoder.bind_schema(json_schema)
    try:  # a copy: a provider's conversion may change the schema it is given
        return model.with_structured_output(copy.deepcopy(json_schema), include_raw=True)
    except NotImplementedError:
        return None


async def ask_with_schema(
    structured: Runnable[Any, Any],
    model: BaseChatModel,
    history: Sequence[BaseMessage],
    call: AgentCall,
) -> tuple[str, Any, Exception | None]:
    """One structured call: the raw text, the parsed data, and the parse error if any."""
    data: Any = None
    problem: object = None
    listener = _TOKENS.get()
    with _traced(model, history, call) as span:
        sent = with_cache_breakpoints(history, provider_name(model))
        if listener is not None and as_schema_decoder(model) is not None:
            # orchestra's own decoders stream their raw JSON; a provider's structured
            # output chain answers whole
            out: Any = await _streamed(structured, sent, call, listener)
        else:
            out = await structured.ainvoke(sent, config=call.config())
        if isinstance(out, AIMessage):  # a schema decoder's reply, parsed here
            reply: object = out
            try:
                data = parse_reply(out)
            except ValueError as exc:
                problem = exc
        else:
            reply = out.get("raw") if isinstance(out, dict) else None
            if isinstance(out, dict):
                data, problem = out.get("parsed"), out.get("parsing_error")
        if not isinstance(reply, AIMessage):
            raise TypeError(f"{call.agent}: structured output returned no raw AIMessage")
        _count_usage(model, reply, call.agent)
        _trace_reply(span, model, reply)
    if problem is None and data is not None:  # a provider's parse has no depth bound
        try:
            check_json_bounds(data)
        except JSONBoundError as exc:
            data, problem = None, exc
    raw = message_text(reply)
    if reply.tool_calls and not raw.strip():
        raw = _args_text(reply.tool_calls[0]["args"])
    return raw, data, problem if isinstance(problem, Exception) else None


def _args_text(args: object) -> str:
    """A tool call's parsed arguments as text, for the repair round and the error."""
    try:
        check_json_bounds(args)
    except JSONBoundError as exc:
        return f"(tool-call arguments not shown: {exc})"
    return json.dumps(args, default=str)
