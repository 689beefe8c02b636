"""The run as one LangGraph ``StateGraph``.

::

    refine ─► plan ─► review_plan ─► design_roles ─► dispatch ─┬─► synthesize ─► finish
                 │                          ▲   │     └────────────────► finish  (a task failed)
                 └──► finish (rejected)     └── await_approval  (a tool call waits for a person)

A budget that runs out in ``refine``, ``plan``, ``design_roles`` or ``synthesize`` ends the
run there too (straight to ``finish``, status ``budget_exceeded``, ``stopped_in`` naming
the stage); :func:`reopen_update` is what a resume with more budget writes to go on from
that stage.

``review_plan`` and ``await_approval`` pause the run with a LangGraph interrupt (persisted
in the checkpoint) until it is resumed with people's decisions. A run goes through
``refine`` only when the team has ``refine_goal=True`` and through ``review_plan`` only
with ``approve_plan=True`` (each would pass straight through, costing a graph step and a
checkpoint); a state update applied as a node, which has no team at hand, routes through
both, and they pass straight through there as before.

``dispatch`` runs the event-driven :class:`~orchestra.engine.scheduler.Scheduler`; each
executor attempt, re-plan and role design inside it is a LangGraph ``@task``, so every
finished unit of work is checkpointed on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any, Literal, TypeVar, cast

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphInterrupt
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime, get_runtime
from langgraph.types import interrupt

from orchestra.agents.calls import metered
from orchestra.agents.plan_sampling import sample_plans
from orchestra.agents.planner import fallback_plan, plan_goal
from orchestra.agents.refiner import refine_goal
from orchestra.agents.synthesizer import results_digest
from orchestra.core.action_tree import ActionTree, ProposedAlternative, edited_action_tree
from orchestra.core.approval import (
    PLAN_REQUEST_ID,
    ApprovalRequest,
    DecisionAdapter,
    EditPlan,
    Reject,
    alternative_problem,
    describe_plan_edit,
    edit_errors,
)
from orchestra.core.branches import missing_note, missing_tasks, partial_digest
from orchestra.core.errors import BudgetExceeded, InputError, ModelBehaviorError, PlanningError
from orchestra.core.events import (
    ApprovalRequested,
    GoalRefined,
    Notice,
    PlanChosen,
    RunFinished,
    RunStarted,
    UsageRecorded,
)
from orchestra.core.plan import PlanDraft, draft_of, draft_to_nodes
from orchestra.core.plan_selection import PlanSelection
from orchestra.core.record import (
    UNVERIFYING_NOTICES,
    ReplanRecord,
    RunStatus,
    StageName,
    StageRecord,
    unverified_results,
)
from orchestra.core.statement import TaskStatement
from orchestra.core.tree import ROOT_ID, TaskStatus, TaskTree
from orchestra.core.usage import Usage
from orchestra.engine.emit import Emitter
from orchestra.engine.jobs import checked
from orchestra.engine.runtime import TeamRuntime
from orchestra.engine.scheduler import Scheduler, emit_planned, reopen_after_budget
from orchestra.engine.state import RunState, roles_from_state, roles_to_state
from orchestra.engine.synthesis import final_answer
from orchestra.observability.spans import agent_span, trace_plan_selection, trace_statement

__all__ = ["RECURSION_LIMIT", "build_graph", "reopen_update"]

RunGraph = CompiledStateGraph[RunState, TeamRuntime, RunState, RunState]


async def refine(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """With ``refine_goal``, the refiner makes the raw request a task statement."""
    rt = runtime.context
    if not rt.refine_goal:
        return {}
    emit = Emitter(state["run_id"])
    emit(RunStarted, goal=state["goal"])
    root = TaskTree.for_goal(state["goal"], rt.limits.max_depth).root
    before = Usage.model_validate(state.get("usage") or {})  # a resumed run's earlier spend
    with (
        metered(rt.prices) as meter,
        agent_span("refiner", task=root, run_id=state["run_id"]) as span,
    ):
        try:
            statement = await refine_goal(
                rt.model_for_agent("refiner"),
                state["goal"],
                tools=rt.tools_for(state["goal"]),
                max_repairs=rt.limits.max_repairs,
            )
        except ModelBehaviorError as err:
            if not rt.fallbacks:
                raise
            message = f"no valid task statement ({err}); planning from the raw goal"
            notice = emit.notice("refine_fallback", message, ROOT_ID)
            emit(UsageRecorded, task_id=ROOT_ID, usage=meter.usage)
            return {"notices": [notice], "usage": (before + meter.usage).model_dump()}
        except BudgetExceeded as exc:
            return _stopped_before_plan(state, rt, "refine", exc, before, meter.usage)
        trace_statement(span, statement)
    emit(GoalRefined, statement=statement)
    emit(UsageRecorded, task_id=ROOT_ID, usage=meter.usage)
    return {
        "statement": statement.model_dump(mode="json"),
        "usage": (before + meter.usage).model_dump(),
    }


def _stopped_before_plan(
    state: RunState,
    rt: TeamRuntime,
    stage: Literal["refine", "plan"],
    exc: BudgetExceeded,
    before: Usage,
    spent: Usage,
) -> RunState:
    """The run's end when the budget ran out before there was a plan.

    The tree is the goal alone, holding what was spent (``before`` this invocation, and
    ``spent`` in it).
    """
    tree = TaskTree.for_goal(state["goal"], rt.limits.max_depth, rt.limits.max_tasks_per_level)
    if state.get("statement"):
        tree.statement = TaskStatement.model_validate(state["statement"])
    tree.root.usage = before + spent
    tree.root.status, tree.root.reason = TaskStatus.SKIPPED, f"not run: {exc}"
    Emitter(state["run_id"])(UsageRecorded, task_id=ROOT_ID, usage=spent)
    return {
        "tree": tree.model_dump(mode="json"),
        "usage": tree.root.usage.model_dump(),
        **_budget_end(stage, exc),
    }


def _budget_end(stage: str, exc: BudgetExceeded | str) -> RunState:
    """What ends a run at its budget in ``stage`` (see :func:`reopen_update`)."""
    return {
        "status": RunStatus.BUDGET_EXCEEDED.value,
        "reason": str(exc),
        "stopped_in": stage,
    }


def reopen_update(state: RunState) -> tuple[RunState, str]:
    """How a run that ended at its budget goes on: a state update and the node to apply it as.

    The graph then runs the stage the budget stopped in again, with what it had done.

    Finished work stays: the tasks the budget left unrun are pending again, a plan is
    kept when one was made, and what was spent before a plan existed is carried into it.
    """
    stage = state.get("stopped_in") or "dispatch"
    update: RunState = {"reason": None, "stopped_in": None}
    tree = TaskTree.model_validate(state["tree"])
    if stage in ("refine", "plan"):
        update["usage"] = tree.root.usage.model_dump()
        return update, START if stage == "refine" else "refine"
    if stage == "synthesize":  # every task had finished: dispatch succeeded
        update["status"] = RunStatus.SUCCEEDED.value
        return update, "dispatch"
    reopen_after_budget(tree)
    update["tree"] = tree.model_dump(mode="json")
    return update, "review_plan" if stage == "design_roles" else "design_roles"


async def plan(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """The planner turns the goal (and its task statement, if refined) into the first tree."""
    rt = runtime.context
    emit = Emitter(state["run_id"])
    if not rt.refine_goal:  # else the refine node announced the run
        emit(RunStarted, goal=state["goal"])
    tree = TaskTree.for_goal(state["goal"], rt.limits.max_depth, rt.limits.max_tasks_per_level)
    if state.get("statement"):
        tree.statement = TaskStatement.model_validate(state["statement"])
    notices: list[dict[str, Any]] = []
    selection: PlanSelection | None = None
    with (
        metered(rt.prices) as meter,
        agent_span("planner", task=tree.root, run_id=state["run_id"]) as span,
    ):
        try:
            if rt.plan_samples > 1:
                draft, selection = await sample_plans(
                    rt.model_for_agent("planner"),
                    rt.model_for_agent("plan_critic"),
                    tree,
                    k=rt.plan_samples,
                    roles=list(rt.roles.values()),
                    tools=rt.tools_for(state["goal"]),
                    prices=rt.prices,
                    max_repairs=rt.limits.max_repairs,
                    fallbacks=rt.fallbacks,
                    on_demand=rt.decompose == "on_demand",
                    checks=partial(checked, rt, tree.root, role=None) if rt.checks else None,
                    sampling=rt.plan_sampling,
                    choose=rt.plan_choice,
                )
                trace_plan_selection(span, selection)
            else:
                draft = await plan_goal(
                    rt.model_for_agent("planner"),
                    tree,
                    roles=list(rt.roles.values()),
                    tools=rt.tools_for(state["goal"]),
                    max_repairs=rt.limits.max_repairs,
                    on_demand=rt.decompose == "on_demand",
                )
        except BudgetExceeded as exc:
            before = Usage.model_validate(state.get("usage") or {})
            return _stopped_before_plan(state, rt, "plan", exc, before, meter.usage)
        except PlanningError as err:
            found = fallback_plan(err, tree) if rt.fallbacks else None
            if found is None:
                raise
            draft, kind, message = found
            notices.append(emit.notice(kind, message, ROOT_ID))  # type: ignore[arg-type]
    tree.root.usage = Usage.model_validate(state.get("usage") or {}) + meter.usage
    nodes = draft_to_nodes(draft, tree, parent_id=ROOT_ID)
    tree.add(nodes)
    out: RunState = {}
    if selection is not None:
        emit(PlanChosen, selection=selection)
        if selection.chosen_by == "agreement":
            notices.append(emit.notice("plan_choice_fallback", selection.reason, ROOT_ID))
        out["plan_selection"] = selection.model_dump(mode="json")
    emit_planned(emit, nodes)
    emit(UsageRecorded, task_id=ROOT_ID, usage=meter.usage)
    return out | {
        "tree": tree.model_dump(mode="json"),
        "roles": roles_to_state(rt.initial_roles()),
        "replans": [],
        "notices": notices,
    }


async def review_plan(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """With ``approve_plan``, wait for a person to approve, edit or reject the plan."""
    if not runtime.context.approve_plan:
        return {}
    tree = TaskTree.model_validate(state["tree"])
    plan = PlanDraft.model_construct(tasks=draft_of(tree, ROOT_ID))
    count = sum(1 for _ in tree.live_nodes())
    selection = state.get("plan_selection")
    action_tree = ActionTree.from_selection_data(selection)
    request = ApprovalRequest(
        id=PLAN_REQUEST_ID,
        kind="plan",
        task_id=ROOT_ID,
        summary=f"a plan of {count} task(s) for the goal",
        plan=plan,
        statement=tree.statement,
        alternatives=(action_tree.proposed() if action_tree else []) if selection else None,
    )
    emit = Emitter(state["run_id"])
    decision = DecisionAdapter.validate_python(_ask(emit, [request])[PLAN_REQUEST_ID])
    if isinstance(decision, Reject):
        reason = f"a person rejected the plan: {decision.reason}"
        for node in tree.nodes.values():
            node.status, node.reason = TaskStatus.SKIPPED, reason
        return {
            "tree": tree.model_dump(mode="json"),
            "status": RunStatus.REJECTED.value,
            "reason": reason,
        }
    if not isinstance(decision, EditPlan):
        return {}
    if decision.alternatives and not selection:
        raise InputError("this run keeps no alternatives (its team does not sample plans)")
    errors = edit_errors(decision, max_depth=tree.max_depth, max_tasks=tree.max_tasks_per_level)
    if errors:  # Team checks before resuming; a run resumed some other way is checked here
        raise InputError("the edited plan is not valid: " + "; ".join(errors))
    edited = TaskTree.for_goal(tree.goal, tree.max_depth, tree.max_tasks_per_level)
    edited.root.usage = tree.root.usage
    edited.statement = decision.statement or tree.statement
    nodes = draft_to_nodes(decision.plan, edited, parent_id=ROOT_ID)
    edited.add(nodes)
    emit_planned(emit, nodes)
    message = describe_plan_edit(plan, decision.plan)
    if decision.statement is not None and decision.statement != tree.statement:
        message += "; and the task statement"
    out: RunState = {"tree": edited.model_dump(mode="json")}
    if selection:

        def fits(proposal: ProposedAlternative) -> str | None:
            problems = alternative_problem(
                decision.plan,
                proposal,
                max_depth=tree.max_depth,
                max_tasks=tree.max_tasks_per_level,
            )
            return "; ".join(problems) or None

        kept = edited_action_tree(action_tree, plan, decision.plan, decision.alternatives, fits)
        if kept.edit:
            message += f"; alternatives: {kept.edit.describe()}"
        updated = PlanSelection.model_validate(selection).model_copy(update={"action_tree": kept})
        out["plan_selection"] = updated.model_dump(mode="json")
    out["notices"] = [emit.notice("plan_edited", message, ROOT_ID)]
    return out


async def after_review(state: RunState) -> Literal["design_roles", "finish"]:
    """A rejected plan ends the run."""
    return "finish" if state.get("status") == RunStatus.REJECTED.value else "design_roles"


def _ask(emit: Emitter, requests: list[ApprovalRequest]) -> dict[str, Any]:
    """Pause the run for ``requests`` (a LangGraph interrupt); the decisions by request id.

    The node calling this runs again from its start when the run is resumed, and this
    call then returns the decisions the run was resumed with.
    """
    try:
        answer = interrupt([r.model_dump(mode="json") for r in requests])
    except GraphInterrupt:
        for request in requests:
            emit(ApprovalRequested, request=request)
        raise
    if not isinstance(answer, dict) or any(r.id not in answer for r in requests):
        raise InputError(f"resumed without a decision for each of {[r.id for r in requests]}")
    return answer


async def await_approval(state: RunState) -> RunState:
    """Wait for people's decisions on the tool calls paused for approval."""
    requests = [
        ApprovalRequest.model_validate(request)
        for entry in state.get("waiting", {}).values()
        for request in entry.get("requests") or [entry["request"]]
    ]
    answer = _ask(Emitter(state["run_id"]), requests)
    decisions = {r.id: DecisionAdapter.validate_python(answer[r.id]) for r in requests}
    return {"decisions": {rid: d.model_dump(mode="json") for rid, d in decisions.items()}}


