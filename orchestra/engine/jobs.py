"""The units of work the dispatcher starts, each run as a LangGraph task; executor attempts.

The planning-side jobs (role design, re-plans, decompositions, integrations) are in
:mod:`orchestra.engine.plan_jobs`.

Running them as tasks makes LangGraph checkpoint each one's result as soon as it
finishes, independently of its siblings. Their inputs are live objects (they are not
persisted); their outputs are plain JSON data.

LangGraph identifies a task call by its name and its position among the node's calls.
Positions depend on completion order, which can differ when a run resumes, so every job
is named after the tree node (and attempt) it serves: a checkpointed result can then
only ever come back to the call it belongs to. And since a changed position would make
LangGraph run a finished job again, a resumed run first collects the finished jobs'
results from the checkpoint by name (each result carries its job's name) and
:func:`start` answers those without running them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from langchain_core.tools import BaseTool
from langgraph.func import task
from opentelemetry import trace
from opentelemetry.trace import Span, StatusCode
from pydantic import JsonValue

from orchestra.agents.attempt_context import AttemptContext
from orchestra.agents.calls import UsageMeter, metered
from orchestra.agents.critic import judge
from orchestra.agents.executor import (
    ExecutionResult,
    PausedAttempt,
    attempt_messages,
    bind_tools_of,
    execute_task,
)
from orchestra.agents.role_designer import design_role
from orchestra.agents.typed_result import typed_result
from orchestra.agents.workflow_search import RoleSetup, SearchProgress, Step, search_task
from orchestra.core.approval import Decision
from orchestra.core.budget import BudgetMeter, metering
from orchestra.core.checks import CheckedTask, run_checks
from orchestra.core.errors import BudgetExceeded, ModelBehaviorError, RoleDesignError
from orchestra.core.events import SearchStepped, ToolCalled, ToolProgress, ToolStarted
from orchestra.core.output_types import OutputSpec
from orchestra.core.record import ToolCallRecord
from orchestra.core.roles import RoleSpec
from orchestra.core.search_options import WorkflowSearch
from orchestra.core.search_tree import SearchRecord
from orchestra.core.tree import TaskNode, TaskTree, Verdict
from orchestra.core.usage import Usage
from orchestra.engine.call_log import INLINE_RESULT_CHARS, stored_preview
from orchestra.engine.emit import Emitter
from orchestra.engine.outcomes import (
    BUDGET_STOPPED,
    KIND_KEY,
    AttemptOutcome,
    BudgetStopped,
    JobNotice,
    JobOutcome,
)
from orchestra.engine.runtime import TeamRuntime
from orchestra.memory import MemoryHit, MemoryScope, MemorySource
from orchestra.observability.semconv import (
    OPENINFERENCE_OUTPUT,
    ORCHESTRA_TASK_OUTPUT,
    ORCHESTRA_TASK_STATUS,
)
from orchestra.observability.spans import (
    agent_span,
    set_attributes,
    set_content,
    trace_search,
    trace_verdict,
)
from orchestra.tools.invoke import ToolOutcome
from orchestra.tools.memory_tools import MEMORY_TOOL_NAMES, format_hit, memory_tools
from orchestra.tools.progress import ToolProgressUpdate, progress_sink

__all__ = [
    "AttemptJob",
    "JobInput",
    "JobProgress",
    "LeafJob",
    "TaskJob",
    "attempt",
    "design_spec",
    "judged",
    "start",
    "task_text",
]

J = TypeVar("J", bound="JobInput")
Out = TypeVar("Out", bound=JobOutcome)

_EVENT_OUTPUT_CHARS = 2000


@dataclass(slots=True)
class JobProgress:
    """What a running job has spent so far, kept where the scheduler can read it.

    A job's result says what it spent; this says it too when no result comes: the job was
    cancelled, or stopped at the budget in the middle of an attempt. It lives only as long
    as the job (it is not checkpointed).
    """

    meter: UsageMeter | None = None
    """The job's usage meter, once the job has started."""
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    """Tool-call log entries of the calls that completed, in order, outputs inline (a
    cancelled job's calls are taken from here at once, with no time to store them)."""
    outcomes: list[ToolOutcome] = field(default_factory=list)
    """The same calls' outcomes, for entries with long outputs stored apart."""

    @property
    def usage(self) -> Usage:
        """Model usage spent so far."""
        return self.meter.usage if self.meter is not None else Usage()

    @property
    def ran(self) -> bool:
        """Whether the job made a model or tool call."""
        return bool(self.tool_calls) or self.usage.model_calls > 0


