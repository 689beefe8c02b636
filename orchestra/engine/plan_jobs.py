"""The planning-side jobs: role design, re-plans, escalations, decompositions, integrations.

Each runs as a LangGraph task like an attempt (see :mod:`orchestra.engine.jobs` for how
jobs are named, checkpointed and answered on resume) and returns a typed outcome
(:mod:`orchestra.engine.outcomes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry.trace import StatusCode

from orchestra.agents.calls import metered
from orchestra.agents.lead import children_digest, integrate
from orchestra.agents.planner import decompose_task, fallback_plan, replan_subtree, replan_task
from orchestra.agents.role_designer import FALLBACK_ROLE, DesignStopped, design_roles
from orchestra.core.errors import ModelBehaviorError, PlanningError, RoleDesignError
from orchestra.core.plan import PlanDraft
from orchestra.core.roles import RoleSpec
from orchestra.engine.jobs import TaskJob, design_spec, judged, task_text
from orchestra.engine.outcomes import (
    BudgetStopped,
    DesignOutcome,
    DraftOutcome,
    IntegrationOutcome,
    JobNotice,
    LeafRole,
)
from orchestra.observability.semconv import (
    ESCALATION_EVENT,
    OPENINFERENCE_OUTPUT,
    ORCHESTRA_TASK_ID,
    REPLAN_EVENT,
)
from orchestra.observability.spans import (
    add_event,
    agent_span,
    record_error,
    set_attributes,
    set_content,
)

__all__ = [
    "DecomposeJob",
    "DesignJob",
    "EscalationJob",
    "IntegrateJob",
    "ReplanJob",
    "decomposition",
    "design",
    "design_name",
    "escalation",
    "integration",
    "replan",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplanJob(TaskJob):
    """A replacement plan for a failed leaf."""

    reason: str
    roles: list[RoleSpec]


@dataclass(frozen=True, slots=True, kw_only=True)
class DesignJob(TaskJob):
    """The roles of a batch of leaves, in one role-designer call (and its repairs).

    ``task_id`` is the node the leaves' plan hangs from (the root for the first plan; the
    decomposed task, the task a re-plan replaces, or an escalation's scope for a graft):
    the call's usage and budget are that node's. For a single leaf it is the leaf.
    """

    leaf_ids: tuple[str, ...]
    roles: dict[str, RoleSpec]


def design_name(leaf_ids: Sequence[str]) -> str:
    """The job name of a design batch: ``design.<leaf>`` or ``design.<first leaf>+<more>``.

    Unique in the run (a leaf is designed in one batch; a batch a budget stopped runs
    again as ``~2``) and the same when a resumed run asks again for the same leaves.
    """
    more = f"+{len(leaf_ids) - 1}" if len(leaf_ids) > 1 else ""
    return f"design.{leaf_ids[0]}{more}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecomposeJob(TaskJob):
    """A task marked ``decompose``: its lead breaks it into subtasks, now that it is ready."""

    lead: RoleSpec
    roles: list[RoleSpec]


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationJob(TaskJob):
    """A failure climbed to ``task_id``: plan its subtree again, keeping finished subtasks."""

    failed_child: str
    """The child whose failure climbed here (``task_id`` itself: its integration was
    sent back by the critic with a ``replan`` verdict)."""
    reason: str
    level: int
    roles: list[RoleSpec]


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrateJob(TaskJob):
    """An inner task's lead writes its result from its subtasks' results; the critic judges.

    ``lead`` None: the lead is designed first (the role designer, as for a leaf).
    """

    lead: RoleSpec | None
    roles: dict[str, RoleSpec]
    feedback: str | None
    integration: int
    """1 for the first integration, 2+ for re-integrations after a ``retry`` verdict."""


async def replan(job: ReplanJob) -> DraftOutcome:
    """The planner's replacement draft for the failed leaf.

    ``draft`` is None (with ``error``) when no valid replacement came out of the planner
    and, with fallbacks on, none could be salvaged: the scheduler then fails the task.
    """
    rt = job.runtime
    notices: list[JobNotice] = []
    draft: PlanDraft | None = None
    error: str | None = None
    node = job.tree.get(job.task_id)
    with (
        metered(rt.prices) as meter,
        agent_span("planner", task=node, run_id=job.run_id) as span,
    ):
        add_event(
            span,
            REPLAN_EVENT,
            {ORCHESTRA_TASK_ID: job.task_id},
            content={"orchestra.replan.reason": job.reason},
        )
        try:
            draft = await replan_task(
                rt.model_for_agent("planner"),
                job.tree,
                job.task_id,
                job.reason,
                roles=job.roles,
                tools=rt.tools_for(task_text(job.tree, job.task_id)),
                max_repairs=rt.limits.max_repairs,
            )
        except PlanningError as err:
            error = str(err)
            base_depth = job.tree.get(job.task_id).depth - 1
            found = (
                fallback_plan(err, job.tree, base_depth=base_depth, allow_single_task=False)
                if rt.fallbacks
                else None
            )
            if found is not None:
                draft, kind, message = found
                notices.append(JobNotice(kind=kind, message=message))
                error = None
    return DraftOutcome(draft=draft, error=error, usage=meter.usage, notices=notices)


async def decomposition(job: DecomposeJob) -> DraftOutcome:
    """The lead's subtasks for the task (``draft`` None: with ``error``)."""
    rt = job.runtime
    draft: PlanDraft | None = None
    error: str | None = None
    node = job.tree.get(job.task_id)
    with (
        metered(rt.prices) as meter,
        agent_span("lead", task=node, role=job.lead.name, run_id=job.run_id) as span,
    ):
        try:
            draft = await decompose_task(
                rt.model_for(job.lead),
                job.tree,
                job.task_id,
                lead=job.lead,
                roles=job.roles,
                tools=rt.tools_for(task_text(job.tree, job.task_id)),
                max_repairs=rt.limits.max_repairs,
                max_input_chars=rt.limits.max_dependency_chars,
            )
        except PlanningError as err:
            error = str(err)
        set_attributes(span, {"orchestra.decomposed": draft is not None})
    return DraftOutcome(draft=draft, error=error, usage=meter.usage)


