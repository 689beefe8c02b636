"""What a finished run returns, and its JSON run record."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from typing_extensions import TypeVar

from orchestra.core.approval import ApprovalRequest
from orchestra.core.events import Notice
from orchestra.core.nesting import nested_node
from orchestra.core.plan_selection import PlanSelection
from orchestra.core.roles import RoleSpec
from orchestra.core.search_tree import SearchRecord
from orchestra.core.statement import TaskStatement
from orchestra.core.tree import ROOT_ID, TaskKind, TaskNode, TaskStatus, TaskTree, Verdict
from orchestra.core.usage import Usage

__all__ = [
    "DecompositionRecord",
    "MissingTask",
    "ReplanRecord",
    "RunRecord",
    "RunResult",
    "RunStatus",
    "TaskRecord",
    "ToolCallRecord",
    "UnverifiedResult",
    "unverified_results",
]


OutputT = TypeVar("OutputT", default=str)
"""The type of a run's answer: text, or the team's ``output_type``."""


class RunStatus(StrEnum):
    """How a run ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BUDGET_EXCEEDED = "budget_exceeded"
    """The budget ran out: finished work is kept, and a resume with more budget goes on."""
    AWAITING_APPROVAL = "awaiting_approval"
    """Paused for a person's decision (``RunResult.pending``); resume with decisions."""
    REJECTED = "rejected"
    """A person rejected the plan."""
    PARTIAL = "partial"
    """Some branches were given up for good while others finished: the answer is built
    from what succeeded and says what is missing (``RunRecord.missing``)."""
    INTERRUPTED = "interrupted"
    """Not ended: the run stopped before its end (an error, a kill, a cancel) or is still
    running elsewhere; ``resume`` goes on from its last checkpoint."""


