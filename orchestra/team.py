"""``Team``: the public face of orchestra."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import replace
from functools import partial
from typing import Any, Generic, cast

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command, Interrupt
from opentelemetry.trace import Span

from orchestra.agents.calls import AgentCall, streaming_tokens
from orchestra.agents.context import DEFAULT_MAX_DEPENDENCY_CHARS
from orchestra.agents.plan_sampling import (
    PlanChoiceMode,
    PlanSamplingMode,
    check_plan_sampling,
)
from orchestra.checks import DEFAULT_CHECKS
from orchestra.core.approval import ApprovalRequest, Decision, decisions_for
from orchestra.core.budget import Budget, BudgetMeter, metering
from orchestra.core.checks import Check
from orchestra.core.errors import ConfigError, InputError
from orchestra.core.events import (
    Event,
    EventAdapter,
    EventBase,
    Notice,
    RunFinished,
    TokenStreamed,
)
from orchestra.core.output_types import OutputSpec, output_spec
from orchestra.core.record import OutputT, RunRecord, RunResult, RunStatus, ToolCallRecord
from orchestra.core.roles import Role
from orchestra.core.search_options import WorkflowSearch
from orchestra.core.tree import ROOT_ID
from orchestra.core.usage import DEFAULT_PRICES, Price
from orchestra.engine.checkpoints import Checkpoints, CheckpointSpec, finished_jobs
from orchestra.engine.emit import current_sink, event_sink, queue_sink
from orchestra.engine.graph import RECURSION_LIMIT, RunGraph, build_graph, reopen_update
from orchestra.engine.runtime import (
    DecomposeMode,
    FailurePolicy,
    Limits,
    TeamRuntime,
    ToolRetrieval,
)
from orchestra.engine.state import RunState, result_from_state
from orchestra.executors import ExecutorSpec, resolve_executor
from orchestra.memory import Memory
from orchestra.models.embedded import EmbeddedChatModel
from orchestra.models.resolve import ModelSpec, resolve_model
from orchestra.observability.history import RunHistory
from orchestra.observability.setup import Tracing
from orchestra.observability.spans import (
    run_span,
    set_attributes,
    trace_run_end,
    trace_run_usage,
    use_settings,
)
from orchestra.team_node import TeamNode, team_node
from orchestra.team_tool import team_tool
from orchestra.tools.decorator import ToolSet
from orchestra.tools.decorator import tool as make_tool
from orchestra.tools.mcp import MCPServerTools

__all__ = ["Team"]

MAX_GOAL_CHARS = 20_000
"""The most plans ``Team(plan_samples=...)`` draws for one goal."""

Decisions = Decision | Mapping[str, Decision]
"""What resuming a paused run takes: one decision for every request, or decisions by id."""

TeamTool = BaseTool | ToolSet | MCPServerTools | Callable[..., Any]
"""What ``Team(tools=[...])`` accepts."""


class Team(Generic[OutputT]):
    """A hierarchical agent team: planner, role designer, executors, critic, synthesizer.

    Args:
        model: the model every agent uses unless overridden: a langchain-core
            ``BaseChatModel``, a string such as ``"openai:gpt-4.1-mini"``,
            ``"ollama:qwen2.5"``, ``"provider:model@URL"`` or a ``.gguf`` path, or None for
            ``ORCHESTRA_MODEL`` or else the embedded default model.
        tools: tools the team's agents may use: langchain ``BaseTool`` objects, ``ToolSet``
            instances, MCP servers (:func:`orchestra.mcp_server`, connected for each run),
            or typed functions (made tools with :func:`orchestra.tool`).
        roles: roles the planner and role designer reuse when they fit a subtask. A
            role made with ``Role(team=other_team)`` delegates its tasks to that team,
            which runs each as a goal of its own (its tree nests under the task; its
            spending counts toward this team's budget; its approvals pause this run).
        models: named models: overrides for agents (``planner``, ``role_designer``,
            ``critic``, ``synthesizer``) and models a designed role may name.
        max_depth: deepest level of the task tree (the goal's subtasks are level 1).
        max_tasks_per_level: the most subtasks a plan may give one node (at most 64).
        max_parallel: executor attempts running at the same time.
        max_attempts: attempts per task, counting the first.
        max_replans_per_node: re-plans along one line of replacements of a task.
        max_replans: re-plans in a whole run.
        max_steps: model calls per executor attempt.
        max_repairs: repair rounds for invalid planner, role designer or critic output.
        max_identical_tool_calls: the most times one task makes the same tool call (same
            arguments) over all its attempts; one more stops the task (a loop guard).
        max_idle_jobs: jobs that may finish in a row without any task finishing; one
            more stops the run as stalled (a wide run may take twice the tasks that can
            run at once, when that is more).
        max_dependency_chars: the most of each prerequisite's result an executor's or a
            lead's prompt shows (default 8,000 characters); a longer one is cut with a
            marker saying how much was cut and that the whole is in the run record (at
            least 100; None: never cut).
        critic: judge every result (True) or accept every result as it comes (False).
        leads: every inner task of the tree has a lead (a designed role, or the planner's
            role hint when it names a role): once the task's subtasks are done, the lead
            writes the task's result from theirs, and the critic judges it against the
            task's acceptance criteria (``retry`` re-integrates with the reason, up to
            ``max_attempts``). False: an inner task's result is its subtasks' results
            joined, unjudged (fewer model calls).
        decompose: ``"on_demand"`` (the default): the first plan goes one or two levels
            deep and may mark tasks to be decomposed later; such a task is broken into
            subtasks by its lead once its own prerequisites are done, seeing their results
            (``result.decompositions``). ``"upfront"``: the first plan is the whole tree.
        max_escalations: levels a task's unrecoverable failure may climb (its parent's
            lead re-plans the parent's subtree, then the grandparent's, ...) before the
            branch is given up.
        on_failure: ``"continue"`` (the default): a branch given up for good does not stop
            independent branches; tasks that depend on it are skipped and the run ends
            ``partial`` with what succeeded; ``"stop"``: the first branch given up cancels
            everything still running and the run fails.
        refine_goal: first turn the raw request into a task statement (objective,
            constraints, deliverables, acceptance criteria) that the planner plans to and
            every agent, the critic included, sees next to the goal; it is in the tree
            (``result.tree.statement``), the ``goal_refined`` event and the trace, and a
            person can edit it with the plan when ``approve_plan`` is on.
        plan_samples: draw this many plans for the goal (1-8); valid ones are merged
            where they are the same plan and one is chosen (``plan_choice``); the others'
            differing tasks are kept as alternatives a rejected task takes before the
            planner is asked again (the action tree); ``result.plan_selection`` keeps the
            candidates, scores and the stage's tokens next to a single plan's
            (docs/search.md).
        plan_sampling: ``"parallel"`` (the default): ``plan_samples`` independent
            planner calls; ``"one_call"``: one planner call writes them all (the prompt is
            paid once, as Tree-Planner samples; the plans come from one reply, asked to
            differ where the goal could be done more than one way); ``"alternatives"``:
            one planner call writes its plan and, for each task it could do another way,
            up to ``plan_samples - 1`` alternatives (the action tree written directly:
            what the samples would agree on is written once; the plan runs as written,
            ``plan_choice`` does not apply).
        plan_choice: ``"critic"`` (the default): a plan critic (``models=
            {"plan_critic": ...}`` to give it its own model) scores the samples and
            chooses; ``"votes"``: no model call, the plan most samples wrote (then the one
            sharing most tasks with the others) starts, and results decide the rest.
        search: workflow search for executor attempts: MCTS over the attempt's steps,
            sampled from the role's model, scored by the critic or ``WorkflowSearch(scorer=
            ...)``, within its budget; the search tree is on the attempt's span.
            ``WorkflowSearch(applies_to=..., from_attempt=...)`` narrows it to some
            subtasks or to retries; ``Role(search=...)`` gives a role its own (or
            ``False``: none).
        approve_plan: pause every run after planning until a person approves, edits or
            rejects the plan (``RunResult.pending``; go on with :meth:`resume` and
            ``decisions=``). Tools made with ``requires_approval=True`` pause the same way
            before each call.
        fallbacks: when planner, role-designer or critic output stays invalid after the
            repair rounds, fall back to documented defaults (each one recorded as a
            ``Notice``) instead of raising ``PlanningError`` / ``RoleDesignError`` /
            ``ModelBehaviorError``. None (the default) turns them on exactly when the
            team's model is the embedded one, whose small model needs them.
        checks: model-free checks every result must pass before the critic judges it
            (functions of the task and the result: see :mod:`orchestra.checks`); a failed
            check is the verdict (``retry`` with its reason, or what its ``CheckFailed``
            asks) and costs no model call. ``Role(checks=...)`` adds checks for one role's
            results. None (the default) runs ``orchestra.checks.DEFAULT_CHECKS`` (the
            built-in ones for any text) when the team's model is the embedded one, and none
            otherwise; ``[]`` turns them off. With fallbacks on, a result that still fails a
            check after its last attempt is kept and marked unverified
            (``RunResult.unverified``) instead of failing its branch.
        output_type: the type of the answer (a pydantic model, dataclass, ``TypedDict`` or
            any type pydantic validates): the synthesizer answers under its JSON schema
            (grammar-constrained on the embedded model), validated and repaired like every
            structured reply, and ``result.output`` is a value of it (``result.text`` its
            JSON). A reply still invalid after ``max_repairs`` raises
            ``ModelBehaviorError`` with the raw replies; the tasks' work stays checkpointed.
        checkpointer: where runs are checkpointed so they can be resumed: SQLite in
            ``$ORCHESTRA_HOME/runs.db`` by default; ``"memory"``, a ``.db`` path, a
            :class:`~orchestra.engine.checkpoints.Checkpoints` or a LangGraph saver.
        prices: USD per million tokens by model-name prefix, added to (or overriding)
            ``orchestra.core.usage.DEFAULT_PRICES``.
        tool_top_k: how many tools the planner, role designer and executors see when there
            are more (the most relevant ones, by BM25 over names and descriptions).
        tool_retrieval: how the most relevant tools are found: ``"bm25"`` (lexical),
            ``"embeddings"`` (MiniLM, offline) or ``"hybrid"`` (rank fusion of both); see
            docs/tools.md for their recall on public task graphs.
        memory: a shared memory (``Memory.local()``, ``Memory.connect(url)``): executors get
            the memories relevant to their task, ``remember`` / ``recall`` tools within their
            role's scopes, and finished results are written to it for later tasks and runs.
        memory_k: memories an executor receives automatically.
        memory_min_score: similarity (0-1) below which a memory is not shown.
        name: the team's name (used for the graph, traces, and the team memory scope).
        history: where runs are listed for ``orchestra runs`` and reports: a
            :class:`~orchestra.observability.history.RunHistory`, True (the default:
            ``$ORCHESTRA_HOME/runs.db``, else ``.orchestra/runs.db``) or False (nowhere).
        budget: limits on each run (tokens, USD, seconds, model and tool calls), checked
            before every call; a run that reaches one ends ``budget_exceeded`` with its
            finished work kept, and :meth:`resume` with a larger budget goes on.
        tracing: where the runs' OpenTelemetry spans go and whether they carry message
            content (:class:`orchestra.Tracing`); by default the ``OTEL_*`` environment
            variables decide, and with none set nothing leaves the process.
        executor: where tool calls run: in this process (``"local"``, the default) or on
            a Ray cluster (``"ray"`` or :class:`orchestra.executors.RayExecutor`); None
            lets ``ORCHESTRA_EXECUTOR`` / ``RAY_ADDRESS`` decide (docs/cluster.md).

    Raises:
        ConfigError: duplicate tool or role names, or a role that names unknown tools.
    """

    def __init__(
        self,
        model: ModelSpec = None,
        *,
        tools: Iterable[TeamTool] = (),
        roles: Iterable[Role] = (),
        models: Mapping[str, ModelSpec] | None = None,
        max_depth: int = 3,
        max_tasks_per_level: int = 8,
        max_parallel: int = 4,
        max_attempts: int = 2,
        max_replans_per_node: int = 1,
        max_replans: int = 3,
        max_steps: int = 8,
        max_repairs: int = 2,
        max_identical_tool_calls: int = 3,
        max_idle_jobs: int = 30,
        max_dependency_chars: int | None = DEFAULT_MAX_DEPENDENCY_CHARS,
        critic: bool = True,
        leads: bool = True,
        decompose: DecomposeMode = "on_demand",
        max_escalations: int = 2,
        on_failure: FailurePolicy = "continue",
        refine_goal: bool = False,
        plan_samples: int = 1,
        plan_sampling: PlanSamplingMode = "parallel",
        plan_choice: PlanChoiceMode = "critic",
        search: WorkflowSearch | None = None,
        approve_plan: bool = False,
        fallbacks: bool | None = None,
        checks: Iterable[Check] | None = None,
        output_type: type[OutputT] | None = None,
        checkpointer: CheckpointSpec = None,
        prices: Mapping[str, Price] | None = None,
        tool_top_k: int = 8,
        tool_retrieval: ToolRetrieval = "bm25",
        memory: Memory | None = None,
        memory_k: int = 4,
        memory_min_score: float = 0.3,
        name: str = "orchestra-team",
        tracing: Tracing | None = None,
        history: RunHistory | bool = True,
        budget: Budget | None = None,
        executor: ExecutorSpec = None,
    ) -> None:
        if tool_top_k < 1:
            raise ConfigError("tool_top_k must be at least 1")
        if decompose not in ("upfront", "on_demand"):
            raise ConfigError(f"decompose must be 'upfront' or 'on_demand', not {decompose!r}")
        if on_failure not in ("continue", "stop"):
            raise ConfigError(f"on_failure must be 'continue' or 'stop', not {on_failure!r}")
        check_plan_sampling(plan_samples, plan_sampling, plan_choice)
        tools = list(tools)
        self._servers = [t for t in tools if isinstance(t, MCPServerTools)]
        names = [s.name for s in self._servers]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(
                f"two MCP servers are named {twice[0]!r}; give one another name"
                " (mcp_server(..., name=...)): the name picks its log and its messages"
            )
        tool_map = _tools_by_name(t for t in tools if not isinstance(t, MCPServerTools))
        # Tools of MCP servers are known only once connected: roles are checked then too.
        role_map = _roles_by_name(roles, tool_map, check_tools=not self._servers)
        try:
            limits = Limits(
                max_depth=max_depth,
                max_tasks_per_level=max_tasks_per_level,
                max_parallel=max_parallel,
                max_attempts=max_attempts,
                max_replans_per_node=max_replans_per_node,
                max_replans=max_replans,
                max_steps=max_steps,
                max_repairs=max_repairs,
                max_identical_tool_calls=max_identical_tool_calls,
                max_idle_jobs=max_idle_jobs,
                max_escalations=max_escalations,
                max_dependency_chars=max_dependency_chars,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        self.name = name
        self.checkpoints = Checkpoints.parse(checkpointer)
        self.executor = resolve_executor(executor)
        default_model = resolve_model(model)
        self.runtime = TeamRuntime(
            model=default_model,
            tools=tool_map,
            roles=role_map,
            models={name: resolve_model(spec) for name, spec in (models or {}).items()},
            role_models={
                name: resolve_model(role.model)
                for name, role in role_map.items()
                if role.model is not None
            },
            limits=limits,
            critic=critic,
            leads=leads,
            decompose=decompose,
            on_failure=on_failure,
            refine_goal=refine_goal,
            plan_samples=plan_samples,
            plan_sampling=plan_sampling,
            plan_choice=plan_choice,
            search=search,
            approve_plan=approve_plan,
            fallbacks=(
                isinstance(default_model, EmbeddedChatModel) if fallbacks is None else fallbacks
            ),
            checks=_team_checks(checks, embedded=isinstance(default_model, EmbeddedChatModel)),
            output=None if output_type is None else output_spec(output_type),
            role_outputs={
                name: output_spec(role.output_type, where=f"role {name!r}: output_type")
                for name, role in role_map.items()
                if role.output_type is not None
            },
            prices={**DEFAULT_PRICES, **(prices or {})},
            tool_top_k=tool_top_k,
            tool_retrieval=tool_retrieval,
            team_name=name,
            call_log=self.checkpoints.call_log(),
            memory=memory,
            memory_k=memory_k,
            memory_min_score=memory_min_score,
            sub_teams={n: r.team for n, r in role_map.items() if r.team is not None},
        )
        self.budget = budget
        self.tracing = tracing if tracing is not None else Tracing()
        self.history = (
            RunHistory.default(redactor=self.tracing.redactor)
            if history is True
            else (history or None)
        )
        self._trace = self.tracing.settings(name)
        self._results: dict[str, RunResult[Any] | None] = {}
        """Results ``arun`` waits for, by run id: the run hands over the one it read at
        its end, so the checkpoint is not read and the result built twice."""
        self._graph = build_graph(checkpointer=None, name=name)

    @property
    def memory(self) -> Memory | None:
        """The team's shared memory, e.g. ``team.memory.add_documents({...}, team=team.name)``."""
        return self.runtime.memory

    @property
    def graph(self) -> RunGraph:
        """The state machine (``team.graph.get_graph().draw_mermaid()``).

        Runs compile it with a checkpoint saver of their own (see
        :class:`~orchestra.engine.checkpoints.Checkpoints`); this copy has none.
        """
        return self._graph

    @asynccontextmanager
    async def _checkpointed_graph(self) -> AsyncIterator[RunGraph]:
        async with self.checkpoints.open() as saver:
            # A copy of the compiled graph with this saver: compiling again costs ~10 ms.
            yield self._graph.copy({"checkpointer": saver})

    async def astream(
        self,
        goal: str,
        *,
        run_id: str | None = None,
        budget: Budget | None = None,
        tokens: bool = False,
    ) -> AsyncIterator[Event]:
        """Run ``goal`` and yield every typed event as it happens.

        ``budget`` replaces the team's budget for this run, resumes included (it is kept
        with the run's checkpoints). With ``tokens`` every model
        reply also arrives in pieces as it is written (``TokenStreamed`` events of
        :mod:`orchestra.core.events`: task, agent, text), structured replies as their raw
        JSON (still validated whole); streaming makes no extra model call and spends no
        extra token.
        """
        goal = _check_goal(goal)
        run_id = run_id or uuid.uuid4().hex
        start: RunState = {"run_id": run_id, "goal": goal}
        if budget is not None:
            start["budget"] = budget.model_dump(mode="json")
        async for event in self._stream(start, run_id, goal, budget=budget, tokens=tokens):
            yield event

    async def aresume_stream(
        self,
        run_id: str,
        *,
        decisions: Decisions | None = None,
        budget: Budget | None = None,
        tokens: bool = False,
    ) -> AsyncIterator[Event]:
        """Continue run ``run_id`` from its last checkpoint, yielding the events from there.

        ``tokens``: stream the model replies too, as :meth:`astream` does.

        Work that finished before the interruption is not done again: finished jobs come
        back from the checkpoint, and side-effecting tool calls that completed are
        answered from the tool-call log (see docs/reliability.md). A run that stopped at
        its budget goes on from where it stopped, under ``budget`` (default: the budget the
        run was started with, else the team's), with what it already spent counted against
        it; so does every resume, a paused run's included. A run paused for approval needs
        ``decisions``: one :class:`~orchestra.core.approval.Decision` for every pending
        request, or a mapping of request id to decision.

        Raises:
            InputError: no run with that id was checkpointed; the run waits for approval
                and ``decisions`` is missing, incomplete or does not fit; or decisions
                were given to a run that waits for none.
            RunBusyError: the run is running or being resumed elsewhere (this process or
                another one sharing the checkpoints).
        """
        async with self.checkpoints.lock(run_id):  # a running run's state is not final
            state, pending = await self._checkpointed_state(run_id)
        budget = budget or _started_with(state)
        start: Command[Any] | None = None
        if pending:
            if decisions is None:
                ids = [r.id for r in pending]
                raise InputError(f"run {run_id!r} waits for approval of {ids}: give decisions")
            limits = self.runtime.limits
            checked = decisions_for(
                pending,
                decisions,
                max_depth=limits.max_depth,
                max_tasks=limits.max_tasks_per_level,
                check_args=self.runtime.approved_args_problem,
            )
            start = Command(resume={rid: d.model_dump(mode="json") for rid, d in checked.items()})
        elif decisions is not None:
            raise InputError(f"run {run_id!r} is not waiting for any approval")
        elif state.get("status") == RunStatus.BUDGET_EXCEEDED.value:
            await self._reopen(run_id, state)
        goal = str(state["goal"])
        async for event in self._stream(start, run_id, goal, budget=budget, tokens=tokens):
            yield event

    async def _reopen(self, run_id: str, state: RunState) -> None:
        """Put a run that ended at its budget back before the stage the budget stopped in.

        Unrun tasks are pending again; see :func:`orchestra.engine.graph.reopen_update`.
        """
        update, as_node = reopen_update(state)
        async with self.checkpoints.lock(run_id), self._checkpointed_graph() as graph:
            await graph.aupdate_state(_config(run_id), update, as_node=as_node)

    async def _checkpointed_state(self, run_id: str) -> tuple[RunState, list[ApprovalRequest]]:
        async with self._checkpointed_graph() as graph:
            snapshot = await graph.aget_state(_config(run_id))
        if not snapshot.values or "goal" not in snapshot.values:
            raise InputError(f"no checkpointed run with id {run_id!r} in {self.checkpoints!r}")
        return cast(RunState, snapshot.values), _pending(snapshot.interrupts)

    async def _stream(
        self,
        start: RunState | Command[Any] | None,
        run_id: str,
        goal: str,
        *,
        budget: Budget | None = None,
        tokens: bool = False,
    ) -> AsyncIterator[Event]:
        """Run in a task of its own, inside the run's span; events come through a queue.

        ``start`` None resumes the run from its checkpoint, a ``Command`` resumes it with
        people's decisions. The own task gives the run its
        own context (the run span and trace settings are current there and reach every
        graph node), and MCP servers' clients hold anyio task groups, which must not be
        suspended across an async generator's ``yield``.
        """
        queue: asyncio.Queue[object] = asyncio.Queue()
        done = object()

        async def produce() -> None:
            try:
                meter = await self._budget_meter(budget or self.budget, start, run_id)
                with (
                    use_settings(self._trace),
                    metering(meter),
                    run_span(team=self.name, run_id=run_id, goal=goal) as span,
                ):
                    async with (
                        self.checkpoints.lock(run_id),  # one writer per run, in any process
                        self._new_id(run_id, start),
                        self._recorded(run_id, goal),
                        self._checkpointed_graph() as graph,
                        AsyncExitStack() as stack,
                    ):
                        runtime, skipped = await self._run_runtime(
                            stack, graph, run_id, resuming=not isinstance(start, dict), span=span
                        )
                        config = _config(run_id) | {"recursion_limit": RECURSION_LIMIT}
                        to_queue = queue_sink(queue)

                        def forward(event: Any) -> None:
                            if isinstance(event, RunFinished):
                                trace_run_end(span, event.status, event.reason, event.output)
                            to_queue(event)

                        streaming = (
                            streaming_tokens(partial(_token_event, run_id))
                            if tokens
                            else nullcontext()
                        )
                        with event_sink(forward), streaming:
                            for message in skipped:  # MCP tools that could not be offered
                                forward(Notice(run_id=run_id, kind="tool_skipped", message=message))
                            # "sync": a step starts once the checkpoint before it is
                            # saved. LangGraph's default saves it in the background, so
                            # a step's job results could be saved first, and a crash then
                            # loses the step (a resume redoes it and all in it).
                            stream = graph.astream(
                                start,
                                config,
                                context=runtime,
                                stream_mode="custom",
                                durability="sync",
                            )
                            async for chunk in stream:  # only what a node wrote there itself
                                forward(chunk)
                        result = await _result(graph, run_id, self.runtime.output)
                        if run_id in self._results:
                            self._results[run_id] = result
                        if result.status is RunStatus.AWAITING_APPROVAL:
                            trace_run_end(span, result.status.value, None, None)
                        trace_run_usage(span, result.usage)
                        if self.history is not None:
                            await asyncio.to_thread(self.history.finished, result.to_record())
            finally:
                await queue.put(done)

        producer = asyncio.create_task(produce())
        try:
            while (item := await queue.get()) is not done:
                yield EventAdapter.validate_python(item)
            try:
                await producer  # re-raises what ended the run
            except BaseExceptionGroup as group:
                raise _sole_exception(group) from group
        finally:
            if not producer.done():
                producer.cancel()
                # let it record how the run ended (history, span) before we go on
                await asyncio.wait([producer])

    async def _run_runtime(
        self,
        stack: AsyncExitStack,
        graph: RunGraph,
        run_id: str,
        *,
        resuming: bool,
        span: Span,
    ) -> tuple[TeamRuntime, list[str]]:
        """The runtime of one run, and the MCP tools it could not offer.

        MCP servers connected and the tool runner opened (both kept open by ``stack``);
        a resumed run's finished jobs found in its checkpoint.
        """
        runtime = replace(self.runtime, saver=_saver(graph))
        if resuming and runtime.saver is not None:
            finished = await finished_jobs(runtime.saver, run_id)
            runtime = replace(runtime, finished_jobs=finished)
        skipped: list[str] = []
        if self._servers:
            extra: list[BaseTool] = []
            for server in self._servers:
                connected = await stack.enter_async_context(server.connect())
                extra.extend(connected.tools)
                skipped.extend(connected.skipped)
            runtime = self._runtime_with(runtime, extra)
            logs = [str(s.log_path) for s in self._servers if s.log_path]
            set_attributes(
                span,
                {
                    "orchestra.mcp.servers": [s.name for s in self._servers],
                    "orchestra.mcp.stderr_logs": logs or None,
                },
            )
        runner = await stack.enter_async_context(self.executor.open_run(run_id, runtime.tools))
        return replace(runtime, tool_runner=runner), skipped

    async def run_nested(
        self,
        goal: str,
        *,
        run_id: str,
        saver: BaseCheckpointSaver[Any] | None,
        decisions: Mapping[str, Decision] | None,
        sink: Callable[[EventBase], None],
    ) -> RunResult[OutputT]:
        """Run ``goal`` as a task delegated by another team's run (``Role(team=self)``).

        The run is checkpointed on ``saver``, the delegating run's (this team's own
        checkpointer when None): called again with the same ``run_id`` it goes on from
        where it was (a finished run is returned as it is; one stopped at the budget
        goes on, under the budget in force here). ``decisions`` answer the approvals
        it waits for. Its events go to ``sink``; its spans nest in the current span;
        it is not listed in this team's history (it is part of the delegating run's
        record), and this team's own ``budget`` does not apply: the delegating run's does.
        """
        goal = _check_goal(goal)
        async with AsyncExitStack() as stack:
            if saver is None:
                saver = await stack.enter_async_context(self.checkpoints.open())
            graph = self._graph.copy({"checkpointer": saver})
            snapshot = await graph.aget_state(_config(run_id))
            state = cast(RunState, snapshot.values)
            start: RunState | Command[Any] | None
            if not state:
                start = {"run_id": run_id, "goal": goal}
            elif decisions:
                start = Command(
                    resume={rid: d.model_dump(mode="json") for rid, d in decisions.items()}
                )
            else:
                if state.get("status") == RunStatus.BUDGET_EXCEEDED.value:
                    update, as_node = reopen_update(state)
                    await graph.aupdate_state(_config(run_id), update, as_node=as_node)
                start = None
            with run_span(team=self.name, run_id=run_id, goal=goal) as span:
                runtime, skipped = await self._run_runtime(
                    stack, graph, run_id, resuming=bool(state), span=span
                )
                with event_sink(sink):
                    for message in skipped:
                        sink(Notice(run_id=run_id, kind="tool_skipped", message=message))
                    async for chunk in graph.astream(
                        start,
                        _config(run_id) | {"recursion_limit": RECURSION_LIMIT},
                        context=runtime,
                        stream_mode="custom",
                        durability="sync",
                    ):  # with a sink set, only what a node wrote there itself
                        sink(EventAdapter.validate_python(chunk))
                result = await _result(graph, run_id, self.runtime.output)
                trace_run_end(span, result.status.value, result.reason, result.text)
                trace_run_usage(span, result.usage)
        return result

    async def _budget_meter(
        self, budget: Budget | None, start: RunState | Command[Any] | None, run_id: str
    ) -> BudgetMeter | None:
        """The run's meter; a resumed run starts with what it spent before."""
        if budget is None:
            return None
        if isinstance(start, dict):
            return BudgetMeter(budget)
        earlier = await self.aget_run(run_id)
        # a call answered from the call log (replayed) did not run: it spent nothing
        ran = sum(1 for call in earlier.tool_calls if not call.replayed)
        return BudgetMeter(budget, spent=earlier.usage, tool_calls=ran)

    @asynccontextmanager
    async def _new_id(
        self, run_id: str, start: RunState | Command[Any] | None
    ) -> AsyncIterator[None]:
        """Refuse to start a new run under the id of one that exists (held under its lock).

        Starting again on an existing run's checkpoints would merge the two: the new
        goal's side-effecting calls would be answered from the old run's call log.
        """
        if isinstance(start, dict):
            known = self.history is not None and await asyncio.to_thread(
                self.history.exists, run_id
            )
            if not known:
                async with self._checkpointed_graph() as graph:
                    known = bool((await graph.aget_state(_config(run_id))).values)
            if known:
                raise InputError(
                    f"run {run_id!r} already exists: continue it with `orchestra resume"
                    f" TARGET {run_id}` (Team.aresume) or start a new run with another id"
                )
        yield

    @asynccontextmanager
    async def _recorded(self, run_id: str, goal: str) -> AsyncIterator[None]:
        """Put the run in the history as running, and as errored if an exception ends it."""
        history = self.history
        if history is None:
            yield
            return
        await asyncio.to_thread(history.started, run_id, team=self.name, goal=goal)
        try:
            yield
        except BaseException as exc:
            if isinstance(exc, BaseExceptionGroup):
                exc = _sole_exception(exc)
            partial = await self._partial_record(run_id)
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await asyncio.shield(asyncio.to_thread(history.errored, run_id, error, record=partial))
            raise

    async def _partial_record(self, run_id: str) -> RunRecord | None:
        try:
            return (await self.aget_run(run_id)).to_record()
        except Exception:  # nothing checkpointed yet, or the checkpointer itself failed
            return None

    def _runtime_with(self, runtime: TeamRuntime, extra: list[BaseTool]) -> TeamRuntime:
        """``runtime`` with the connected servers' tools added and roles re-checked."""
        tools = dict(runtime.tools)
        for t in extra:
            if t.name in tools:
                raise ConfigError(f"two tools are named {t.name!r} (use mcp_server(prefix=...))")
            tools[t.name] = t
        _roles_by_name(runtime.roles.values(), tools)
        return replace(runtime, tools=tools)

    async def arun(
        self,
        goal: str,
        *,
        run_id: str | None = None,
        on_event: Callable[[Event], None] | None = None,
        budget: Budget | None = None,
        tokens: bool = False,
    ) -> RunResult[OutputT]:
        """Run ``goal`` to the end and return the result (``on_event`` sees every event).

        ``budget`` replaces the team's budget for this run; ``tokens`` streams the model
        replies to ``on_event`` too (see :meth:`astream`).

        Raises:
            InputError: the goal is empty or too long, or a run with ``run_id`` exists
                already (continue it with :meth:`aresume`).
            PlanningError: the planner never produced a valid plan.
            RoleDesignError: the role designer never produced a valid role.
        """
        run_id = run_id or uuid.uuid4().hex
        self._results[run_id] = None
        try:
            async for event in self.astream(goal, run_id=run_id, budget=budget, tokens=tokens):
                if on_event is not None:
                    on_event(event)
            result = self._results.get(run_id)
        finally:
            self._results.pop(run_id, None)
        if result is None:
            return await self.aget_run(run_id)
        return cast(RunResult[OutputT], result)

    async def aresume(
        self,
        run_id: str,
        *,
        decisions: Decisions | None = None,
        on_event: Callable[[Event], None] | None = None,
        budget: Budget | None = None,
        tokens: bool = False,
    ) -> RunResult[OutputT]:
        """Continue an interrupted or paused run (see :meth:`aresume_stream`).

        A run that already ended is returned as it is. ``tokens`` streams the model
        replies to ``on_event`` too.

        Raises:
            InputError: no run with that id was checkpointed, or ``decisions`` do not
                answer what the run waits for.
        """
        stream = self.aresume_stream(run_id, decisions=decisions, budget=budget, tokens=tokens)
        async for event in stream:
            if on_event is not None:
                on_event(event)
        return await self.aget_run(run_id)

    def run(
        self,
        goal: str,
        *,
        run_id: str | None = None,
        on_event: Callable[[Event], None] | None = None,
        budget: Budget | None = None,
    ) -> RunResult[OutputT]:
        """Blocking form of :meth:`arun`; call ``arun`` from async code instead."""
        _no_running_loop("run")
        return asyncio.run(self.arun(goal, run_id=run_id, on_event=on_event, budget=budget))

    def resume(
        self,
        run_id: str,
        *,
        decisions: Decisions | None = None,
        on_event: Callable[[Event], None] | None = None,
        budget: Budget | None = None,
    ) -> RunResult[OutputT]:
        """Blocking form of :meth:`aresume`."""
        _no_running_loop("resume")
        return asyncio.run(
            self.aresume(run_id, decisions=decisions, on_event=on_event, budget=budget)
        )

    async def aget_run(self, run_id: str) -> RunResult[OutputT]:
        """The result of run ``run_id`` as checkpointed so far.

        Raises:
            InputError: no run with that id was checkpointed.
        """
        async with self._checkpointed_graph() as graph:
            return await _result(graph, run_id, self.runtime.output)

    def as_node(
        self,
        *,
        goal: str | Callable[[Mapping[str, Any]], str] = "goal",
        output: str = "answer",
        run_id_key: str | None = None,
    ) -> TeamNode:
        """This team as a node of your own LangGraph ``StateGraph``.

        The node reads the goal from ``state[goal]`` (or ``goal(state)``), runs the team,
        and returns ``{output: result.output}`` (typed, with an ``output_type``; with
        ``run_id_key``, the team run's id too). The run is checkpointed on the parent
        graph's checkpointer, under the parent's thread, so resuming the parent resumes
        the team; the team's approvals become the parent's interrupts (resume with
        ``Command(resume={request_id: decision, ...})``; with several nodes waiting at
        once, ``Command(resume={interrupt_id: {request_id: decision}})``); its events go
        to the parent's custom stream. It runs under ``graph.ainvoke`` and, in a worker
        thread of its own, under ``graph.invoke``. See :mod:`orchestra.team_node`.
        """
        return team_node(self, goal=goal, output=output, run_id_key=run_id_key)

    def as_tool(
        self,
        name: str | None = None,
        description: str | None = None,
        *,
        timeout: float | None = None,
    ) -> BaseTool:
        """This team as a LangChain tool taking a ``goal``: each call is a run of the team.

        The tool returns the team's answer and run id (a partial answer says what is
        missing); a run without an answer (failed, out of budget, waiting for a person)
        is an error naming the run. It works in any LangChain or LangGraph agent and as a
        tool of another team, whose resumed runs never run a finished call again (the
        call's idempotency key names this team's run). ``timeout`` bounds a call in
        seconds (None: no bound; the team's ``budget`` bounds each run too).
        """
        return team_tool(self, name=name, description=description, timeout=timeout)

    async def atool_result(self, call: ToolCallRecord) -> str:
        """The whole output of ``call`` (one of ``RunResult.tool_calls``).

        Outputs over 65,536 characters are stored once beside the checkpoints and the
        record holds their beginning (``call.result_ref`` is set); this reads them back.

        Raises:
            InputError: the output is no longer stored (pruned, or another store).
        """
        if call.result_ref is None:
            return (call.result if call.ok else call.error) or ""
        log = self.runtime.call_log
        text = await log.result(call.result_ref) if log is not None else None
        if text is None:
            raise InputError(
                f"the output of tool call {call.key!r} ({call.result_ref}) is not stored in"
                f" {self.checkpoints!r} (pruned, or the run used another store)"
            )
        return text

    def tool_result(self, call: ToolCallRecord) -> str:
        """Blocking form of :meth:`atool_result`."""
        _no_running_loop("tool_result")
        return asyncio.run(self.atool_result(call))