async def escalation(job: EscalationJob) -> DraftOutcome:
    """The planner's new subtasks for the task a failure climbed to.

    ``draft`` is None (with ``error``) when no valid plan came out: the task then fails,
    and its own failure may climb further.
    """
    rt = job.runtime
    draft: PlanDraft | None = None
    error: str | None = None
    node = job.tree.get(job.task_id)
    with (
        metered(rt.prices) as meter,
        agent_span("planner", task=node, run_id=job.run_id) as span,
    ):
        add_event(
            span,
            ESCALATION_EVENT,
            {
                ORCHESTRA_TASK_ID: job.task_id,
                "orchestra.escalation.from": job.failed_child,
                "orchestra.escalation.level": job.level,
            },
            content={"orchestra.escalation.reason": job.reason},
        )
        try:
            draft = await replan_subtree(
                rt.model_for_agent("planner"),
                job.tree,
                job.task_id,
                job.reason,
                failed_child=job.failed_child if job.failed_child != job.task_id else None,
                roles=job.roles,
                tools=rt.tools_for(task_text(job.tree, job.task_id)),
                max_repairs=rt.limits.max_repairs,
            )
        except PlanningError as err:
            error = str(err)
    return DraftOutcome(draft=draft, error=error, usage=meter.usage)


async def design(job: DesignJob) -> DesignOutcome | BudgetStopped:
    """The role designer's specs for the batch's leaves, from one call (and its repairs).

    The tools offered are the leaves' relevant tools, together. With fallbacks on, a leaf
    whose entry stayed invalid gets the fallback role (the others keep theirs); without,
    its :class:`RoleDesignError` fails the run. A budget that stops a repair call ends the
    job :class:`BudgetStopped` with the leaves designed before it (``leaves``): they keep
    their roles, and only the others are designed again.
    """
    rt = job.runtime
    offered: dict[str, str] = {}
    for leaf_id in job.leaf_ids:
        offered.update(rt.tools_for(task_text(job.tree, leaf_id)))
    leaves: list[LeafRole] = []
    with (
        metered(rt.prices) as meter,
        agent_span("role_designer", task=job.node, run_id=job.run_id) as span,
    ):
        set_attributes(span, {"orchestra.design.tasks": list(job.leaf_ids)})
        try:
            found = await design_roles(
                rt.model_for_agent("role_designer"),
                job.tree,
                job.leaf_ids,
                roles=job.roles,
                tools=offered,
                team_tools=frozenset(rt.tools),
                models=frozenset(rt.models),
                max_repairs=rt.limits.max_repairs,
                for_task=job.task_id,
            )
        except DesignStopped as stop:
            # as the job runner stops a job at the budget, with the roles found kept
            kept = [
                LeafRole(task_id=leaf_id, spec=spec, designed=new)
                for leaf_id, (spec, new) in stop.found.items()
            ]
            set_attributes(span, {"orchestra.role.designed": [leaf.spec.name for leaf in kept]})
            record_error(span, stop)  # the span of a stopped job, as when the stop is raised
            return BudgetStopped(
                reason=stop.reason,
                scope=stop.scope,
                usage=meter.usage,
                ran=meter.usage.model_calls > 0,  # (a design makes no tool calls)
                leaves=kept,
            )
        for leaf_id, got in found.items():
            if isinstance(got, RoleDesignError):
                if not rt.fallbacks:
                    raise got
                why = f"no valid role ({'; '.join(got.errors)}); using generalist"
                leaves.append(
                    LeafRole(task_id=leaf_id, spec=FALLBACK_ROLE, designed=True, fallback=why)
                )
            else:
                leaves.append(LeafRole(task_id=leaf_id, spec=got[0], designed=got[1]))
        set_attributes(span, {"orchestra.role.designed": [leaf.spec.name for leaf in leaves]})
    return DesignOutcome(leaves=leaves, usage=meter.usage)