async def design_roles(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """Every leaf of the first plan gets a role."""
    rt = runtime.context
    scheduler = _scheduler(rt, state)
    again = any(s["stage"] == "design_roles" for s in state.get("stages", []))
    await scheduler.design_all(limit=asyncio.Semaphore(rt.limits.max_parallel), again=again)
    out: RunState = {
        "tree": scheduler.tree.model_dump(mode="json"),
        "roles": roles_to_state(scheduler.roles),
        "notices": scheduler.notices,
    }
    if scheduler.failure is not None:  # the run's budget ran out (nothing else fails here)
        out |= _budget_end("design_roles", scheduler.failure)
    return out


async def after_design(state: RunState) -> Literal["dispatch", "finish"]:
    """Dispatch, unless the budget ran out while roles were designed."""
    return "finish" if state.get("stopped_in") == "design_roles" else "dispatch"


def _team_runtime() -> TeamRuntime | None:
    """The run's ``TeamRuntime`` where a router runs, or None where it is not known.

    A state update applied as a node (how a run stopped at its budget is reopened) runs
    that node's routers without the run's context: they then take the path through every
    node, which is right for any team.
    """
    try:
        runtime = get_runtime(TeamRuntime)
    except RuntimeError:  # not inside a graph run
        return None
    return runtime.context if runtime is not None else None


async def enter(state: RunState) -> Literal["refine", "plan"]:
    """Refine the goal first when the team refines goals, else plan at once.

    ``refine`` does nothing for a team that does not refine goals; going round it spares
    the run a graph step and its checkpoint.
    """
    rt = _team_runtime()
    return "plan" if rt is not None and not rt.refine_goal else "refine"


async def after_refine(state: RunState) -> Literal["plan", "finish"]:
    """Plan, unless the budget ran out while the goal was refined."""
    return "finish" if state.get("stopped_in") == "refine" else "plan"


async def after_plan(state: RunState) -> Literal["review_plan", "design_roles", "finish"]:
    """Review the plan, unless the budget ran out while it was made.

    A team without ``approve_plan`` goes on to ``design_roles`` at once (``review_plan``
    would pass straight through, costing a graph step and its checkpoint).
    """
    if state.get("stopped_in") == "plan":
        return "finish"
    rt = _team_runtime()
    return "design_roles" if rt is not None and not rt.approve_plan else "review_plan"


async def dispatch(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """Run the tree to a final status (see ``Scheduler``)."""
    rt = runtime.context
    scheduler = _scheduler(rt, state)
    # plan sampling's alternatives, kept with the selection: backtracking before re-planning
    scheduler.hierarchy.action_tree = ActionTree.from_selection_data(state.get("plan_selection"))
    await scheduler.run()
    return {
        "tree": scheduler.tree.model_dump(mode="json"),
        "roles": roles_to_state(scheduler.roles),
        "replans": [r.model_dump(mode="json") for r in scheduler.replans],
        "decompositions": [d.model_dump(mode="json") for d in scheduler.decompositions],
        "status": _dispatch_status(scheduler).value,
        "reason": scheduler.failure or scheduler.partial,
        "notices": scheduler.notices,
        "tool_calls": scheduler.tool_calls,
        "waiting": scheduler.waiting,
        "decisions": {},
        "stopped_in": "dispatch" if scheduler.budget_exceeded is not None else None,
    }


def _dispatch_status(scheduler: Scheduler) -> RunStatus:
    if scheduler.budget_exceeded is not None:
        return RunStatus.BUDGET_EXCEEDED
    if scheduler.failure:
        return RunStatus.FAILED
    if scheduler.partial:
        return RunStatus.PARTIAL
    return RunStatus.AWAITING_APPROVAL if scheduler.waiting else RunStatus.SUCCEEDED


async def after_dispatch(state: RunState) -> Literal["synthesize", "await_approval", "finish"]:
    """Synthesize after a successful or partial dispatch; wait when tool calls wait."""
    status = state.get("status")
    if status == RunStatus.AWAITING_APPROVAL.value:
        return "await_approval"
    done = (RunStatus.SUCCEEDED.value, RunStatus.PARTIAL.value)
    return "synthesize" if status in done else "finish"


async def synthesize_answer(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """The final answer from the finished tree."""
    rt = runtime.context
    tree = TaskTree.model_validate(state["tree"])
    missing = missing_tasks(tree)
    emit = Emitter(state["run_id"])
    with metered(rt.prices) as meter:
        answer = await final_answer(rt, tree, state["run_id"], missing)
    tree.root.usage += meter.usage
    emit(UsageRecorded, task_id=ROOT_ID, usage=meter.usage)
    if answer.stop is not None:
        return {"tree": tree.model_dump(mode="json"), **_budget_end("synthesize", answer.stop)}
    output = answer.output
    notices = [emit.notice(n.kind, n.message, ROOT_ID) for n in answer.notices]
    update: RunState = {"tree": tree.model_dump(mode="json"), "output": output}
    if output is None:  # never lose the work: answer with the results themselves
        update["output"] = partial_digest(tree) if missing else results_digest(tree)
        message = "the synthesizer gave no answer; the output is the task results"
        notices.append(emit.notice("synthesis_fallback", message, ROOT_ID))
    if notices:
        update["notices"] = notices
    if missing and rt.output is None:
        # a partial answer always says what it lacks, whatever the model wrote (a typed
        # answer stays its JSON: the record's ``missing`` says it)
        update["output"] = f"{update['output']}\n\n{missing_note(missing)}"
    return update


async def finish(state: RunState) -> RunState:
    """Announce the end of the run."""
    output = state.get("output")
    notices = [n for n in state.get("notices", []) if n["kind"] in UNVERIFYING_NOTICES]
    unverified = (
        unverified_results(
            TaskTree.model_validate(state["tree"]),
            [Notice.model_validate(n) for n in notices],
            answered=output is not None,
        )
        if notices and "tree" in state
        else []
    )
    Emitter(state["run_id"])(
        RunFinished,
        status=state.get("status", RunStatus.FAILED.value),
        output=output,
        reason=state.get("reason"),
        unverified=[u.task_id for u in unverified],
    )
    return {}


NODES = (
    "refine",
    "plan",
    "review_plan",
    "design_roles",
    "dispatch",
    "await_approval",
    "synthesize",
    "finish",
)

RECURSION_LIMIT = 2 * len(NODES) + 1
"""The supersteps one invocation (a run, or a resume) can take, passed to LangGraph.

LangGraph's recursion limit counts supersteps, and a plan's size adds none: every
subtask, retry and re-plan runs inside ``dispatch`` as a LangGraph task. An invocation
passes each node at most twice (``dispatch`` and ``await_approval`` twice when a resume
brings decisions and a tool call then asks for another), so this bound is never what
ends a run, whatever ``LANGGRAPH_DEFAULT_RECURSION_LIMIT`` says in the environment.
"""


_Node = TypeVar("_Node", bound=Callable[..., Awaitable[RunState]])


def _timed(stage: StageName, node: _Node) -> _Node:
    """``node``, whose update also says when it ran (``RunState.stages``).

    Goal refinement is timed only when the team refines goals (else it does nothing).
    """

    async def timed(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
        started = datetime.now(UTC)
        update: RunState = await node(state, runtime)
        if stage == "refine" and not runtime.context.refine_goal:
            return update
        record = StageRecord(stage=stage, started_at=started, finished_at=datetime.now(UTC))
        update["stages"] = [record.model_dump(mode="json")]
        return update

    timed.__name__ = node.__name__
    timed.__doc__ = node.__doc__
    return cast(_Node, timed)


def build_graph(*, checkpointer: BaseCheckpointSaver[Any] | None, name: str) -> RunGraph:
    """The state machine; each run passes its ``TeamRuntime`` as LangGraph context.

    Every team's graph is the same machine (what differs between teams is in the runtime),
    so it is compiled once per process and each team gets a copy under its own name:
    compiling costs milliseconds (LangGraph inspects every node's code).
    """
    return _compiled().copy({"checkpointer": checkpointer, "name": name})


@cache
def _compiled() -> RunGraph:
    graph = StateGraph(RunState, context_schema=TeamRuntime)
    graph.add_node("refine", _timed("refine", refine))
    graph.add_node("plan", _timed("plan", plan))
    graph.add_node("review_plan", review_plan)
    graph.add_node("design_roles", _timed("design_roles", design_roles))
    graph.add_node("dispatch", dispatch)
    graph.add_node("await_approval", await_approval)
    graph.add_node("synthesize", _timed("synthesize", synthesize_answer))
    graph.add_node("finish", finish)
    # The routers are coroutines: LangGraph runs a plain function on a worker thread, and
    # the hop there and back cost up to milliseconds a step while the loop was busy.
    graph.add_conditional_edges(START, enter, ["refine", "plan"])
    graph.add_conditional_edges("refine", after_refine, ["plan", "finish"])
    graph.add_conditional_edges("plan", after_plan, ["review_plan", "design_roles", "finish"])
    graph.add_conditional_edges("review_plan", after_review, ["design_roles", "finish"])
    graph.add_conditional_edges("design_roles", after_design, ["dispatch", "finish"])
    graph.add_conditional_edges(
        "dispatch", after_dispatch, ["synthesize", "await_approval", "finish"]
    )
    graph.add_edge("await_approval", "dispatch")
    graph.add_edge("synthesize", "finish")
    graph.add_edge("finish", END)
    return graph.compile(name="orchestra")


def _scheduler(runtime: TeamRuntime, state: RunState) -> Scheduler:
    return Scheduler(
        runtime=runtime,
        run_id=state["run_id"],
        tree=TaskTree.model_validate(state["tree"]),
        roles=roles_from_state(state),
        replans=[ReplanRecord.model_validate(r) for r in state.get("replans", [])],
        emit=Emitter(state["run_id"]),
        waiting=dict(state.get("waiting", {})),
        earlier_tool_calls=state.get("tool_calls", []),
        decisions={
            rid: DecisionAdapter.validate_python(d) for rid, d in state.get("decisions", {}).items()
        },
    )