class ReplanRecord(BaseModel):
    """One re-plan: which task failed, why, and what replaced it."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    reason: str
    new_task_ids: list[str]
    at: datetime
    scope: str | None = None
    """The task whose subtree was re-planned (the failed leaf itself, or an inner task
    when its integration was judged ``replan`` or a child's failure escalated to it)."""
    escalated_from: str | None = None
    """The child whose failure climbed to ``scope`` and caused this re-plan, if any."""
    kept_task_ids: list[str] = Field(default_factory=list)
    """Finished tasks of the re-planned subtree that the new plan kept (never re-run)."""
    alternative: str | None = None
    """The action tree's alternative grafted instead of asking the planner (another plan
    sample's proposal for the task, ``Team(plan_samples=K)``); None: the planner's plan."""


StageName = Literal["refine", "plan", "design_roles", "synthesize"]
"""A stage of a run outside dispatch: goal refinement, planning, role design, synthesis."""

STAGE_LABELS: dict[str, str] = {
    "refine": "goal refinement",
    "plan": "planning",
    "design_roles": "role design",
    "synthesize": "synthesis",
}
"""How the stages are called on timelines."""


class StageRecord(BaseModel):
    """When a stage of the run outside dispatch ran (a resumed stage has one per run)."""

    model_config = ConfigDict(frozen=True)

    stage: StageName
    started_at: datetime
    finished_at: datetime

    @property
    def label(self) -> str:
        """The stage's name on a timeline (``planning``, ``role design``, ...)."""
        return STAGE_LABELS[self.stage]


class DecompositionRecord(BaseModel):
    """One decomposition on demand: a task broken into subtasks by its lead."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    new_task_ids: list[str]
    at: datetime


class MissingTask(BaseModel):
    """A task given up for good in a ``partial`` (or failed) run, and why."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    title: str
    reason: str


UNVERIFYING_NOTICES = frozenset(
    {
        "critic_fallback",
        "integration_fallback",
        "unverified_result",
        "answer_rejected",
        "synthesis_fallback",
    }
)
"""Notices saying a kept result was never accepted by its checks and the critic."""


class UnverifiedResult(BaseModel):
    """A result the run kept although its checks or the critic never accepted it.

    It happens only through fallbacks (a team on the embedded model takes them by default)
    and for a final answer no try of which was accepted: the work is kept, but nothing
    vouches for it.
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    """The task (``"root"``: the final answer)."""
    kind: str
    """The notice that says so: ``unverified_result``, ``critic_fallback``, ..."""
    reason: str


def unverified_results(
    tree: TaskTree, notices: list[Notice], *, answered: bool
) -> list[UnverifiedResult]:
    """The results ``tree`` kept unverified, one per task (its last such notice), in order.

    A task counts only if it ended done (a replaced or failed task's result is not kept);
    the goal counts when the run has an answer (``answered``).
    """
    found: dict[str, UnverifiedResult] = {}
    for notice in notices:
        task_id = notice.task_id or ROOT_ID
        if notice.kind not in UNVERIFYING_NOTICES or task_id not in tree.nodes:
            continue
        node = tree.get(task_id)
        kept = answered if task_id == ROOT_ID else node.status is TaskStatus.DONE
        if kept:
            found.pop(task_id, None)  # the latest notice, in the latest position
            found[task_id] = UnverifiedResult(
                task_id=task_id, kind=notice.kind, reason=notice.message
            )
    return list(found.values())


class ToolCallRecord(BaseModel):
    """One tool call in the run's tool-call log, with its whole result."""

    key: str
    """Idempotency key: the same call at the same point of the same attempt of the run."""
    task_id: str
    attempt: int
    tool: str
    args: dict[str, Any]
    ok: bool
    result: str | None
    """The whole result (the model may have seen it cut); for a result stored by
    reference (``result_ref``), its beginning and a marker."""
    error: str | None
    """Why the call failed (for a long one stored by reference, its beginning)."""
    result_ref: str | None = None
    """Set when the output (result or error) was too long to keep in the checkpoints
    (over 65,536 characters): the reference of the whole output, stored once beside the
    checkpoints. ``Team.tool_result(call)`` reads it."""
    result_chars: int | None = None
    """The length of the whole output, when it is stored by reference."""
    side_effects: bool
    replayed: bool = False
    """Answered from the tool-call log: the call had completed before the run resumed."""
    interrupted: bool = False
    """The call was in flight when the run stopped before (it may or may not have taken
    effect); its tool's ``on_interrupted`` decided what came of it here."""
    tries: int
    duration_s: float
    started_at: datetime | None


class TaskRecord(BaseModel):
    """One task of the run record."""

    id: str
    parent_id: str | None
    title: str
    depth: int = 1
    depends_on: list[str]
    status: TaskStatus
    role: str | None
    attempts: int
    executions: int
    started_at: datetime | None
    finished_at: datetime | None
    result: str | None
    output: JsonValue | None = None
    """The result as typed JSON data (a role with an ``output_type``)."""
    reason: str | None
    replaces: str | None
    replaced_by: list[str]
    usage: Usage
    """Spent on this task itself (for a group: its share of re-planning)."""
    total_usage: Usage = Field(default_factory=Usage)
    """Spent on this task and every task below it (what a subtree budget counts,
    re-plans that replaced it aside)."""
    verdicts: list[Verdict] = Field(default_factory=list)
    """The critic's verdict on each attempt, in order."""
    searches: list[SearchRecord] = Field(default_factory=list)
    """The workflow search of each searched attempt: what was tried, how it scored."""
    kind: TaskKind = "leaf"
    """``leaf`` (executed), ``inner`` (led and integrated) or ``team`` (a sub-team's)."""
    lead: str | None = None
    """The lead's role name, for inner tasks."""
    team: str | None = None
    """The sub-team's name, for tasks delegated to one (its tasks follow, named under
    this task's id, e.g. ``research/a``)."""
    sub_run_id: str | None = None
    """The sub-team's run for the task's latest attempt (a thread on the run's
    checkpointer), for tasks delegated to a sub-team."""


class RunRecord(BaseModel):
    """The whole story of a run as plain JSON (``orchestra run --json`` prints this)."""

    run_id: str
    goal: str
    statement: TaskStatement | None = None
    """The goal's refined task statement, when the team refines goals."""
    status: RunStatus
    output: str | None
    """The answer as text (for a team with an ``output_type``: its JSON text)."""
    typed_output: JsonValue | None = None
    """The answer as typed JSON data, for a team with an ``output_type``."""
    reason: str | None
    usage: Usage
    """The whole run; the tasks' usage plus planning and synthesis."""
    tasks: list[TaskRecord]
    replans: list[ReplanRecord]
    roles: list[RoleSpec]
    notices: list[Notice]
    tool_calls: list[ToolCallRecord]
    planning_usage: Usage = Field(default_factory=Usage)
    """Usage of the planner's first plan and of the synthesis (the root node's)."""
    pending: list[ApprovalRequest] = Field(default_factory=list)
    """What the run waits for a person to decide (status ``awaiting_approval``)."""
    plan_selection: PlanSelection | None = None
    """How the first plan was chosen among samples: candidates, scores, tokens."""
    decompositions: list[DecompositionRecord] = Field(default_factory=list)
    """Tasks decomposed on demand, in order."""
    missing: list[MissingTask] = Field(default_factory=list)
    """Tasks given up for good (status ``partial`` or ``failed``), with reasons."""
    answer_verdicts: list[Verdict] = Field(default_factory=list)
    """The critic's verdicts on the final answer, in order (the synthesizer is the goal's
    lead: its answer is judged like an inner task's result)."""
    stages: list[StageRecord] = Field(default_factory=list)
    """When goal refinement, planning, role design and synthesis ran, in order."""
    unverified: list[UnverifiedResult] = Field(default_factory=list)
    """Results kept although no check and critic accepted them (see
    :class:`UnverifiedResult`): a ``succeeded`` run with any is not a clean success."""
    model_calls_per_task: dict[str, float] = Field(default_factory=dict)
    """The run's model calls per executed task, by agent, and ``total``: planning,
    role design and synthesis spread over the tasks too (what one more task costs)."""
    tokens_per_task: dict[str, float] = Field(default_factory=dict)
    """The run's tokens (input and output) per executed task, by agent, and ``total``."""

    def children(self) -> dict[str, list[TaskRecord]]:
        """Each task's children by parent id (the goal's under ``"root"``), in display order.

        Display order is creation order, except that replacements follow the task they
        replaced.
        """
        by_parent: dict[str, list[TaskRecord]] = {}
        for task in self.tasks:
            by_parent.setdefault(task.parent_id or ROOT_ID, []).append(task)
        return {parent: _display_order(tasks) for parent, tasks in by_parent.items()}


def executed_tasks(tree: TaskTree) -> int:
    """Tasks an executor (or a sub-team) worked on: leaves with at least one attempt."""
    return sum(1 for n in tree.nodes.values() if n.attempts and tree.is_leaf(n.id))


def per_task(usage: Usage, tasks: int) -> dict[str, dict[str, float]]:
    """``model_calls_per_task`` and ``tokens_per_task`` of a run (see ``RunRecord``)."""
    if tasks == 0:
        return {"model_calls_per_task": {}, "tokens_per_task": {}}
    calls = {a: round(u.model_calls / tasks, 3) for a, u in sorted(usage.by_agent.items())}
    tokens = {
        a: round((u.input_tokens + u.output_tokens) / tasks, 1)
        for a, u in sorted(usage.by_agent.items())
    }
    calls["total"] = round(usage.model_calls / tasks, 3)
    tokens["total"] = round(usage.total_tokens / tasks, 1)
    return {"model_calls_per_task": calls, "tokens_per_task": tokens}


def _task_records(tree: TaskTree, owner: TaskNode | None) -> list[TaskRecord]:
    """Records of ``tree``'s tasks; a sub-team's tasks follow the task delegated to it.

    ``owner``: the task ``tree`` is the sub-team's tree of (its tasks are named under it).
    """
    out: list[TaskRecord] = []
    for node in tree.nodes.values():
        if node.id == ROOT_ID:
            continue
        named = node if owner is None else nested_node(node, owner)
        out.append(
            TaskRecord(
                id=named.id,
                parent_id=named.parent_id,
                title=named.title,
                depth=named.depth,
                depends_on=named.depends_on,
                status=named.status,
                role=named.role,
                attempts=named.attempts,
                executions=named.executions,
                started_at=named.started_at,
                finished_at=named.finished_at,
                result=named.result,
                output=named.output,
                reason=named.reason,
                replaces=named.replaces,
                replaced_by=named.replaced_by,
                usage=named.usage,
                total_usage=tree.total_usage(node.id),
                verdicts=named.verdicts,
                searches=named.searches,
                kind=tree.kind(node.id),
                lead=named.lead,
                team=named.team,
                sub_run_id=named.sub_run_id,
            )
        )
        if node.subtree is not None:
            out.extend(_task_records(node.subtree, owner=named))
    return out


def _display_order(tasks: list[TaskRecord]) -> list[TaskRecord]:
    by_replaced: dict[str, list[TaskRecord]] = {}
    for task in tasks:
        if task.replaces is not None:
            by_replaced.setdefault(task.replaces, []).append(task)
    present = {t.id for t in tasks}
    out: list[TaskRecord] = []

    def place(task: TaskRecord) -> None:
        out.append(task)
        for replacement in by_replaced.get(task.id, []):
            place(replacement)

    for task in tasks:
        if task.replaces is None or task.replaces not in present:
            place(task)
    return out


class RunResult(BaseModel, Generic[OutputT]):
    """What ``Team.run`` returns.

    ``output`` is the answer: text, or a value of the team's ``output_type``
    (``RunResult[Brief]``); ``text`` is the answer as text either way.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    status: RunStatus
    output: OutputT | None
    text: str | None = None
    """The answer as text (a typed answer's JSON text); None when there is no answer."""
    reason: str | None = None
    """Why the run failed, when it did."""
    tree: TaskTree
    replans: list[ReplanRecord] = Field(default_factory=list)
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    notices: list[Notice] = Field(default_factory=list)
    """Fallbacks orchestra took from invalid model output (salvaged plans, ...)."""
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    """Every tool call of the run, in the order they finished."""
    pending: list[ApprovalRequest] = Field(default_factory=list)
    """What the run waits for a person to decide (status ``awaiting_approval``): resume
    it with ``team.resume(run_id, decisions=...)``."""
    plan_selection: PlanSelection | None = None
    """How the first plan was chosen among samples (``Team(plan_samples=K)``)."""
    decompositions: list[DecompositionRecord] = Field(default_factory=list)
    """Tasks decomposed on demand, in order."""
    missing: list[MissingTask] = Field(default_factory=list)
    """Tasks given up for good (status ``partial`` or ``failed``), with reasons."""
    stages: list[StageRecord] = Field(default_factory=list)
    """When goal refinement, planning, role design and synthesis ran, in order."""

    @model_validator(mode="after")
    def _text_of_a_text_answer(self) -> RunResult[OutputT]:
        if self.text is None and isinstance(self.output, str):
            self.text = self.output
        return self

    @property
    def usage(self) -> Usage:
        """Model usage of the whole run: every node's, and sub-teams' runs."""
        return self.tree.usage()

    @property
    def succeeded(self) -> bool:
        """Whether the run reached a final answer."""
        return self.status is RunStatus.SUCCEEDED

    @property
    def unverified(self) -> list[UnverifiedResult]:
        """Results kept although no check and critic accepted them; empty for a clean run.

        Only fallbacks, or a final answer no try of which was accepted, keep such results.
        """
        return unverified_results(self.tree, self.notices, answered=self.text is not None)

    @property
    def verified(self) -> bool:
        """Whether every kept result was accepted (``succeeded and verified``: a clean run)."""
        return not self.unverified

    def to_record(self) -> RunRecord:
        """The run record: every task ever created, every re-plan, every role."""
        tasks = _task_records(self.tree, owner=None)
        return RunRecord(
            run_id=self.run_id,
            goal=self.tree.goal,
            statement=self.tree.statement,
            status=self.status,
            output=self.text,
            typed_output=self.tree.root.output,
            reason=self.reason,
            usage=self.usage,
            tasks=tasks,
            replans=self.replans,
            roles=list(self.roles.values()),
            notices=self.notices,
            tool_calls=self.tool_calls,
            planning_usage=self.tree.root.usage,
            pending=self.pending,
            plan_selection=self.plan_selection,
            decompositions=self.decompositions,
            missing=self.missing,
            answer_verdicts=self.tree.root.verdicts,
            stages=self.stages,
            unverified=self.unverified,
            **per_task(self.usage, executed_tasks(self.tree)),
        )
