"""The LangGraph state of a run, and conversions between it and the typed models.

State values are plain JSON data, so any checkpointer can store them without custom
serializers; nodes convert to and from the pydantic models at their boundaries.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from pydantic import JsonValue, ValidationError

from orchestra.core.approval import ApprovalRequest
from orchestra.core.branches import missing_tasks
from orchestra.core.errors import ConfigError
from orchestra.core.events import Notice
from orchestra.core.output_types import OutputSpec
from orchestra.core.plan_selection import PlanSelection
from orchestra.core.record import (
    DecompositionRecord,
    ReplanRecord,
    RunResult,
    RunStatus,
    StageRecord,
    ToolCallRecord,
)
from orchestra.core.roles import RoleSpec
from orchestra.core.tree import TaskTree

__all__ = ["RunState", "result_from_state", "roles_from_state", "roles_to_state"]


class RunState(TypedDict, total=False):
    """What a run checkpoints between nodes."""

    run_id: str
    goal: str
    tree: dict[str, Any]
    roles: dict[str, dict[str, Any]]
    replans: list[dict[str, Any]]
    status: str
    output: str | None
    reason: str | None
    notices: Annotated[list[dict[str, Any]], operator.add]
    """Fallbacks taken (see ``orchestra.Notice``); nodes return only their new ones."""
    tool_calls: Annotated[list[dict[str, Any]], operator.add]
    """The tool-call log; nodes return only their new calls."""
    waiting: dict[str, dict[str, Any]]
    """Attempts paused for approval of a tool call, by task id: the request, the paused
    attempt and its number."""
    decisions: dict[str, dict[str, Any]]
    """People's decisions on the pending requests, by request id, until dispatch uses them."""
    statement: dict[str, Any]
    """The refined task statement (``refine_goal``), until ``plan`` puts it in the tree."""
    usage: dict[str, Any]
    """Usage spent before the tree exists (the refiner's), until ``plan`` adds it to the root."""
    plan_selection: dict[str, Any]
    """How the first plan was chosen among samples (``plan_samples``), when it was."""
    decompositions: Annotated[list[dict[str, Any]], operator.add]
    """Tasks decomposed on demand (``DecompositionRecord``); nodes return only new ones."""
    stages: Annotated[list[dict[str, Any]], operator.add]
    """When the stages outside dispatch ran (``StageRecord``); nodes return only theirs."""
    budget: dict[str, Any]
    """The :class:`~orchestra.core.budget.Budget` the run was started with, when it was
    given one (else the team's applies): what a resume given none goes on under."""
    stopped_in: str | None
    """The stage the run's budget ran out in (``refine``, ``plan``, ``design_roles``,
    ``dispatch``, ``synthesize``), until a resume goes on from there."""


def roles_to_state(roles: dict[str, RoleSpec]) -> dict[str, dict[str, Any]]:
    """Role specs as state data."""
    return {name: spec.model_dump(mode="json") for name, spec in roles.items()}


def roles_from_state(state: RunState) -> dict[str, RoleSpec]:
    """Role specs from state data."""
    return {name: RoleSpec.model_validate(v) for name, v in state.get("roles", {}).items()}


_RESULT = RunResult[Any]
"""Held here: pydantic's cache of parametrized models is weak, and building the class
again for every result cost milliseconds a run."""

_ENDED_SHORT = (RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.BUDGET_EXCEEDED)
"""Statuses whose result lists the tasks given up or never run (``RunResult.missing``)."""


def result_from_state(
    state: RunState,
    pending: Sequence[ApprovalRequest] = (),
    *,
    output_type: OutputSpec[Any] | None = None,
    ended: bool = True,
) -> RunResult[Any]:
    """The typed result of a finished, interrupted or paused run.

    ``pending`` are the requests of a run paused for approval (from its checkpoint's
    interrupt): its status is then ``awaiting_approval``. ``ended`` False: the graph has
    steps left and waits for no one (it stopped on an error, a kill or a cancel, or runs
    elsewhere), so its status is ``interrupted`` whatever a node already wrote. With
    ``output_type`` (the team's), ``output`` is the answer's typed value, read back from
    the goal's JSON.

    Raises:
        ConfigError: the kept answer is not a value of ``output_type`` (the type changed
            since the run was checkpointed).
    """
    status = RunStatus(state.get("status", RunStatus.FAILED))
    reason = state.get("reason")
    if pending:
        status = RunStatus.AWAITING_APPROVAL
    elif not ended:
        status = RunStatus.INTERRUPTED
        reason = "the run stopped before it ended; resume goes on from its last checkpoint"
    tree = TaskTree.model_validate(state["tree"])
    text = state.get("output")
    output: Any = text
    if output_type is not None:
        output = None if tree.root.output is None else _typed(output_type, tree.root.output)
    return _RESULT(
        run_id=state["run_id"],
        status=status,
        pending=list(pending),
        output=output,
        text=text,
        reason=reason,
        tree=tree,
        replans=[ReplanRecord.model_validate(r) for r in state.get("replans", [])],
        roles=roles_from_state(state),
        notices=[Notice.model_validate(n) for n in state.get("notices", [])],
        tool_calls=[ToolCallRecord.model_validate(c) for c in state.get("tool_calls", [])],
        plan_selection=(
            PlanSelection.model_validate(state["plan_selection"])
            if state.get("plan_selection")
            else None
        ),
        decompositions=[
            DecompositionRecord.model_validate(d) for d in state.get("decompositions", [])
        ],
        missing=missing_tasks(tree) if status in _ENDED_SHORT else [],
        stages=[StageRecord.model_validate(d) for d in state.get("stages", [])],
    )


def _typed(spec: OutputSpec[Any], data: JsonValue) -> Any:
    try:
        return spec.from_json(data)
    except ValidationError as exc:
        raise ConfigError(
            f"the run's answer is not a {spec.name} (did output_type change since the run"
            f" was checkpointed?): {exc.errors()[0]['msg']}"
        ) from exc