Role.model_rebuild()  # a role's ``team`` is a Team, defined just above


async def _result(
    graph: RunGraph, run_id: str, output_type: OutputSpec[Any] | None
) -> RunResult[Any]:
    snapshot = await graph.aget_state(_config(run_id))
    if not snapshot.values or "tree" not in snapshot.values:
        raise InputError(f"no checkpointed run with id {run_id!r}")
    pending = _pending(snapshot.interrupts)
    return result_from_state(
        cast(RunState, snapshot.values),
        pending,
        output_type=output_type,
        ended=not snapshot.next or bool(pending),
    )


def _token_event(run_id: str, call: AgentCall, stream: str, text: str) -> None:
    """A piece of a streamed reply as an event of the run it is made in.

    Sent to the sink current where the call is made: a sub-team's run names its tasks
    under the delegated task there.
    """
    event = TokenStreamed(
        run_id=run_id,
        task_id=call.task_id or ROOT_ID,
        agent=call.agent,
        role=call.role,
        stream=stream,
        text=text,
    )
    current_sink()(event)


def _pending(interrupts: Iterable[Interrupt]) -> list[ApprovalRequest]:
    """The approval requests a paused run's checkpoint holds."""
    return [ApprovalRequest.model_validate(r) for i in interrupts for r in i.value]


