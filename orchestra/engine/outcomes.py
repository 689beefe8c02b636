"""What each kind of job returns to the dispatcher: one typed model per job kind.

A job returns its outcome as one of these models; at the LangGraph task boundary it is
dumped to JSON once (that is what the checkpoint keeps) and the dispatcher reads it back
with the model its job kind returns (:meth:`JobOutcome.read`). A job stopped by a budget
returns :class:`BudgetStopped` whatever its kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, JsonValue

from orchestra.agents.executor import PausedAttempt
from orchestra.core.approval import ApprovalRequest
from orchestra.core.events import Notice, NoticeKind
from orchestra.core.plan import PlanDraft
from orchestra.core.record import RunStatus, ToolCallRecord
from orchestra.core.roles import RoleSpec
from orchestra.core.search_tree import SearchRecord
from orchestra.core.tree import TaskTree, Verdict
from orchestra.core.usage import Usage

__all__ = [
    "AttemptOutcome",
    "BudgetStopped",
    "DesignOutcome",
    "DraftOutcome",
    "IntegrationOutcome",
    "JobNotice",
    "JobOutcome",
    "LeafRole",
    "SubRun",
]

JOB_KEY = "job"
"""Key of a job's name in its dumped outcome (how a resumed run finds it by name)."""
KIND_KEY = "kind"
BUDGET_STOPPED = "budget_stopped"


class JobNotice(BaseModel):
    """A fallback a job took, for the dispatcher to announce as a ``Notice`` on its task."""

    kind: NoticeKind
    message: str


class JobOutcome(BaseModel):
    """What every job's outcome holds: its name, its model usage, its notices."""

    job: str = ""
    """The job's name (set at the task boundary; see :mod:`orchestra.engine.jobs`)."""
    usage: Usage = Field(default_factory=Usage)
    notices: list[JobNotice] = Field(default_factory=list)

    @classmethod
    def read(cls, data: dict[str, Any]) -> Self | BudgetStopped:
        """The outcome a job of this kind returned as JSON data (or its budget stop)."""
        if data.get(KIND_KEY) == BUDGET_STOPPED:
            return BudgetStopped.model_validate(data)
        return cls.model_validate(data)


class SubRun(BaseModel):
    """A sub-team's run for a delegated task, as far as it got, named under the task."""

    run_id: str
    team: str
    status: RunStatus
    tree: TaskTree
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    """Its tool calls, task ids named under the delegated task."""
    notices: list[Notice] = Field(default_factory=list)
    """Its notices, task ids named under the delegated task, in the delegating run."""


class LeafRole(BaseModel):
    """One leaf's role, as a design job found it."""

    task_id: str
    spec: RoleSpec
    designed: bool
    """Whether the designer wrote the spec (False: it reused a role by name)."""
    fallback: str | None = None
    """Why the leaf got the fallback role instead (its entry stayed invalid): the
    ``role_fallback`` notice on the leaf."""


class BudgetStopped(JobOutcome):
    """The job stopped before a call past a budget; what it spent still counts."""

    kind: Literal["budget_stopped"] = "budget_stopped"
    reason: str
    scope: str | None = None
    """The subtree whose budget it was (its top-level task), None for the run's."""
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    """The tool calls it made before it stopped (they stay on the record)."""
    ran: bool = False
    """Whether it made any model or tool call (an execution of its task)."""
    sub_run: SubRun | None = None
    """A delegation's sub-team run, as far as it got."""
    leaves: list[LeafRole] = Field(default_factory=list)
    """A design job's leaves whose roles it found before a repair call was stopped, in the
    batch's order: they keep them, and only the batch's other leaves are designed again."""


class AttemptOutcome(JobOutcome):
    """An attempt at a leaf (by an executor or a sub-team) and the critic's verdict.

    ``paused`` or ``team_paused`` set: the attempt waits for people and goes on later.
    Else ``verdict`` is the critic's on ``output``, or None when there is no output
    (``error`` says why; ``loop`` when a loop guard stopped it).
    """

    kind: Literal["attempt"] = "attempt"
    output: str | None = None
    data: JsonValue | None = None
    """``output`` as typed JSON data, when the role's results are typed."""
    error: str | None = None
    verdict: Verdict | None = None
    loop: str | None = None
    search: SearchRecord | None = None
    role: RoleSpec | None = None
    """The role a workflow search chose instead of the attempt's."""
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    finished_at: datetime | None = None
    paused: PausedAttempt | None = None
    """The executor waits for a decision on this tool call."""
    sub_run: SubRun | None = None
    team_paused: list[ApprovalRequest] = Field(default_factory=list)
    """What the sub-team's run waits for people to decide (ids named under the task)."""

    @property
    def waits(self) -> bool:
        """Whether the attempt waits for people (it is not over)."""
        return self.paused is not None or bool(self.team_paused)


class DesignOutcome(JobOutcome):
    """The role designer's specs for a batch of leaves: one call (and its repairs).

    Its usage is the batch's, counted on the node the job serves (the leaves' plan's
    parent); ``leaves`` are in the batch's order.
    """

    kind: Literal["design"] = "design"
    leaves: list[LeafRole]


class DraftOutcome(JobOutcome):
    """A plan for part of the tree: a re-plan, an escalation's, a decomposition.

    ``draft`` None: no valid plan came out (``error`` says why).
    """

    kind: Literal["draft"] = "draft"
    draft: PlanDraft | None
    error: str | None = None


class IntegrationOutcome(JobOutcome):
    """An inner task's lead's integrated result and the critic's verdict on it."""

    kind: Literal["integration"] = "integration"
    lead: RoleSpec
    designed: bool
    """Whether the lead was designed by this job (the task had none)."""
    output: str | None
    error: str | None = None
    verdict: Verdict | None = None
    finished_at: datetime
