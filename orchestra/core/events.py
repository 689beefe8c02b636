"""Typed events: every step of a run announces itself with one of these.

``Team.astream`` yields them; the run record, live views and traces are built from them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from orchestra.core.approval import ApprovalRequest
from orchestra.core.plan_selection import PlanSelection
from orchestra.core.statement import TaskStatement
from orchestra.core.tree import VerdictKind
from orchestra.core.usage import Usage

__all__ = [
    "ApprovalRequested",
    "Event",
    "EventAdapter",
    "EventBase",
    "GoalRefined",
    "LeadAssigned",
    "Notice",
    "NoticeKind",
    "PlanChosen",
    "Replanned",
    "RoleAssigned",
    "RunFinished",
    "RunStarted",
    "SearchStepped",
    "TaskDecomposed",
    "TaskEscalated",
    "TaskFailed",
    "TaskFinished",
    "TaskIntegrating",
    "TaskPlanned",
    "TaskStarted",
    "ToolCalled",
    "ToolProgress",
    "ToolStarted",
    "UsageRecorded",
    "VerdictGiven",
]


def _now() -> datetime:
    return datetime.now(UTC)


class EventBase(BaseModel):
    """Fields every event has: the run it belongs to and when it happened."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    at: datetime = Field(default_factory=_now)


class RunStarted(EventBase):
    """A run began working on ``goal``."""

    type: Literal["run_started"] = "run_started"
    goal: str


class GoalRefined(EventBase):
    """The refiner made the request a task statement (``Team(refine_goal=True)``)."""

    type: Literal["goal_refined"] = "goal_refined"
    statement: TaskStatement


class PlanChosen(EventBase):
    """The first plan was chosen among sampled plans (``Team(plan_samples=K)``)."""

    type: Literal["plan_chosen"] = "plan_chosen"
    selection: PlanSelection


class TaskPlanned(EventBase):
    """A task was added to the tree (by the first plan or by a re-plan)."""

    type: Literal["task_planned"] = "task_planned"
    task_id: str
    parent_id: str | None
    title: str
    depends_on: list[str]


class RoleAssigned(EventBase):
    """A leaf task got the role that will execute it."""

    type: Literal["role_assigned"] = "role_assigned"
    task_id: str
    role: str
    designed: bool
    """True when the role designer wrote the role; False when an existing one was reused."""


class TaskStarted(EventBase):
    """An executor started an attempt at a task."""

    type: Literal["task_started"] = "task_started"
    task_id: str
    role: str
    attempt: int


class ToolStarted(EventBase):
    """An executor is about to call a tool (a ``tool_called`` event follows)."""

    type: Literal["tool_started"] = "tool_started"
    task_id: str
    tool: str
    key: str = ""


class ToolCalled(EventBase):
    """An executor called a tool (or tried to: refused and invalid calls are events too)."""

    type: Literal["tool_called"] = "tool_called"
    task_id: str
    tool: str
    args: dict[str, Any]
    ok: bool
    output: str
    """The result (cut to 2000 characters; the tool-call log has it whole) or the error."""
    duration_s: float
    key: str = ""
    """The call's idempotency key (see ``orchestra.core.record.ToolCallRecord``)."""
    tries: int = 1


class ToolProgress(EventBase):
    """A running tool call reported progress.

    From an MCP server's progress notifications, or ``orchestra.tools.report_progress``
    called in a tool.
    """

    type: Literal["tool_progress"] = "tool_progress"
    task_id: str
    tool: str
    key: str = ""
    progress: float
    total: float | None = None
    message: str | None = None


class SearchStepped(EventBase):
    """A workflow search scored one more trajectory of a task's attempt."""

    type: Literal["search_step"] = "search_step"
    task_id: str
    attempt: int
    evaluations: int
    """Trajectories scored so far in this search."""
    max_evaluations: int
    """The search budget's ``max_nodes``."""
    action: str
    """The step that was scored, one line (a tool call, or ``answer: ...``)."""
    score: float
    """Its score in [0, 1] (0 when its rollout reached no answer)."""
    best: float
    """The best score so far in this search."""


class VerdictGiven(EventBase):
    """An attempt was judged: by a check it failed, else by the critic."""

    type: Literal["verdict"] = "verdict"
    task_id: str
    verdict: VerdictKind
    reason: str
    source: str = "critic"
    """``critic``, or ``check:<name>`` for the check the result failed."""


class TaskFinished(EventBase):
    """A task is done and its result accepted."""

    type: Literal["task_finished"] = "task_finished"
    task_id: str
    result: str


class TaskFailed(EventBase):
    """A task failed for good (or was skipped because something it needs failed)."""

    type: Literal["task_failed"] = "task_failed"
    task_id: str
    reason: str
    skipped: bool = False
    """The task never ran to a result of its own: skipped (something it needs failed, the
    run stopped, or a re-plan dropped it), not failed."""


class Replanned(EventBase):
    """A failed task's subtree was replaced by new tasks."""

    type: Literal["replanned"] = "replanned"
    task_id: str
    reason: str
    new_task_ids: list[str]
    alternative: str | None = None
    """The action tree's alternative grafted (no planner call); None: the planner's plan."""


