"""Test kit: a scripted chat model that answers per agent, per role, per task and per turn.

Example::

    from orchestra.testing import ScriptedChatModel, plan, subtask, verdict

    model = ScriptedChatModel({
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer": {"name": "worker", "instructions": "Do the task."},
        "executor@a": ["result of a"],
        "executor@b": ["result of b"],
        "critic": verdict("pass"),
        "synthesizer": "final answer",
    })
    ...
    model.assert_complete()

Script keys, most specific first: ``"<agent>@<task_id>"``, ``"<agent>:<role>"``,
``"<agent>"``, ``"*"``. Agents are ``planner``, ``role_designer``, ``executor``, ``lead``,
``critic`` and ``synthesizer``. A list value is a sequence of turns, consumed one per
call; when it is used up the next matching key answers. Any other value answers every
call. A reply is a string, a dict or pydantic model (sent as JSON), an ``AIMessage``
(e.g. from :func:`tool_call`), or a function of the :class:`ScriptedCall` returning one
of those. A call no key can answer raises :class:`~orchestra.core.errors.ScriptError`
and the run fails loudly; :meth:`ScriptedChatModel.assert_complete` fails when scripted
turns were never used.

The role designer designs the leaves of a plan in one call (a *batch call*:
``call.task_ids`` lists its tasks, ``call.task_id`` is the node the plan hangs from). A
script still answers it one task at a time, as if each task were a call of its own:
``"role_designer@<task>"`` and the other keys are looked up for each task in order (a
list gives one turn per task), a function gets a :class:`ScriptedCall` whose
``task_id`` is that task, and the replies become the entries of the batch reply
(``{"roles": [{"task": ..., **reply}, ...]}``). A reply that already has ``"roles"`` is
the whole batch reply, as written. A repair asks again for the tasks whose entries were
wrong only.

With ``Team(plan_sampling="one_call")`` one planner call writes K plans
(``call.samples`` is K). A script answers it one plan at a time too: the planner's keys
are looked up K times, as for K sampled calls (``call.sample`` 0 to K-1), and the
replies become the reply's plans (``{"plans": [...]}``); a reply that already has
``"plans"``, or text that is not JSON, is the whole reply, as written.

With ``Team(plan_sampling="alternatives")`` the planner's one call
(``call.alternatives`` is K) is answered as any call: the reply is the plan,
``{"tasks": [...], "alternatives": [{"instead_of": "<task id>", "tasks": [...]}]}``
(without ``"alternatives"``: a plan with none).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCall
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, PrivateAttr

from orchestra.agents.calls import METADATA_AGENT, METADATA_ROLE, METADATA_SAMPLE, METADATA_TASK
from orchestra.agents.planner import METADATA_ALTERNATIVES, METADATA_SAMPLES
from orchestra.agents.role_designer import METADATA_TASKS
from orchestra.core.errors import ScriptError
from orchestra.core.messages import message_text, tool_call_chunks
from orchestra.core.plan import MAX_TASKS_PER_LEVEL
from orchestra.models.call_metadata import current_call_metadata
from orchestra.models.structured import structured_output_parser

__all__ = [
    "MULTIMODAL_PROFILE",
    "Reply",
    "ScriptedCall",
    "ScriptedChatModel",
    "chain",
    "fan_out",
    "plan",
    "role_spec",
    "subtask",
    "tool_call",
    "verdict",
]


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One call the scripted model received."""

    agent: str | None
    task_id: str | None
    role: str | None
    messages: list[BaseMessage]
    tools: list[str] = field(default_factory=list)
    """Names of the tools bound for this call."""
    sample: int = 0
    """Which of several samples of one request this is (plan sampling), from 0."""
    task_ids: tuple[str, ...] = ()
    """The tasks of a batch call (the role designer's for a plan), else empty; ``task_id``
    is then the node the plan hangs from. The script answers each task as a call of its
    own (see the module docstring)."""
    samples: int = 0
    """How many plans one planner call is asked for (``plan_sampling="one_call"``), else
    0; the script answers each as a sample of its own (see the module docstring)."""
    alternatives: int = 0
    """With ``plan_sampling="alternatives"``: how many ways to do a task the planner's
    reply may write (the plan's, and up to this less one alternatives), else 0; the
    script's reply is the whole reply (a plan alone is a reply without alternatives)."""

    @property
    def prompt(self) -> str:
        """All message texts of the call, joined."""
        return "\n".join(message_text(m) for m in self.messages)

    @property
    def goal(self) -> str | None:
        """The run's goal as orchestra's prompts state it (``Goal:`` / ``Overall goal:``)."""
        for message in self.messages:
            for line in message_text(message).splitlines():
                for prefix in ("Overall goal: ", "Goal: "):
                    if line.startswith(prefix):
                        return line.removeprefix(prefix).strip()
        return None

    @property
    def last(self) -> str:
        """The text of the last message."""
        return message_text(self.messages[-1]) if self.messages else ""