def _no_running_loop(method: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"Team.{method}() cannot be called from a running event loop; use a{method}()"
    )


def _started_with(state: RunState) -> Budget | None:
    """The budget a run was started with, if it was given one (see ``RunState.budget``)."""
    given = state.get("budget")
    return Budget.model_validate(given) if given else None


def _sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error inside (nested) exception groups, so typed errors stay typed.

    The MCP client's task groups wrap whatever ends a run in an exception group.
    """
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return inner


def _saver(graph: RunGraph) -> BaseCheckpointSaver[Any] | None:
    saver = graph.checkpointer
    return saver if isinstance(saver, BaseCheckpointSaver) else None


def _config(run_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": run_id}}


def _check_goal(goal: object) -> str:
    if not isinstance(goal, str) or not goal.strip():
        raise InputError("the goal must be a non-empty string")
    if len(goal) > MAX_GOAL_CHARS:
        raise InputError(f"the goal is {len(goal)} characters; the limit is {MAX_GOAL_CHARS}")
    return goal.strip()


def _tools_by_name(tools: Iterable[TeamTool]) -> dict[str, BaseTool]:
    flat: list[BaseTool] = []
    for item in tools:
        if isinstance(item, BaseTool):
            flat.append(item)
        elif isinstance(item, ToolSet):
            flat.extend(item.tools())
        elif callable(item):
            flat.append(make_tool(item))
        else:
            raise ConfigError(f"{item!r} is not a tool, a ToolSet or a function")
    out: dict[str, BaseTool] = {}
    for t in flat:
        if t.name in out:
            raise ConfigError(f"two tools are named {t.name!r}")
        out[t.name] = t
    return out


def _roles_by_name(
    roles: Iterable[Role], tools: Mapping[str, BaseTool], *, check_tools: bool = True
) -> dict[str, Role]:
    out: dict[str, Role] = {}
    for role in roles:
        if role.name in out:
            raise ConfigError(f"two roles are named {role.name!r}")
        unknown = [t for t in role.tools if t not in tools]
        if unknown and check_tools:
            raise ConfigError(
                f"role {role.name!r} names unknown tool(s) {unknown}; the team has {sorted(tools)}"
            )
        out[role.name] = role
    return out


def _team_checks(checks: Iterable[Check] | None, *, embedded: bool) -> tuple[Check, ...]:
    """The team's checks, each a function of (task, result); None: the defaults."""
    if checks is None:
        return DEFAULT_CHECKS if embedded else ()
    given = tuple(checks)
    for check in given:
        if not callable(check):
            raise ConfigError(f"checks: {check!r} is not a function of (task, result)")
    return given
