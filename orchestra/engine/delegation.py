"""Tasks delegated to a sub-team (``Role(team=...)``), run as jobs of the delegating run.

One job is one attempt: the sub-team runs the task as a goal of its own (its planner,
roles, tools, model, memory and limits), in a run checkpointed on the delegating run's
checkpointer under ``<run id>/<task id>.<attempt>``, so a resumed delegating run
resumes it where it was. Its events reach the delegating run's stream named under the
task (see :mod:`orchestra.core.nesting`); its model calls count toward the budget in
force here; its approvals pause the delegating run. Its answer is then judged by this
team's critic like any executor's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from langchain_core.runnables.config import var_child_runnable_config
from opentelemetry.trace import StatusCode

from orchestra.agents.calls import metered
from orchestra.agents.context import delegated_goal
from orchestra.core.approval import Decision
from orchestra.core.errors import BudgetExceeded
from orchestra.core.events import EventBase
from orchestra.core.nesting import nest_event, nested_id, own_id
from orchestra.core.record import RunResult, RunStatus
from orchestra.core.tree import TaskNode, Verdict
from orchestra.core.usage import Usage
from orchestra.engine import jobs
from orchestra.engine.emit import current_sink
from orchestra.engine.jobs import LeafJob
from orchestra.engine.outcomes import AttemptOutcome, BudgetStopped, JobNotice, SubRun
from orchestra.observability.semconv import OPENINFERENCE_OUTPUT, ORCHESTRA_TASK_OUTPUT
from orchestra.observability.spans import agent_span, set_attributes, set_content
from orchestra.observability.task_spans import nested_under, using_task

__all__ = ["delegation", "sub_run_id"]

T = TypeVar("T")


def sub_run_id(run_id: str, task_id: str, attempt: int) -> str:
    """The id of the sub-team's run for ``attempt`` at ``task_id`` of run ``run_id``."""
    return f"{run_id}/{task_id}.{attempt}"


async def delegation(job: LeafJob) -> AttemptOutcome | BudgetStopped:
    """One attempt at the task by the sub-team its role stands for, then this team's critic.

    The sub-team's run is started, or gone on with: ``job.decisions`` are on what it waits
    for, by request id as this run names them (under the task: ``<task id>/<request id>``).

    ``usage`` is this team's critic's only (the sub-team's spending is in its tree);
    ``sub_run`` is the sub-team's run, its tool calls and notices named under the task;
    ``team_paused`` what it waits for people to decide, when it does.
    """
    rt = job.runtime
    team = rt.sub_teams[job.role.name]
    node = job.node
    run_id = sub_run_id(job.run_id, job.task_id, job.attempt)
    goal = delegated_goal(job.tree, node, feedback=job.feedback)
    parent_sink = current_sink()

    def forward(event: EventBase) -> None:
        nested = nest_event(event, job.task_id, job.run_id)
        if nested is not None:
            parent_sink(nested)

    notices: list[JobNotice] = []
    with agent_span(
        "team", task=node, role=job.role.name, attempt=job.attempt, run_id=job.run_id
    ) as span:
        set_attributes(span, {"orchestra.sub_team": team.name, "orchestra.sub_run.id": run_id})
        result = await _on_its_own(
            node,
            team.run_nested(
                goal,
                run_id=run_id,
                saver=rt.saver,
                decisions=_own_ids(job.decisions, job.task_id) or None,
                sink=forward,
            ),
        )
        sub = _sub_run(result, run_id, team.name, job.task_id, job.run_id)
        if result.status is RunStatus.AWAITING_APPROVAL:
            set_attributes(span, {"orchestra.task.status": "waiting"})
            waits = [
                r.model_copy(
                    update={
                        "id": nested_id(job.task_id, r.id),
                        "task_id": nested_id(job.task_id, r.task_id),
                    }
                )
                for r in result.pending
            ]
            return AttemptOutcome(sub_run=sub, team_paused=waits, notices=notices)
        if result.status is RunStatus.BUDGET_EXCEEDED:
            return _stopped_at_budget(job, result, sub)
        verdict: Verdict | None = None
        error: str | None = None
        usage = Usage()
        if result.text is None or result.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
            error = f"the sub-team {team.name!r} ended {result.status.value}: {result.reason}"
            span.set_status(StatusCode.ERROR, error[:500])
        else:
            set_content(span, ORCHESTRA_TASK_OUTPUT, result.text)
            set_content(span, OPENINFERENCE_OUTPUT, result.text)
            with metered(rt.prices) as meter:  # this team's critic only
                try:
                    verdict = await jobs.judged(
                        rt,
                        job.tree,
                        job.task_id,
                        job.attempt,
                        job.run_id,
                        result.text,
                        notices,
                        role=job.role.name,
                    )
                except BudgetExceeded as exc:
                    return BudgetStopped(
                        reason=exc.reason, scope=exc.scope, usage=meter.usage, sub_run=sub
                    )
            usage = meter.usage
            if result.status is RunStatus.PARTIAL and verdict.verdict == "pass":
                notices.append(_partial_notice(team.name, job.task_id, result))
    return AttemptOutcome(
        usage=usage,
        output=result.text,
        data=result.tree.root.output if error is None else None,  # a typed sub-team's answer
        error=error,
        verdict=verdict,
        sub_run=sub,
        finished_at=datetime.now(UTC),
        notices=notices,
    )