class TaskEscalated(EventBase):
    """A task's failure climbed to its parent.

    The failure could not be recovered at its level; the parent's lead re-plans the
    parent's subtree with the failure in view.
    """

    type: Literal["escalated"] = "escalated"
    task_id: str
    """The task the failure climbed to (whose subtree is re-planned)."""
    from_task_id: str
    """The child whose failure it was."""
    reason: str
    level: int
    """How many levels the failure has climbed so far (1: to the failed task's parent)."""


class TaskDecomposed(EventBase):
    """A task was broken into subtasks on demand by its lead."""

    type: Literal["decomposed"] = "decomposed"
    task_id: str
    new_task_ids: list[str]


class LeadAssigned(EventBase):
    """An inner task got its lead (a designed role, or a user role that fits)."""

    type: Literal["lead_assigned"] = "lead_assigned"
    task_id: str
    role: str
    designed: bool


class TaskIntegrating(EventBase):
    """An inner task's lead started integrating its children's results."""

    type: Literal["integrating"] = "integrating"
    task_id: str
    role: str
    integration: int
    """1 for the first integration, 2+ for re-integrations after a ``retry`` verdict."""


NoticeKind = Literal[
    "plan_salvaged",
    "plan_fallback",
    "replan_failed",
    "role_fallback",
    "critic_fallback",
    "synthesis_fallback",
    "memory_unavailable",
    "plan_edited",
    "loop_stopped",
    "refine_fallback",
    "plan_choice_fallback",
    "tool_skipped",
    "integration_fallback",
    "decomposition_failed",
    "branch_given_up",
    "answer_rejected",
    "unverified_result",
]


class Notice(EventBase):
    """orchestra fell back from invalid model output to a documented default.

    Kinds: ``plan_salvaged`` (the planner's last reply was repaired deterministically),
    ``plan_fallback`` (the goal became a single task), ``replan_failed`` (no usable
    replacement plan: the task failed), ``role_fallback`` (a generic role without tools,
    or a designed lead where a sub-team's role was named to lead),
    ``critic_fallback`` (a result accepted without a valid verdict),
    ``synthesis_fallback`` (the output is the task results), ``memory_unavailable`` (the
    shared memory could not be read or written; the attempt went on without it),
    ``plan_edited`` (a person edited the plan before approving it), ``loop_stopped`` (a
    loop or stall guard stopped a branch or the run), ``refine_fallback`` (no valid task
    statement: the planner worked from the raw goal), ``plan_choice_fallback`` (the plan
    critic's answer stayed invalid: votes and agreement chose among sampled plans),
    ``tool_skipped`` (a tool of an MCP server is not offered to the model: it requires
    MCP task augmentation), ``integration_fallback`` (a lead's integration stayed
    invalid: the children's results stand as the task's result), ``decomposition_failed``
    (no valid decomposition on demand: the task runs as a leaf), ``branch_given_up`` (a
    branch failed for good and escalation could not save it: independent work went on),
    ``answer_rejected`` (the final answer was not accepted, by a check or the critic,
    after every try, or could not be judged: the last answer written stands, unaccepted),
    ``unverified_result`` (a result still failed a check after the last attempt and was kept,
    unverified, because the team takes fallbacks: see ``RunResult.unverified``).
    """

    type: Literal["notice"] = "notice"
    kind: NoticeKind
    task_id: str | None = None
    message: str


class UsageRecorded(EventBase):
    """Model usage was added to a node (the root: planning and synthesis)."""

    type: Literal["usage"] = "usage"
    task_id: str
    usage: Usage


class ApprovalRequested(EventBase):
    """The run paused for a person's decision (see ``orchestra.core.approval``)."""

    type: Literal["approval_requested"] = "approval_requested"
    request: ApprovalRequest


class TokenStreamed(EventBase):
    """A piece of a model's reply as it is written (``team.astream(goal, tokens=True)``).

    The pieces of one reply share ``stream`` and, joined, are its text (for a structured
    reply, its raw JSON, validated whole once complete). Replies of every agent stream:
    ``planner``, ``role_designer``, ``lead``, ``executor``, ``critic``, ``synthesizer``, ...
    """

    type: Literal["token"] = "token"
    task_id: str
    """The task the call works for (``"root"``: the goal: planning and synthesis)."""
    agent: str
    role: str | None = None
    stream: str
    """The id of one model call's reply."""
    text: str


class RunFinished(EventBase):
    """The run ended."""

    type: Literal["run_finished"] = "run_finished"
    status: str
    output: str | None
    reason: str | None
    unverified: list[str] = Field(default_factory=list)
    """Tasks whose kept results nothing accepted (``"root"``: the answer); see
    ``RunResult.unverified``."""


Event = Annotated[
    RunStarted
    | GoalRefined
    | PlanChosen
    | TaskPlanned
    | RoleAssigned
    | TaskStarted
    | ToolStarted
    | ToolCalled
    | ToolProgress
    | SearchStepped
    | VerdictGiven
    | TaskFinished
    | TaskFailed
    | Replanned
    | TaskEscalated
    | TaskDecomposed
    | LeadAssigned
    | TaskIntegrating
    | Notice
    | UsageRecorded
    | ApprovalRequested
    | TokenStreamed
    | RunFinished,
    Field(discriminator="type"),
]
"""Any orchestra event; ``event.type`` tells which."""

EventAdapter: TypeAdapter[Event] = TypeAdapter(Event)
"""Validates and serializes events, e.g. ``EventAdapter.validate_python(data)``."""