Reply = str | dict[str, Any] | BaseModel | AIMessage | Callable[[ScriptedCall], Any]
"""What a script may answer with."""


MULTIMODAL_PROFILE: dict[str, Any] = {
    "image_inputs": True,
    "audio_inputs": True,
    "image_tool_message": True,
}
"""A model profile that takes images (in tool messages too) and sounds:
``ScriptedChatModel(script, profile=MULTIMODAL_PROFILE)``."""


class ScriptedChatModel(BaseChatModel):
    """A chat model that plays a script; see the module docstring.

    It is text-only unless given a LangChain model ``profile``: with
    ``profile=MULTIMODAL_PROFILE`` (or your own ``image_inputs`` / ``audio_inputs`` /
    ``image_tool_message`` flags) images and sounds from tools reach it as content blocks.
    """

    script: dict[str, Any]
    native_tools: bool = True
    """False makes ``bind_tools`` raise ``NotImplementedError`` (JSON-action fallback)."""
    latency: float = 0.0
    """Seconds each async call waits before answering (for demos, not tests)."""
    stream_words: int = 2
    """Words per piece when a reply is streamed (``astream``); its tool calls come last,
    in one piece, and its usage with the last piece."""

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _cursor: dict[str, int] = PrivateAttr(default_factory=dict)
    _calls: list[ScriptedCall] = PrivateAttr(default_factory=list)
    _errors: list[str] = PrivateAttr(default_factory=list)

    def __init__(self, script: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(script=dict(script), **kwargs)

    @property
    def _llm_type(self) -> str:
        return "orchestra-scripted"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "orchestra_scripted"
        return params

    @property
    def calls(self) -> list[ScriptedCall]:
        """Every call received so far, in order."""
        with self._lock:
            return list(self._calls)

    def calls_for(self, agent: str, task_id: str | None = None) -> list[ScriptedCall]:
        """Calls made by ``agent`` (for ``task_id``, when given: batch calls about it too)."""
        return [
            c
            for c in self.calls
            if c.agent == agent
            and (task_id is None or c.task_id == task_id or task_id in c.task_ids)
        ]

    def assert_complete(self) -> None:
        """Fail if a call went unanswered or scripted turns were never used."""
        with self._lock:
            problems = list(self._errors)
            for key, value in self.script.items():
                if isinstance(value, list):
                    left = len(value) - self._cursor.get(key, 0)
                    if left > 0:
                        problems.append(f"{left} scripted turn(s) for {key!r} never used")
        if problems:
            raise AssertionError("script not played as written:\n" + "\n".join(problems))

    # -- answering ---------------------------------------------------------------------

    def _answer(
        self,
        messages: list[BaseMessage],
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
        kwargs: Mapping[str, Any],
    ) -> ChatResult:
        # a streamed call has no run manager (LangChain gives _astream none)
        metadata = run_manager.metadata if run_manager is not None else current_call_metadata()
        call = ScriptedCall(
            agent=metadata.get(METADATA_AGENT),
            task_id=metadata.get(METADATA_TASK),
            role=metadata.get(METADATA_ROLE),
            sample=int(metadata.get(METADATA_SAMPLE) or 0),
            messages=list(messages),
            tools=[t["function"]["name"] for t in kwargs.get("tools", [])],
            task_ids=tuple(metadata.get(METADATA_TASKS) or ()),
            samples=int(metadata.get(METADATA_SAMPLES) or 0),
            alternatives=int(metadata.get(METADATA_ALTERNATIVES) or 0),
        )
        with self._lock:
            self._calls.append(call)
            reply = None if call.task_ids or call.samples else self._next_reply(call)
        if call.task_ids:
            reply = self._batch_reply(call)
        elif call.samples:
            reply = self._samples_reply(call)
        else:
            reply = _resolved(reply, call)
        message = _to_message(reply)
        # Estimated counts (4 characters a token), so usage accounting is testable.
        message = message.model_copy(
            update={
                "usage_metadata": {
                    "input_tokens": (inp := max(1, len(call.prompt) // 4)),
                    "output_tokens": (out := max(1, len(message.text) // 4)),
                    "total_tokens": inp + out,
                },
                "response_metadata": {**message.response_metadata, "model_name": "scripted"},
            }
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _next_reply(self, call: ScriptedCall) -> Any:
        keys = [
            f"{call.agent}@{call.task_id}",
            f"{call.agent}:{call.role}",
            str(call.agent),
            "*",
        ]
        for key in keys:
            if key not in self.script:
                continue
            value = self.script[key]
            if not isinstance(value, list):
                return value
            turn = self._cursor.get(key, 0)
            if turn < len(value):
                self._cursor[key] = turn + 1
                return value[turn]
        message = (
            f"scripted model has no reply for agent={call.agent!r} task={call.task_id!r}"
            f" role={call.role!r} (tried {keys}; lists there are used up).\n"
            f"Last message: {call.last[:500]}"
        )
        self._errors.append(message)
        raise ScriptError(message)

    def _single_reply(self, single: ScriptedCall) -> Any:
        """One part of a call that asks for several things, answered as a call of its own."""
        with self._lock:
            reply = self._next_reply(single)
        reply = _resolved(reply, single)
        return reply.model_dump(mode="json") if isinstance(reply, BaseModel) else reply

    def _batch_reply(self, call: ScriptedCall) -> Any:
        """A batch call's reply: each of its tasks answered as a call of its own."""
        entries: list[Any] = []
        for task_id in call.task_ids:
            reply = self._single_reply(replace(call, task_id=task_id, task_ids=()))
            if isinstance(reply, dict) and "roles" in reply:
                return reply  # scripted as a whole batch reply
            entries.append(_batch_entry(task_id, reply))
        return {"roles": entries}

    def _samples_reply(self, call: ScriptedCall) -> Any:
        """A K-plan call's reply: each plan answered as a sampled call of its own."""
        plans: list[Any] = []
        for sample in range(call.samples):
            reply = self._single_reply(replace(call, sample=sample, samples=0))
            if isinstance(reply, str):
                reply = _json_or_text(reply)
            if isinstance(reply, str) or (isinstance(reply, dict) and "plans" in reply):
                return reply  # scripted as a whole reply (text: as the model wrote it)
            plans.append(reply)
        return {"plans": plans}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._answer(messages, run_manager, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._answer(messages, run_manager, kwargs)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """The reply :meth:`_agenerate` would give, in pieces of ``stream_words`` words."""
        whole = (await self._agenerate(messages, stop, run_manager, **kwargs)).generations[0]
        message = whole.message
        assert isinstance(message, AIMessage)
        words = re.findall(r"\s*\S+\s*", message.text) or ([message.text] if message.text else [])
        step = max(1, self.stream_words)
        pieces = ["".join(words[i : i + step]) for i in range(0, len(words), step)]
        calls = tool_call_chunks(message)
        if calls or not pieces:
            pieces.append("")
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            chunk = AIMessageChunk(
                content=piece,
                tool_call_chunks=calls if last else [],
                usage_metadata=message.usage_metadata if last else None,
                response_metadata=message.response_metadata if last else {},
            )
            if run_manager is not None and piece:
                await run_manager.on_llm_new_token(piece)
            yield ChatGenerationChunk(message=chunk)

    # -- tools and structured output ---------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; the replies decide which tools get called."""
        if not self.native_tools:
            raise NotImplementedError("this scripted model has no native tool calling")
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def bind_schema(self, schema: dict[str, Any]) -> Runnable[LanguageModelInput, BaseMessage]:
        """This model: its replies are what the script says, the schema only parses them."""
        return self

    def with_structured_output(  # type: ignore[override]
        self,
        schema: type[BaseModel] | dict[str, Any],
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Parse each reply (JSON text or the first tool call's args) into ``schema``."""
        return self | structured_output_parser(schema, include_raw=include_raw)


def _resolved(reply: Any, call: ScriptedCall) -> Any:
    """The reply a scripted function gives for ``call`` (a reply that is not one as it is)."""
    while callable(reply) and not isinstance(reply, BaseModel | AIMessage):
        reply = reply(call)
    return reply


def _json_or_text(text: str) -> Any:
    """A scripted reply written as JSON text, parsed; other text as it is."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _batch_entry(task_id: str, reply: Any) -> Any:
    """One task's reply as an entry of a batch reply: ``{"task": task_id, **reply}``.

    A reply that is no JSON object (e.g. junk, to test repairs) is an entry without a
    name, which the designer rejects for that task.
    """
    if isinstance(reply, AIMessage):
        reply = reply.text
    if isinstance(reply, str):
        try:
            reply = json.loads(reply)
        except ValueError:
            return {"task": task_id, "reply": reply}
    return {"task": task_id, **reply} if isinstance(reply, dict) else {"task": task_id}


def _to_message(reply: Any) -> AIMessage:
    if isinstance(reply, AIMessage):
        return reply
    if isinstance(reply, str):
        return AIMessage(content=reply)
    if isinstance(reply, BaseModel):
        return AIMessage(content=reply.model_dump_json())
    if isinstance(reply, dict | list):
        return AIMessage(content=json.dumps(reply))
    raise ScriptError(f"a scripted reply must be str, dict, BaseModel or AIMessage, not {reply!r}")


# -- reply builders ----------------------------------------------------------------------


def subtask(
    id: str,
    title: str | None = None,
    description: str | None = None,
    *,
    deps: Sequence[str] = (),
    criteria: Sequence[str] = (),
    role: str | None = None,
    subtasks: Sequence[dict[str, Any]] = (),
    decompose: bool = False,
) -> dict[str, Any]:
    """One task of a scripted plan (``decompose``: to be broken down when it is ready)."""
    task: dict[str, Any] = {
        "id": id,
        "title": title or id.replace("-", " ").replace("_", " ").capitalize(),
        "description": description or f"Do {id}.",
        "acceptance_criteria": list(criteria),
        "depends_on": list(deps),
        "role": role,
        "subtasks": list(subtasks),
    }
    if decompose:
        task["decompose"] = True
    return task


def plan(*tasks: dict[str, Any]) -> dict[str, Any]:
    """A scripted planner reply."""
    return {"tasks": list(tasks)}


def fan_out(leaf_ids: Sequence[str], *, group_prefix: str = "g") -> dict[str, Any]:
    """A planner reply whose leaves are ``leaf_ids``, all independent.

    A plan level holds at most ``MAX_TASKS_PER_LEVEL`` tasks, so wide fan-outs nest in
    groups (200 leaves: 8 groups of 25, each 5 groups of 5): ``max_depth`` must allow it.
    """
    return plan(*_groups([subtask(i) for i in leaf_ids], group_prefix, chained=False))


def chain(leaf_ids: Sequence[str], *, group_prefix: str = "c") -> dict[str, Any]:
    """A planner reply whose leaves run one after another, in the order given.

    Long chains nest like :func:`fan_out`, each group depending on the one before.
    """
    leaves = [subtask(i, deps=[leaf_ids[n - 1]] if n else []) for n, i in enumerate(leaf_ids)]
    return plan(*_groups(leaves, group_prefix, chained=True))


def _groups(tasks: list[dict[str, Any]], prefix: str, *, chained: bool) -> list[dict[str, Any]]:
    if len(tasks) <= MAX_TASKS_PER_LEVEL:
        return tasks
    size = -(-len(tasks) // MAX_TASKS_PER_LEVEL)
    parts = [tasks[k : k + size] for k in range(0, len(tasks), size)]
    groups = []
    for n, part in enumerate(parts):
        if chained:  # a dependency only ever points at a sibling
            part[0] = {**part[0], "depends_on": []}
        name = f"{prefix}{n}"
        groups.append(
            subtask(
                name,
                deps=[f"{prefix}{n - 1}"] if chained and n else [],
                subtasks=_groups(part, f"{name}-", chained=chained),
            )
        )
    return groups


def verdict(kind: str = "pass", reason: str = "Meets the criteria.") -> dict[str, Any]:
    """A scripted critic reply (``pass``, ``retry`` or ``replan``)."""
    return {"verdict": kind, "reason": reason}


def role_spec(
    name: str, instructions: str = "", tools: Sequence[str] = (), model: str | None = None
) -> dict[str, Any]:
    """A scripted role-designer reply; a name alone reuses an existing role."""
    return {"name": name, "instructions": instructions, "tools": list(tools), "model": model}


def tool_call(name: str, args: Mapping[str, Any], *, call_id: str | None = None) -> AIMessage:
    """A scripted reply that calls tool ``name`` natively."""
    call = ToolCall(name=name, args=dict(args), id=call_id or f"call_{uuid.uuid4().hex[:8]}")
    return AIMessage(content="", tool_calls=[call])