def _partial_notice(team: str, task_id: str, result: RunResult[Any]) -> JobNotice:
    """The notice that keeps a partial sub-run's accepted answer unverified.

    The answer stands (the critic accepted it) but the sub-team gave up some of its
    tasks: ``unverified_result`` puts the delegated task in the run's ``unverified``, with
    the sub-run's missing tasks named under the task.
    """
    missing = (
        "; ".join(f"{nested_id(task_id, m.task_id)} ({m.reason})" for m in result.missing)
        or "(not listed)"
    )
    message = (
        f"kept unverified: the sub-team {team!r} ended partial, its answer lacks the work of"
        f" tasks it gave up: {missing}"
    )
    return JobNotice(kind="unverified_result", message=message)


def _stopped_at_budget(job: LeafJob, result: RunResult[Any], sub: SubRun) -> BudgetStopped:
    """The sub-team's run ended at the budget: the stop as this run takes it.

    The sub-run spends the meter in force here: when that is this run's subtree meter and
    it is the one spent, the stop is that subtree's (the rest of this run goes on), else
    the run's.
    """
    reason = (result.reason or "budget").removeprefix("budget exceeded: ")
    subtree = job.meter
    scope = None
    if subtree is not None and subtree.over() is not None:
        run = subtree.parent
        scope = subtree.scope if run is None or run.over() is None else None
    return BudgetStopped(reason=reason, scope=scope, sub_run=sub)


def _sub_run(
    result: RunResult[Any], run_id: str, team: str, task_id: str, parent_run: str
) -> SubRun:
    """The sub-team's run as the delegating run keeps it: ids named under the task."""
    return SubRun(
        run_id=run_id,
        team=team,
        status=result.status,
        tree=result.tree,
        tool_calls=[
            c.model_copy(update={"task_id": nested_id(task_id, c.task_id)})
            for c in result.tool_calls
        ],
        notices=[
            n.model_copy(update={"task_id": nested_id(task_id, n.task_id), "run_id": parent_run})
            for n in result.notices
        ],
    )


def _own_ids(decisions: Mapping[str, Decision], task_id: str) -> dict[str, Decision]:
    """Decisions by the sub-team run's own request ids (here they are named under the task)."""
    return {own_id(task_id, rid): d for rid, d in decisions.items()}


async def _on_its_own(task: TaskNode, run: Awaitable[T]) -> T:
    """Await ``run`` in a task of its own that is not inside this LangGraph task.

    A graph run inside a LangGraph task would otherwise take that task's config as its
    parent and run as its subgraph (sharing its checkpoint namespace and interrupts);
    the sub-team's run is a run of its own, on a thread of its own. Cancelling this
    cancels it.
    """

    async def alone() -> T:
        var_child_runnable_config.set(None)
        # the sub-team's agents serve its own tasks, shown in spans as named under ``task``
        with using_task(None), nested_under(task.id, task.depth):
            return await run

    inner = asyncio.ensure_future(alone())
    try:
        return await asyncio.shield(inner)
    finally:
        if not inner.done():
            inner.cancel()
            await asyncio.wait([inner])