class JobInput(Protocol):
    """What every job gets: at least the team's runtime."""

    @property
    def runtime(self) -> TeamRuntime:
        """The team's runtime for this run."""
        ...

    @property
    def meter(self) -> BudgetMeter | None:
        """The budget meter of the job's subtree, when the budget has one."""
        ...

    @property
    def progress(self) -> JobProgress:
        """Where the job keeps what it has spent so far."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskJob:
    """What every job works with: the run, its tree and the task the job serves."""

    runtime: TeamRuntime
    run_id: str
    tree: TaskTree
    task_id: str
    meter: BudgetMeter | None = None
    """The budget meter of the task's subtree, when the budget limits subtrees."""
    progress: JobProgress = field(default_factory=JobProgress)

    @property
    def node(self) -> TaskNode:
        """The task the job serves."""
        return self.tree.get(self.task_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeafJob(TaskJob):
    """One attempt at a leaf by its role, followed by the critic's verdict."""

    role: RoleSpec
    feedback: str | None
    """The critic's reason when this attempt is a retry."""
    attempt: int
    decisions: Mapping[str, Decision] = field(default_factory=dict)
    """People's decisions on what the attempt waits for, by request id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptJob(LeafJob):
    """One executor attempt at a leaf, followed by the critic's verdict."""

    paused: PausedAttempt | None = None
    """The attempt stopped for approval of a tool call: go on from there."""
    prior_calls: Mapping[str, int] = field(default_factory=dict)
    """Tool calls the task's earlier attempts made (for the repeated-call guard)."""


@dataclass(frozen=True, slots=True)
class _AttemptEvents:
    """The events of one attempt's tool calls (and searches), for its task.

    Every call that completes is also kept in the job's progress at once, so it stays on
    the record whatever stops the attempt before it returns.
    """

    emit: Emitter
    job: AttemptJob

    @property
    def task_id(self) -> str:
        return self.job.task_id

    def tool_started(self, tool: str, key: str) -> None:
        self.emit(ToolStarted, task_id=self.task_id, tool=tool, key=key)

    def tool_progress(self, update: ToolProgressUpdate) -> None:
        self.emit(
            ToolProgress,
            task_id=self.task_id,
            tool=update.tool,
            key=update.key,
            progress=update.progress,
            total=update.total,
            message=update.message,
        )

    def tool_called(self, outcome: ToolOutcome) -> None:
        self.job.progress.outcomes.append(outcome)
        self.job.progress.tool_calls.append(_entry(self.job, outcome, outcome.output, None))
        self.emit(
            ToolCalled,
            task_id=self.task_id,
            tool=outcome.tool,
            args=outcome.args,
            ok=outcome.ok,
            output=outcome.output[:_EVENT_OUTPUT_CHARS],
            duration_s=outcome.duration_s,
            key=outcome.key,
            tries=outcome.tries,
        )


async def attempt(job: AttemptJob) -> AttemptOutcome:
    """Execute the leaf, then let the critic judge a result."""
    rt = job.runtime
    events = _AttemptEvents(Emitter(job.run_id), job)
    notices: list[JobNotice] = []
    ctx = await _prepared(job, job.role, events, notices, search=job.paused is None)
    role = ctx.role
    node = job.node
    with (
        progress_sink(events.tool_progress),
        metered(rt.prices) as meter,
        agent_span(
            "executor", task=node, role=role.name, attempt=job.attempt, run_id=job.run_id
        ) as span,
    ):
        execution: ExecutionResult | None = None
        searched: ExecutionResult | None = None
        search = rt.search_for(role, node, job.attempt) if job.paused is None else None
        if search is not None:
            searched = await _searched(job, search, ctx, events, span, meter, notices)
            if searched is not None and searched.output is not None:
                execution = searched
            elif searched is not None:
                # Nothing the search may try reached an answer (e.g. the task needs a tool
                # with side effects, which a search never explores): a search is a way to a
                # better answer, not a gate, so the attempt runs as usual.
                set_attributes(span, {"orchestra.search.fallback": searched.error or ""})
        if execution is None:
            execution = await execute_task(rt.model_for(role), ctx, resume=job.paused)
            if searched is not None:  # the search's tree and calls stay on the record
                execution.search = searched.search
                execution.tool_calls = [*searched.tool_calls, *execution.tool_calls]
                execution.steps += searched.steps
        if execution.paused is not None:
            set_attributes(span, {ORCHESTRA_TASK_STATUS: "waiting"})
            return AttemptOutcome(
                usage=meter.usage,
                paused=execution.paused,
                search=execution.search,
                tool_calls=[await _log_entry(job, o) for o in execution.tool_calls],
                notices=notices,
            )
        answered_by = execution.role or role  # a search may have switched the role
        typed = rt.output_for(answered_by.name)
        data: JsonValue | None = None
        if typed is not None and execution.output is not None:
            data = await _typed(job, execution, typed, answered_by)
        set_content(span, ORCHESTRA_TASK_OUTPUT, execution.output)
        set_content(span, OPENINFERENCE_OUTPUT, execution.output)
        verdict: Verdict | None = None
        used = [o.output for o in execution.tool_calls if o.ok]
        if execution.verdict is not None and execution.output is not None:
            # the critic judged this answer inside the search; the checks still apply
            verdict = await checked(
                rt, node, execution.output, role=answered_by.name, tool_outputs=used
            )
            if verdict is None:
                verdict = execution.verdict
                trace_verdict(span, verdict)
        elif execution.output is not None:
            # The critic's span sits inside the attempt it judges.
            verdict = await judged(
                rt,
                job.tree,
                job.task_id,
                job.attempt,
                job.run_id,
                execution.output,
                notices,
                role=answered_by.name,
                tool_outputs=used,
            )
        _trace_attempt(span, execution.error, verdict, meter.usage)
        if execution.loop is not None:
            set_attributes(span, {"orchestra.guard": "repeated_tool_call"})
    if rt.memory is not None and verdict is not None and verdict.verdict == "pass":
        # Finished results feed later tasks and later runs of the team (the TME idea).
        try:
            await asyncio.to_thread(
                rt.memory.add,
                execution.output or "",
                team=rt.team_name,
                scope=MemoryScope.TEAM,
                source=MemorySource.TASK_RESULT,
                run_id=job.run_id,
                task_id=job.task_id,
                role=role.name,
                title=job.tree.get(job.task_id).title,
            )
        except Exception as exc:  # the result stands; only its copy in memory is missing
            notices.append(_memory_notice("write", exc))
    return AttemptOutcome(
        usage=meter.usage,
        output=execution.output,
        data=data,
        error=execution.error,
        verdict=verdict,
        loop=execution.loop,
        search=execution.search,
        role=execution.role,
        tool_calls=[await _log_entry(job, o) for o in execution.tool_calls],
        finished_at=datetime.now(UTC),
        notices=notices,
    )


async def _typed(
    job: AttemptJob, execution: ExecutionResult, typed: OutputSpec[Any], role: RoleSpec
) -> JsonValue | None:
    """The attempt's result as typed JSON data; its text becomes that JSON.

    A result that stays invalid is no result: the attempt failed (and is retried).
    """
    rt = job.runtime
    try:
        value = await typed_result(
            rt.model_for(role),
            job.tree,
            job.task_id,
            execution.output or "",
            typed,
            role=role.name,
            max_repairs=rt.limits.max_repairs,
        )
    except ModelBehaviorError as err:
        execution.error = f"the result is not a valid {typed.name}: {'; '.join(err.errors)}"
        execution.output = None
        return None
    execution.output = typed.text(value)
    return typed.to_json(value)


async def _prepared(
    job: AttemptJob,
    role: RoleSpec,
    events: _AttemptEvents,
    notices: list[JobNotice],
    *,
    search: bool = True,
) -> AttemptContext:
    """The attempt ``role`` makes at the job's task: its tools offered, its memories.

    The tools offered are those the plan named first, then the most relevant others,
    ``tool_top_k`` in all; with a team memory, ``remember`` and ``recall`` too (on the
    role's allowlist), and the memories within the role's read scopes (none are looked
    up without ``search``: an attempt going on after a pause has them in its
    conversation already).
    """
    rt = job.runtime
    about = task_text(job.tree, job.task_id)
    tools: dict[str, BaseTool] = dict(rt.tools)
    memories: list[str] = []
    planned = [t for t in job.node.tools if t in role.tools]
    relevant = rt.registry.relevant(about, among=role.tools)
    offered = list(dict.fromkeys([*planned, *relevant]))[: max(rt.tool_top_k, len(planned))]
    if rt.memory is not None:
        try:
            hits = await _memories(job, role, about) if search else []
        except Exception as exc:  # a memory that is down must not stop the work
            notices.append(_memory_notice("read", exc))
        else:
            extra = memory_tools(
                rt.memory,
                team=rt.team_name,
                run_id=job.run_id,
                task_id=job.task_id,
                role=role.name,
                read=role.memory_read,
                write=role.memory_write,
            )
            tools.update((t.name, t) for t in extra)
            allowed = tuple(dict.fromkeys([*role.tools, *MEMORY_TOOL_NAMES]))
            role = role.model_copy(update={"tools": allowed})
            offered = [*offered, *MEMORY_TOOL_NAMES]
            memories = [format_hit(h) for h in hits]
    return AttemptContext(
        tree=job.tree,
        task_id=job.task_id,
        role=role,
        tools=tools,
        offered=offered,
        memories=memories,
        feedback=job.feedback,
        key_scope=f"{job.run_id}/{job.task_id}/{job.attempt}",
        decisions=job.decisions,
        prior_calls=job.prior_calls,
        max_steps=rt.limits.max_steps,
        max_identical_calls=rt.limits.max_identical_tool_calls,
        max_dependency_chars=rt.limits.max_dependency_chars,
        call_log=rt.call_log,
        runner=rt.tool_runner,
        output_format=typed.instructions() if (typed := rt.output_for(role.name)) else None,
        on_tool_call=events.tool_called,
        on_tool_start=events.tool_started,
    )


async def _memories(job: AttemptJob, role: RoleSpec, about: str) -> list[MemoryHit]:
    """The memories within ``role``'s read scopes most relevant to the task."""
    rt = job.runtime
    assert rt.memory is not None
    return await asyncio.to_thread(
        rt.memory.search,
        about,
        team=rt.team_name,
        run_id=job.run_id,
        scopes=role.memory_read,
        k=rt.memory_k,
        min_score=rt.memory_min_score,
    )


def _memory_notice(what: str, exc: Exception) -> JobNotice:
    doing = "reading memories" if what == "read" else "storing the result in memory"
    return JobNotice(
        kind="memory_unavailable",
        message=f"{doing} failed ({type(exc).__name__}: {exc}); the attempt went on without",
    )


def task_text(tree: TaskTree, task_id: str) -> str:
    """What a task is about, for tool retrieval."""
    task = tree.get(task_id)
    return f"{task.title}. {task.description} {' '.join(task.acceptance_criteria)}"


async def _log_entry(job: AttemptJob, outcome: ToolOutcome) -> ToolCallRecord:
    """The call as checkpointed state; a long output by reference to the run store.

    Checkpoints copy the state at every step (a 5 MB result was in the database seven
    times); the call log's result table keeps it once, and the entry its beginning.
    """
    output, ref = outcome.output, None
    log = job.runtime.call_log
    if len(output) > INLINE_RESULT_CHARS and log is not None:
        ref = await log.keep_result(output)
        if ref is not None:
            output = stored_preview(output, ref)
    return _entry(job, outcome, output, ref)


async def _stored_entries(job: JobInput) -> list[ToolCallRecord]:
    """The tool calls a stopped attempt made, long outputs stored apart (as in a result)."""
    if not isinstance(job, AttemptJob):
        return list(job.progress.tool_calls)
    return [await _log_entry(job, o) for o in job.progress.outcomes]


def _entry(job: AttemptJob, outcome: ToolOutcome, output: str, ref: str | None) -> ToolCallRecord:
    """The call as checkpointed state, its output as given (whole, or a stored preview)."""
    return ToolCallRecord(
        key=outcome.key,
        task_id=job.task_id,
        attempt=job.attempt,
        tool=outcome.tool,
        args=outcome.args,
        ok=outcome.ok,
        result=output if outcome.ok else None,
        error=None if outcome.ok else output,
        result_ref=ref,
        result_chars=len(outcome.output) if ref is not None else None,
        side_effects=outcome.side_effects,
        replayed=outcome.replayed,
        interrupted=outcome.interrupted,
        tries=outcome.tries,
        duration_s=outcome.duration_s,
        started_at=outcome.started_at,
    )


def _trace_attempt(span: Span, error: str | None, verdict: Verdict | None, usage: Usage) -> None:
    """The attempt's outcome on its span: done, retry, replan or failed, and its tokens."""
    status = (
        "failed" if verdict is None else ("done" if verdict.verdict == "pass" else verdict.verdict)
    )
    set_attributes(
        span,
        {
            ORCHESTRA_TASK_STATUS: status,
            "orchestra.usage.input_tokens": usage.input_tokens,
            "orchestra.usage.output_tokens": usage.output_tokens,
            "orchestra.usage.cost_usd": usage.cost_usd,
        },
    )
    if verdict is None:
        span.set_status(StatusCode.ERROR, error or "no result")


async def checked(
    rt: TeamRuntime,
    node: TaskNode,
    output: str,
    *,
    role: str | None,
    tool_outputs: Sequence[str] = (),
) -> Verdict | None:
    """The verdict of the first check ``output`` fails (on the current span), or None.

    The checks are the team's and ``role``'s (see :meth:`TeamRuntime.checks_for`).
    """
    checks = rt.checks_for(role)
    if not checks:
        return None
    task = CheckedTask(
        id=node.id,
        title=node.title,
        description=node.description,
        criteria=tuple(node.acceptance_criteria),
        tool_outputs=tuple(tool_outputs),
    )
    failed = await run_checks(checks, task, output)
    if failed is None:
        return None
    verdict = Verdict(verdict=failed.verdict, reason=failed.reason, source=failed.source)
    trace_verdict(trace.get_current_span(), verdict)
    return verdict


async def judged(
    rt: TeamRuntime,
    tree: TaskTree,
    task_id: str,
    attempt: int,
    run_id: str,
    output: str,
    notices: list[JobNotice],
    *,
    role: str | None = None,
    tool_outputs: Sequence[str] = (),
) -> Verdict:
    """The verdict on ``output`` for ``task_id``: the checks', else the critic's.

    Checks run first (no model call); the critic judges only a result that passed them
    all (a pass without a critic).
    """
    node = tree.get(task_id)
    failed = await checked(rt, node, output, role=role, tool_outputs=tool_outputs)
    if failed is not None:
        return failed
    if not rt.critic:
        return Verdict(verdict="pass", reason="no critic in this team")
    with agent_span("critic", task=node, attempt=attempt, run_id=run_id) as span:
        try:
            verdict = await judge(
                rt.model_for_agent("critic"),
                tree,
                task_id,
                output,
                max_repairs=rt.limits.max_repairs,
            )
        except ModelBehaviorError as err:
            if not rt.fallbacks:
                raise
            why = "; ".join(err.errors)
            notices.append(
                JobNotice(
                    kind="critic_fallback", message=f"no valid verdict ({why}); accepted unchecked"
                )
            )
            verdict = Verdict(verdict="pass", reason="accepted without a valid critic verdict")
        trace_verdict(span, verdict)
    return verdict


async def design_spec(
    rt: TeamRuntime,
    tree: TaskTree,
    task_id: str,
    roles: Mapping[str, RoleSpec],
    *,
    sample: int = 0,
) -> tuple[RoleSpec, bool]:
    """The role designer's spec for ``task_id`` (see :func:`design_role`)."""
    return await design_role(
        rt.model_for_agent("role_designer"),
        tree,
        task_id,
        roles=roles,
        tools=rt.tools_for(task_text(tree, task_id)),
        team_tools=frozenset(rt.tools),
        models=frozenset(rt.models),
        max_repairs=rt.limits.max_repairs,
        sample=sample,
    )


async def _searched(
    job: AttemptJob,
    search: WorkflowSearch,
    ctx: AttemptContext,
    events: _AttemptEvents,
    span: Span,
    meter: UsageMeter,
    notices: list[JobNotice],
) -> ExecutionResult | None:
    """The attempt ``ctx`` as a workflow search (``search``) instead of one trajectory.

    None when the role's model cannot call tools natively: a step could not be told apart
    from an answer, so the attempt runs as usual (the span says so).
    """
    rt = job.runtime

    def scored(progress: SearchProgress) -> None:
        events.emit(SearchStepped, task_id=job.task_id, attempt=job.attempt, **asdict(progress))

    setup = _role_setup(job, ctx)
    if isinstance(setup, str):
        set_attributes(span, {"orchestra.search.skipped": setup})
        return None
    designed: dict[str, RoleSpec] = {}  # as designed (without the memory tools added)

    async def more_roles(sample: int) -> RoleSetup | str:
        try:
            with agent_span("role_designer", task=job.node, run_id=job.run_id) as design_span:
                roles = {job.role.name: job.role}
                spec, _ = await design_spec(rt, job.tree, job.task_id, roles, sample=sample)
                set_attributes(design_span, {"orchestra.role.designed": spec.name})
        except RoleDesignError as err:
            return "; ".join(err.errors)  # the search rejects the design with this reason
        found = _role_setup(job, await _prepared(job, spec, events, notices))
        if not isinstance(found, str):
            designed.setdefault(found.role.name, spec)
        return found

    found = await search_task(
        setup,
        replace(ctx, key_scope=f"{ctx.key_scope}/search"),
        options=search,
        more_roles=more_roles,
        critic=rt.model_for_agent("critic"),
        tokens=lambda: meter.usage.total_tokens,
        max_repairs=rt.limits.max_repairs,
        on_scored=scored,
        fallbacks=rt.fallbacks,
        checks=partial(_checked_answer, rt, job.node, ctx.role.name),
    )
    notices.extend(JobNotice(kind="critic_fallback", message=m) for m in found.notices)
    record = SearchRecord.of(
        found.result,
        attempt=job.attempt,
        describe=Step.summary,
        votes=found.votes,
        best=found.node,
    )
    trace_search(span, record)
    stopped = found.result.stop_reason
    return ExecutionResult(
        output=found.answer,
        error=None if found.answer else f"the search found no answer (stopped: {stopped})",
        steps=found.result.evaluations,
        tool_calls=found.tool_calls,
        search=record,
        verdict=found.verdict if rt.critic else None,
        role=designed.get(found.role.name) if found.role.name != ctx.role.name else None,
    )


async def _checked_answer(
    rt: TeamRuntime, node: TaskNode, role: str, answer: str, tool_outputs: Sequence[str]
) -> Verdict | None:
    return await checked(rt, node, answer, role=role, tool_outputs=tool_outputs)


def _role_setup(job: AttemptJob, ctx: AttemptContext) -> RoleSetup | str:
    """How the role of ``ctx`` works on the task in a search, or why it cannot be searched.

    A search needs native tool calling: without it a step could not be told apart from an
    answer.
    """
    role_tools = ctx.offered_tools()
    bound, native = bind_tools_of(job.runtime.model_for(ctx.role), role_tools)
    if role_tools and not native:
        return f"the model of role {ctx.role.name!r} has no native tool calling"
    messages = attempt_messages(ctx, role_tools, native=native)
    return RoleSetup(role=ctx.role, model=bound, tools=role_tools, messages=messages)


class _NamedJob(Generic[J, Out]):
    """A job function under a per-node name (see the module docstring).

    The job's outcome is dumped to JSON here, once: that is what the checkpoint keeps and
    what comes back to the dispatcher.
    """

    # LangGraph inspects the signature of every task function it runs, and a job is a
    # new object each time; stating it here spares two inspect.signature calls a job.
    __signature__ = inspect.Signature(
        [inspect.Parameter("job", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )

    def __init__(self, fn: Callable[[J], Awaitable[Out]], name: str) -> None:
        self.__name__ = name
        self._fn = fn

    async def __call__(self, job: J) -> dict[str, Any]:
        subtree = metering(job.meter) if job.meter is not None else nullcontext()
        out: JobOutcome
        with subtree, metered(job.runtime.prices) as meter:
            job.progress.meter = meter
            try:
                out = await self._fn(job)
            except BudgetExceeded as exc:
                # the job stopped before a call past the budget; what it spent still
                # counts, and the tool calls it made stay on the record
                out = BudgetStopped(
                    reason=exc.reason,
                    scope=exc.scope,
                    usage=meter.usage,
                    tool_calls=await _stored_entries(job),
                    ran=job.progress.ran,
                )
        out.job = self.__name__  # lets a resumed run find this outcome by name
        return out.model_dump(mode="json")


def start(
    fn: Callable[[J], Awaitable[Out]],
    name: str,
    job: J,
    finished: Mapping[str, dict[str, Any]],
) -> Awaitable[dict[str, Any]]:
    """Run ``fn(job)`` as a LangGraph task called ``name`` (unique within the run).

    What comes back is the job's outcome as JSON data (read it with its model's
    :meth:`~orchestra.engine.outcomes.JobOutcome.read`). A job in ``finished`` (outcomes a
    resumed run found in its checkpoint) is not run again: its outcome comes back at
    once, whatever order the jobs now start in. An outcome the budget stopped is not a
    finished job: the job runs again (under the name of its next try, so that LangGraph
    does not answer it from the checkpoint either).
    """
    tries = 1
    while finished.get(name, {}).get(KIND_KEY) == BUDGET_STOPPED:
        tries += 1
        name = f"{name.partition('~')[0]}~{tries}"
    if name in finished:
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        done.set_result(finished[name])
        return done
    return task(_NamedJob(fn, name))(job)
