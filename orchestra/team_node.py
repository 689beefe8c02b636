"""A team as a node of your own LangGraph graph.

``builder.add_node("research", team.as_node())`` runs the team on the goal in the
graph's state (``state["goal"]``) and writes its answer back (``{"answer": ...}``: typed,
when the team has an ``output_type``). The team's run lives in the parent graph's own
checkpointer and thread:

* its id is the parent's thread and the node's place in the graph, so the parent's resume
  (the same ``thread_id``) goes on with the same team run, finished work kept;
* it is checkpointed on the parent's checkpointer (the team's own when the parent has
  none);
* when the team waits for a person, the node calls LangGraph's ``interrupt`` with the
  pending requests (``{"run_id", "pending": [...]}``): the parent graph stops with that
  interrupt, and ``Command(resume={request_id: {"decision": "approve"}, ...})``, naming
  every pending request, goes on, as many rounds as the team asks; an answer the team
  would refuse (not a decision for every pending request, or one that does not fit its
  request: an invalid edited plan, ``edit_plan`` for a tool call, ``edit_args`` for the
  plan) is not passed on: the node interrupts again with the same requests and an
  ``error`` saying why;
* its events reach the parent's ``stream_mode="custom"`` stream, as JSON, named under the
  node's run;
* it runs from ``graph.ainvoke`` in the caller's event loop and from ``graph.invoke`` in
  a worker thread with its own loop (:func:`run_blocking`), interrupts included.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.config import get_stream_writer
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.types import interrupt
from pydantic import ValidationError

from orchestra.core.approval import Decision, DecisionAdapter, decisions_for
from orchestra.core.errors import InputError
from orchestra.core.events import EventBase
from orchestra.core.record import RunResult, RunStatus

if TYPE_CHECKING:
    from orchestra.team import Team

__all__ = ["TeamNode", "run_blocking", "team_node"]

TeamNode = RunnableLambda[Mapping[str, Any], dict[str, Any]]
"""A LangGraph node: the state in, the state update out; ``invoke`` and ``ainvoke``."""

_T = TypeVar("_T")


def run_blocking(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run the coroutine ``make()`` makes to completion, from synchronous code.

    In a worker thread with its own event loop (so also from a thread whose loop runs),
    in a copy of the caller's context: LangGraph's config (its ``interrupt``, its stream
    writer) and LangChain's callbacks reach the coroutine; what it raises is raised here.
    """
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="orchestra-sync") as worker:
        return worker.submit(context.run, lambda: asyncio.run(make())).result()


def team_node(
    team: Team[Any],
    *,
    goal: str | Callable[[Mapping[str, Any]], str] = "goal",
    output: str = "answer",
    run_id_key: str | None = None,
) -> TeamNode:
    """``team`` as a node (see the module docstring and :meth:`Team.as_node`)."""

    async def node(
        state: Mapping[str, Any], config: RunnableConfig, *, blocking: bool = False
    ) -> dict[str, Any]:
        text = goal(state) if callable(goal) else state.get(goal)
        if not isinstance(text, str):
            where = "the goal function" if callable(goal) else f"state[{goal!r}]"
            raise InputError(f"team node {team.name!r}: {where} is not a text goal: {text!r}")
        configurable = config.get("configurable") or {}
        thread = configurable.get("thread_id")
        place = configurable.get("checkpoint_ns") or team.name
        run_id = f"{thread}/{place}" if thread is not None else None
        if run_id is None:
            raise InputError(
                f"team node {team.name!r} needs a thread: compile the graph with a"
                " checkpointer and invoke it with config={'configurable': {'thread_id': ...}}"
            )
        saver = configurable.get(CONFIG_KEY_CHECKPOINTER)
        if blocking and saver is not None:  # a graph run with invoke may have a sync-only saver
            saver = _BlockingSaver(saver)
        writer = get_stream_writer()

        def forward(event: EventBase) -> None:
            writer(event.model_dump(mode="json"))

        decisions: dict[str, Decision] | None = None
        while True:
            result = await team.run_nested(
                text, run_id=run_id, saver=saver, decisions=decisions, sink=forward
            )
            if result.status is not RunStatus.AWAITING_APPROVAL:
                break
            waiting: dict[str, Any] = {
                "run_id": run_id,
                "pending": [r.model_dump(mode="json") for r in result.pending],
            }
            decisions = None
            while decisions is None:
                # A node re-runs from its start on every resume, and LangGraph hands its
                # interrupts the resume values in order: answers to earlier rounds (or
                # refused ones, said in the next interrupt) come first; ask on. The same
                # answer to the same requests is refused the same way on every re-run, so
                # the interrupts line up with their answers.
                decisions, problem = _decisions(team, result, interrupt(waiting))
                waiting["error"] = problem
        update: dict[str, Any] = {output: result.output}
        if run_id_key is not None:
            update[run_id_key] = run_id
        return update

    def blocking_node(state: Mapping[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """The node for ``graph.invoke``: the team runs in a worker thread's event loop."""
        return run_blocking(lambda: node(state, config, blocking=True))

    return RunnableLambda(blocking_node, afunc=node, name=f"team_{team.name}".replace("-", "_"))


class _BlockingSaver(BaseCheckpointSaver[Any]):
    """A checkpointer's synchronous methods as its asynchronous ones too.

    For a team run from ``graph.invoke``: the parent graph's saver may be sync-only
    (``SqliteSaver``), and the team's graph runs on its async API, in a worker thread
    that may block.
    """

    def __init__(self, inner: BaseCheckpointSaver[Any]) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.inner.get_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return self.inner.list(config, filter=filter, before=before, limit=limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.inner.put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.inner.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.inner.get_next_version(current, channel)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)


def _decisions(
    team: Team[Any], result: RunResult[Any], answer: object
) -> tuple[dict[str, Decision] | None, str | None]:
    """The decisions a resume value holds for ``result.pending``, or None and what was wrong.

    A mapping naming only requests the run decided before (the plan, tool calls it made)
    is an earlier round's answer (no error); anything else that is not a decision for
    every pending request, each fitting its request as the team checks it
    (:func:`~orchestra.core.approval.decisions_for`, under the team's limits), is said
    back to the person.
    """
    pending = result.pending
    ids = [r.id for r in pending]
    usage = (
        "resume with Command(resume={request_id: decision, ...}) naming every pending"
        f" request ({ids})"
    )
    if not isinstance(answer, Mapping) or "decision" in answer:
        return None, f"{usage}; got {answer!r}"
    named = [str(k) for k in answer]
    missing = [i for i in ids if i not in named]
    if missing:
        unknown = [n for n in named if n not in ids]
        if not set(named) & set(ids) and set(named) <= _decided(result):
            return None, None
        said = f"; no pending request has the id {', '.join(map(repr, unknown))}" if unknown else ""
        return None, f"{usage}{said}; no decision for {missing}"
    try:
        given = {rid: DecisionAdapter.validate_python(answer[rid]) for rid in ids}
    except ValidationError as exc:
        return None, f"{usage}; a decision is not valid: {exc.errors()[0]['msg']}"
    limits = team.runtime.limits
    try:
        checked = decisions_for(
            pending,
            given,
            max_depth=limits.max_depth,
            max_tasks=limits.max_tasks_per_level,
            check_args=team.runtime.approved_args_problem,
        )
    except InputError as exc:  # passed on, the team would raise it on every resume
        return None, str(exc)
    return checked, None


def _decided(result: RunResult[Any]) -> set[str]:
    """Ids of requests the run may have had decided in an earlier round."""
    return {"plan"} | {call.key for call in result.tool_calls}
