"""Human approval: what a paused run asks a person, and what the person decides.

A team with ``approve_plan=True`` pauses after planning; a tool marked
``requires_approval=True`` pauses its task before each call, and a side-effecting tool
with ``on_interrupted="ask"`` before running again a call that was in flight when the
run stopped (it may or may not have taken effect). A paused run lists its
:class:`ApprovalRequest` objects (``RunResult.pending``) and goes on when it is resumed
with one decision per request: :class:`Approve`, :class:`Reject`, :class:`EditPlan` (plan
requests) or :class:`EditArgs` (tool-call requests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from orchestra.core.errors import InputError
from orchestra.core.plan import MAX_TASKS_PER_LEVEL, PlanDraft, plan_errors
from orchestra.core.statement import TaskStatement

__all__ = [
    "PLAN_REQUEST_ID",
    "ApprovalRequest",
    "Approve",
    "Decision",
    "DecisionAdapter",
    "EditArgs",
    "EditPlan",
    "Reject",
    "decisions_for",
]

PLAN_REQUEST_ID = "plan"
"""Id of the request to approve the first plan (a run has at most one)."""


class ApprovalRequest(BaseModel):
    """Something a paused run waits for a person to decide."""

    model_config = ConfigDict(frozen=True)

    id: str
    """``"plan"``, or the idempotency key of the tool call waiting for approval."""
    kind: Literal["plan", "tool_call"]
    task_id: str
    """The task that waits (the root, ``"root"``, for the plan)."""
    summary: str
    """One line for a person: what would happen if approved."""
    plan: PlanDraft | None = None
    """The plan to approve, in the planner's format (edit it and send it back as
    :class:`EditPlan`)."""
    statement: TaskStatement | None = None
    """The refined task statement the plan was made for (``refine_goal``); an
    :class:`EditPlan` may send an edited one back."""
    tool: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    role: str | None = None
    """The role that wants to make the tool call."""
    interrupted: bool = False
    """The tool call was in flight when the run stopped before and may or may not have
    taken effect (its tool says ``on_interrupted="ask"``): :class:`Approve` runs it again,
    :class:`Reject` does not (the model reads why)."""


class Approve(BaseModel):
    """Go on as proposed."""

    model_config = ConfigDict(frozen=True)
    decision: Literal["approve"] = "approve"


class Reject(BaseModel):
    """Do not go on.

    A rejected plan ends the run (status ``rejected``); a rejected tool call is not made,
    and the task's executor is told so and why.
    """

    model_config = ConfigDict(frozen=True)
    decision: Literal["reject"] = "reject"
    reason: str = Field(min_length=1)


class EditPlan(BaseModel):
    """Go on with this plan instead (validated like a planner's: ids, dependencies, depth)."""

    model_config = ConfigDict(frozen=True)
    decision: Literal["edit_plan"] = "edit_plan"
    plan: PlanDraft
    statement: TaskStatement | None = None
    """An edited task statement (None: keep the refiner's); the agents see it from now on."""


class EditArgs(BaseModel):
    """Make the tool call with these arguments instead (validated like the model's)."""

    model_config = ConfigDict(frozen=True)
    decision: Literal["edit_args"] = "edit_args"
    args: dict[str, Any]


Decision = Annotated[Approve | Reject | EditPlan | EditArgs, Field(discriminator="decision")]
"""A person's answer to one :class:`ApprovalRequest`."""

DecisionAdapter: TypeAdapter[Decision] = TypeAdapter(Decision)
"""Validates decisions given as data, e.g. ``{"decision": "reject", "reason": "..."}``."""


def decisions_for(
    pending: Sequence[ApprovalRequest],
    given: Decision | Mapping[str, Decision | Mapping[str, Any]],
    *,
    max_depth: int,
    max_tasks: int = MAX_TASKS_PER_LEVEL,
) -> dict[str, Decision]:
    """One checked decision per pending request.

    ``given`` is a single decision for every request, or decisions by request id. Each
    must fit its request (``EditPlan`` only for the plan, ``EditArgs`` only for tool
    calls), and an edited plan must be valid.

    Raises:
        InputError: a request without a decision, a decision for no pending request, a
            decision that does not fit, or an invalid edited plan.
    """
    if not pending:
        raise InputError("the run is not waiting for any approval")
    by_id: dict[str, Decision]
    if isinstance(given, Approve | Reject | EditPlan | EditArgs):
        by_id = {request.id: given for request in pending}
    else:
        try:
            by_id = {rid: DecisionAdapter.validate_python(d) for rid, d in given.items()}
        except ValidationError as exc:
            raise InputError(f"invalid decision: {exc}") from exc
    known = {request.id for request in pending}
    unknown = sorted(set(by_id) - known)
    if unknown:
        raise InputError(f"no pending request with id {unknown}; pending: {sorted(known)}")
    missing = sorted(known - set(by_id))
    if missing:
        raise InputError(f"no decision for pending request(s) {missing}")
    for request in pending:
        _check_fits(request, by_id[request.id], max_depth=max_depth, max_tasks=max_tasks)
    return by_id


def _check_fits(
    request: ApprovalRequest, decision: Decision, *, max_depth: int, max_tasks: int
) -> None:
    if isinstance(decision, EditPlan):
        if request.kind != "plan":
            raise InputError(f"request {request.id!r} is a tool call; EditPlan is for the plan")
        errors = plan_errors(
            decision.plan, base_depth=0, max_depth=max_depth, max_tasks=max_tasks, on_demand=True
        )
        if errors:
            raise InputError("the edited plan is not valid: " + "; ".join(errors))
    if isinstance(decision, EditArgs) and request.kind != "tool_call":
        raise InputError(f"request {request.id!r} is the plan; EditArgs is for tool calls")
