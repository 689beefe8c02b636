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

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from orchestra.core.action_tree import (
    ProposedAlternative,
    own_dependencies,
    proposal_problem,
    with_alternative,
)
from orchestra.core.errors import InputError
from orchestra.core.parsing import JSONBoundError, check_json_bounds
from orchestra.core.plan import (
    MAX_TASKS_PER_LEVEL,
    DraftTask,
    PlanDraft,
    parent_ids,
    plan_errors,
    plan_signature,
    walk_tasks,
)
from orchestra.core.statement import TaskStatement

__all__ = [
    "MAX_ALTERNATIVES_PER_TASK",
    "PLAN_REQUEST_ID",
    "ApprovalRequest",
    "ArgsCheck",
    "Approve",
    "Decision",
    "DecisionAdapter",
    "EditArgs",
    "EditPlan",
    "Reject",
    "alternative_problem",
    "decisions_for",
    "describe_plan_edit",
    "edit_errors",
    "unfit_args",
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
    alternatives: list[ProposedAlternative] | None = None
    """With plan sampling (``plan_samples``): what the run may switch a task of the plan
    to if the critic sends that task back, before it asks the planner again, and without
    asking a person (each in the planner's format, a task's in the order they would be
    tried). Approving the plan approves these; :class:`EditPlan` can change them. None: the
    run keeps no alternatives (it did not sample plans)."""
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

    model_config = ConfigDict(frozen=True, extra="forbid")
    decision: Literal["approve"] = "approve"


class Reject(BaseModel):
    """Do not go on.

    A rejected plan ends the run (status ``rejected``); a rejected tool call is not made,
    and the task's executor is told so and why.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    decision: Literal["reject"] = "reject"
    reason: str = Field(min_length=1)


class EditPlan(BaseModel):
    """Go on with this plan instead (validated like a planner's: ids, dependencies, depth).

    Given as data, it is read strictly: a key the edit, the plan, a task or an
    alternative does not have is refused, not ignored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    decision: Literal["edit_plan"] = "edit_plan"
    plan: PlanDraft
    statement: TaskStatement | None = None
    """An edited task statement (None: keep the refiner's); the agents see it from now on."""
    alternatives: list[ProposedAlternative] | None = None
    """The alternatives to keep for backtracking (see :attr:`ApprovalRequest.alternatives`).
    None: those of the tasks the edit left exactly as they were (the others go); a list:
    these instead (``[]``: none), tried in this order, each standing for a task of the
    edited plan done as one, depending only on its own tasks, and leaving a valid plan in
    that task's place. An alternative has the keys ``instead_of`` and ``tasks`` only."""

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, value: object) -> object:
        # a person's typo ("alternative": [] for none) must not pass as "keep the defaults"
        if isinstance(value, Mapping):
            problem = _unknown_keys(value, cls.model_fields, "the edit")
            plan = value.get("plan")
            if problem is None and isinstance(plan, Mapping):
                problem = _unknown_keys(plan, PlanDraft.model_fields, "the plan")
                problem = problem or _unknown_task_keys(plan.get("tasks"), "the plan's")
            alternatives = value.get("alternatives")
            for n, item in enumerate(alternatives if isinstance(alternatives, list) else [], 1):
                if problem is None and isinstance(item, Mapping):
                    where = f"alternative {n}"
                    problem = _unknown_keys(item, ProposedAlternative.model_fields, where)
                    problem = problem or _unknown_task_keys(item.get("tasks"), f"{where}'s")
            if problem is not None:
                raise ValueError(problem)
        return value


def _unknown_keys(data: Mapping[Any, Any], known: Mapping[str, Any], where: str) -> str | None:
    extra = sorted(str(k) for k in data if k not in known)
    if not extra:
        return None
    return f"{where} has unknown key(s) {extra}; it has {sorted(known)}"


def _unknown_task_keys(tasks: object, whose: str) -> str | None:
    """The first task (any level) with a key a task does not have, said, or None."""
    for n, task in enumerate(tasks if isinstance(tasks, list) else [], 1):
        if isinstance(task, Mapping):
            name = f"{whose} task {n}" + (f" ({task['id']!r})" if "id" in task else "")
            problem = _unknown_keys(task, DraftTask.model_fields, name)
            if problem is None:
                problem = _unknown_task_keys(task.get("subtasks"), f"{name}:")
            if problem is not None:
                return problem
    return None


class EditArgs(BaseModel):
    """Make the tool call with these arguments instead (validated like the model's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    decision: Literal["edit_args"] = "edit_args"
    args: dict[str, Any]


Decision = Annotated[Approve | Reject | EditPlan | EditArgs, Field(discriminator="decision")]
"""A person's answer to one :class:`ApprovalRequest`."""

DecisionAdapter: TypeAdapter[Decision] = TypeAdapter(Decision)
"""Validates decisions given as data, e.g. ``{"decision": "reject", "reason": "..."}``."""

ArgsCheck = Callable[[str, Mapping[str, Any], str], str | None]
"""Why arguments a person gave for a call of a tool do not fit it (None: they do), from
the tool's name, the arguments and the call's idempotency key (the request's id)."""


def decisions_for(
    pending: Sequence[ApprovalRequest],
    given: Decision | Mapping[str, Decision | Mapping[str, Any]],
    *,
    max_depth: int,
    max_tasks: int = MAX_TASKS_PER_LEVEL,
    check_args: ArgsCheck | None = None,
) -> dict[str, Decision]:
    """One checked decision per pending request.

    ``given`` is a single decision for every request, or decisions by request id. Each
    must fit its request (``EditPlan`` only for the plan, ``EditArgs`` only for tool
    calls), an edited plan must be valid, and edited arguments must fit their tool's
    schema by ``check_args`` (a team's is ``TeamRuntime.approved_args_problem``).

    Raises:
        InputError: a request without a decision, a decision for no pending request, a
            decision that does not fit, an invalid edited plan, or edited arguments
            that ``check_args`` refuses.
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
        _check_fits(
            request,
            by_id[request.id],
            max_depth=max_depth,
            max_tasks=max_tasks,
            check_args=check_args,
        )
    return by_id


def _check_fits(
    request: ApprovalRequest,
    decision: Decision,
    *,
    max_depth: int,
    max_tasks: int,
    check_args: ArgsCheck | None,
) -> None:
    if isinstance(decision, EditPlan):
        if request.kind != "plan":
            raise InputError(f"request {request.id!r} is a tool call; EditPlan is for the plan")
        if decision.alternatives and request.alternatives is None:
            raise InputError(
                "this run keeps no alternatives (its team does not sample plans:"
                " plan_samples); send the edited plan without them"
            )
        errors = edit_errors(decision, max_depth=max_depth, max_tasks=max_tasks)
        if errors:
            raise InputError("the edited plan is not valid: " + "; ".join(errors))
    if isinstance(decision, EditArgs):
        if request.kind != "tool_call":
            raise InputError(f"request {request.id!r} is the plan; EditArgs is for tool calls")
        problem = unfit_args(request, decision, check_args)
        if problem is not None:
            raise InputError(f"the edited call does not fit its tool: {problem}")


def unfit_args(
    request: ApprovalRequest, decision: Decision, check_args: ArgsCheck | None
) -> str | None:
    """Why ``decision``'s edited arguments do not fit ``request``'s tool by ``check_args``.

    Past the bounds of JSON a run can store (:func:`~orchestra.core.parsing.check_json_bounds`:
    an integer beyond 64 bits, nesting too deep) they never fit. None when they fit, or
    when there is nothing to check (not an :class:`EditArgs`, no check, a request without
    a tool).
    """
    if not isinstance(decision, EditArgs):
        return None
    try:
        check_json_bounds(decision.args)
    except JSONBoundError as exc:
        return f"the arguments cannot be kept with the run: {exc}"
    if check_args is None or request.tool is None:
        return None
    return check_args(request.tool, decision.args, request.id)


MAX_ALTERNATIVES_PER_TASK = 7
"""The most alternatives an :class:`EditPlan` may give one task (as many as the most
plans a team samples leave: ``plan_samples`` is at most 8)."""

MAX_ERRORS_SAID = 20
"""Problems an invalid edit lists before ``"and N more"``."""


def edit_errors(edit: EditPlan, *, max_depth: int, max_tasks: int) -> list[str]:
    """What is wrong with an edited plan and the alternatives sent with it (empty: valid).

    The plan is checked as a planner's (a person may leave a task to be decomposed when
    it is ready); each alternative given as :func:`proposal_problem` checks the planner's,
    and in its task's place it must leave a valid plan. A task takes at most
    :data:`MAX_ALTERNATIVES_PER_TASK`, each once. At most :data:`MAX_ERRORS_SAID`
    problems are listed, then how many more there are.
    """
    errors = _plan_errors(edit.plan, max_depth=max_depth, max_tasks=max_tasks)
    if errors or not edit.alternatives:
        return errors
    # told apart as re-plans are (plan_signature: text and shape, not ids or tools): a
    # second one the same would never be grafted, as a plan already tried
    seen: dict[tuple[str, object], int] = {}
    per_task: Counter[str] = Counter()
    for n, proposal in enumerate(edit.alternatives, 1):
        key = (proposal.instead_of, plan_signature(own_dependencies(proposal.tasks)))
        if key in seen:
            errors.append(f"alternative {n}: it repeats alternative {seen[key]}")
            continue
        seen[key] = n
        per_task[proposal.instead_of] += 1
        if per_task[proposal.instead_of] == MAX_ALTERNATIVES_PER_TASK + 1:
            errors.append(
                f"alternative {n}: more than {MAX_ALTERNATIVES_PER_TASK} alternatives for"
                f" {proposal.instead_of!r}"
            )
        elif per_task[proposal.instead_of] <= MAX_ALTERNATIVES_PER_TASK:
            problem = alternative_problem(
                edit.plan, proposal, max_depth=max_depth, max_tasks=max_tasks
            )
            errors.extend(f"alternative {n}: {p}" for p in problem)
    if len(errors) > MAX_ERRORS_SAID:
        errors = [*errors[:MAX_ERRORS_SAID], f"and {len(errors) - MAX_ERRORS_SAID} more"]
    return errors


def alternative_problem(
    plan: PlanDraft, proposal: ProposedAlternative, *, max_depth: int, max_tasks: int
) -> list[str]:
    """Why ``proposal`` cannot stand in for its task of ``plan`` (empty: it can).

    As :func:`proposal_problem`, and in its task's place it must leave a valid plan.
    """
    tasks = {t.id: t for t in walk_tasks(plan.tasks)}
    problem = proposal_problem(tasks, proposal)
    if problem is not None:
        return [problem]
    return _plan_errors(with_alternative(plan, proposal), max_depth=max_depth, max_tasks=max_tasks)


def _plan_errors(plan: PlanDraft, *, max_depth: int, max_tasks: int) -> list[str]:
    return plan_errors(plan, base_depth=0, max_depth=max_depth, max_tasks=max_tasks, on_demand=True)


def describe_plan_edit(before: PlanDraft, after: PlanDraft) -> str:
    """What a person changed in a plan, task by task, for the ``plan_edited`` notice.

    Lists only what changed: tasks dropped, added, reworded (title or description),
    rewired (what they wait for), moved (another parent) and otherwise changed (tools,
    criteria, role, ``decompose``); says so when the plan came back as it was.
    """
    was = {t.id: t for t in walk_tasks(before.tasks)}
    now = {t.id: t for t in walk_tasks(after.tasks)}
    parents = [parent_ids(before.tasks), parent_ids(after.tasks)]
    both = [task_id for task_id in now if task_id in was]

    def which(differs: Callable[[DraftTask, DraftTask], bool]) -> list[str]:
        return sorted(t for t in both if differs(was[t], now[t]))

    parts = {
        "dropped": sorted(was.keys() - now.keys()),
        "added": sorted(now.keys() - was.keys()),
        "reworded": which(lambda a, b: (a.title, a.description) != (b.title, b.description)),
        "rewired": which(lambda a, b: a.depends_on != b.depends_on),
        "moved": sorted(t for t in both if parents[0].get(t) != parents[1].get(t)),
        "changed": which(lambda a, b: _own_settings(a) != _own_settings(b)),
    }
    said = [f"{what} {ids}" for what, ids in parts.items() if ids]
    if not said:
        return "a person sent the plan back as it was"
    return "a person edited the plan: " + ", ".join(said)


def _own_settings(task: DraftTask) -> tuple[object, ...]:
    return (task.tools, task.acceptance_criteria, task.role, task.decompose)