async def integration(job: IntegrateJob) -> IntegrationOutcome:
    """The lead's integrated result for the inner task and the critic's verdict.

    With fallbacks on, a lead whose reply stays invalid leaves the subtasks' results, as
    they are, as the task's result (an ``integration_fallback`` notice says so).
    """
    rt = job.runtime
    notices: list[JobNotice] = []
    node = job.tree.get(job.task_id)
    lead, designed = job.lead, False
    with metered(rt.prices) as meter:
        if lead is None:
            with agent_span("role_designer", task=node, run_id=job.run_id) as span:
                try:
                    lead, designed = await design_spec(rt, job.tree, job.task_id, job.roles)
                except RoleDesignError as err:
                    if not rt.fallbacks:
                        raise
                    lead, designed = FALLBACK_ROLE, True
                    why = "; ".join(err.errors)
                    notices.append(
                        JobNotice(
                            kind="role_fallback", message=f"no valid lead ({why}); generalist"
                        )
                    )
                set_attributes(span, {"orchestra.role.designed": lead.name})
        with agent_span(
            "lead", task=node, role=lead.name, attempt=job.integration, run_id=job.run_id
        ) as span:
            try:
                output = await integrate(
                    rt.model_for(lead),
                    job.tree,
                    job.task_id,
                    role=lead,
                    feedback=job.feedback,
                    max_repairs=rt.limits.max_repairs,
                    max_input_chars=rt.limits.max_dependency_chars,
                )
            except ModelBehaviorError as err:
                why = "; ".join(err.errors)
                if not rt.fallbacks:  # the task fails (and its failure may climb), not the run
                    span.set_status(StatusCode.ERROR, "the lead gave no usable result")
                    return IntegrationOutcome(
                        usage=meter.usage,
                        lead=lead,
                        designed=designed,
                        output=None,
                        error=f"the lead gave no usable result ({why})",
                        finished_at=datetime.now(UTC),
                        notices=notices,
                    )
                output = children_digest(job.tree, job.task_id)
                notices.append(
                    JobNotice(
                        kind="integration_fallback",
                        message=f"no valid integration ({why}); the subtasks' results stand",
                    )
                )
            set_content(span, OPENINFERENCE_OUTPUT, output)
            verdict = await judged(
                rt,
                job.tree,
                job.task_id,
                job.integration,
                job.run_id,
                output,
                notices,
                role=lead.name,
            )
    return IntegrationOutcome(
        usage=meter.usage,
        lead=lead,
        designed=designed,
        output=output,
        verdict=verdict,
        finished_at=datetime.now(UTC),
        notices=notices,
    )
