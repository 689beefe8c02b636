"""The run as one LangGraph ``StateGraph``.

::

    plan ─► design_roles ─► dispatch ─┬─► synthesize ─► finish
                                      └────────────────► finish   (a task failed)

``dispatch`` runs the event-driven :class:`~orchestra.engine.scheduler.Scheduler`; each
executor attempt, re-plan and role design inside it is a LangGraph ``@task``, so every
finished unit of work is checkpointed on its own.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from orchestra.agents.calls import metered
from orchestra.agents.planner import fallback_plan, plan_goal
from orchestra.agents.synthesizer import results_digest, synthesize
from orchestra.core.errors import PlanningError
from orchestra.core.events import RunFinished, RunStarted, UsageRecorded
from orchestra.core.plan import draft_to_nodes
from orchestra.core.record import ReplanRecord, RunStatus
from orchestra.core.tree import ROOT_ID, TaskTree
from orchestra.engine.emit import Emitter
from orchestra.engine.runtime import TeamRuntime
from orchestra.engine.scheduler import Scheduler, emit_planned
from orchestra.engine.state import RunState, roles_from_state, roles_to_state
from orchestra.observability.spans import agent_span

__all__ = ["build_graph"]

RunGraph = CompiledStateGraph[RunState, TeamRuntime, RunState, RunState]


async def plan(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """The planner turns the goal into the first task tree."""
    rt = runtime.context
    emit = Emitter(state["run_id"])
    emit(RunStarted, goal=state["goal"])
    tree = TaskTree.for_goal(state["goal"], rt.limits.max_depth)
    notices: list[dict[str, Any]] = []
    with (
        metered(rt.prices) as meter,
        agent_span("planner", task=tree.root, run_id=state["run_id"]),
    ):
        try:
            draft = await plan_goal(
                rt.model_for_agent("planner"),
                tree,
                roles=list(rt.roles.values()),
                tools=rt.tools_for(state["goal"]),
                max_repairs=rt.limits.max_repairs,
            )
        except PlanningError as err:
            found = fallback_plan(err, tree) if rt.fallbacks else None
            if found is None:
                raise
            draft, kind, message = found
            notices.append(emit.notice(kind, message, ROOT_ID))  # type: ignore[arg-type]
    tree.root.usage = meter.usage
    nodes = draft_to_nodes(draft, tree, parent_id=ROOT_ID)
    tree.add(nodes)
    emit_planned(emit, nodes)
    emit(UsageRecorded, task_id=ROOT_ID, usage=meter.usage)
    return {
        "tree": tree.model_dump(mode="json"),
        "roles": roles_to_state(rt.initial_roles()),
        "replans": [],
        "notices": notices,
    }


async def design_roles(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """Every leaf of the first plan gets a role."""
    rt = runtime.context
    scheduler = _scheduler(rt, state)
    await scheduler.design_all(limit=asyncio.Semaphore(rt.limits.max_parallel))
    return {
        "tree": scheduler.tree.model_dump(mode="json"),
        "roles": roles_to_state(scheduler.roles),
        "notices": scheduler.notices,
    }


async def dispatch(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """Run the tree to a final status (see ``Scheduler``)."""
    rt = runtime.context
    scheduler = _scheduler(rt, state)
    await scheduler.run()
    return {
        "tree": scheduler.tree.model_dump(mode="json"),
        "roles": roles_to_state(scheduler.roles),
        "replans": [r.model_dump(mode="json") for r in scheduler.replans],
        "status": _dispatch_status(scheduler).value,
        "reason": scheduler.failure,
        "notices": scheduler.notices,
        "tool_calls": scheduler.tool_calls,
    }


def _dispatch_status(scheduler: Scheduler) -> RunStatus:
    if scheduler.budget_exceeded is not None:
        return RunStatus.BUDGET_EXCEEDED
    return RunStatus.FAILED if scheduler.failure else RunStatus.SUCCEEDED


def after_dispatch(state: RunState) -> Literal["synthesize", "finish"]:
    """Synthesize only after a successful dispatch."""
    return "synthesize" if state.get("status") == RunStatus.SUCCEEDED.value else "finish"


async def synthesize_answer(state: RunState, runtime: Runtime[TeamRuntime]) -> RunState:
    """The final answer from the finished tree."""
    rt = runtime.context
    tree = TaskTree.model_validate(state["tree"])
    with (
        metered(rt.prices) as meter,
        agent_span("synthesizer", task=tree.root, run_id=state["run_id"]),
    ):
        output = await synthesize(
            rt.model_for_agent("synthesizer"),
            tree,
            max_repairs=rt.limits.max_repairs,
        )
    tree.root.usage += meter.usage
    Emitter(state["run_id"])(UsageRecorded, task_id=ROOT_ID, usage=meter.usage)
    update: RunState = {"tree": tree.model_dump(mode="json"), "output": output}
    if output is None:  # never lose the work: answer with the results themselves
        update["output"] = results_digest(tree)
        message = "the synthesizer gave no answer; the output is the task results"
        update["notices"] = [
            Emitter(state["run_id"]).notice("synthesis_fallback", message, ROOT_ID)
        ]
    return update


async def finish(state: RunState) -> RunState:
    """Announce the end of the run."""
    Emitter(state["run_id"])(
        RunFinished,
        status=state.get("status", RunStatus.FAILED.value),
        output=state.get("output"),
        reason=state.get("reason"),
    )
    return {}


def build_graph(*, checkpointer: BaseCheckpointSaver[Any] | None, name: str) -> RunGraph:
    """Compile the state machine; each run passes its ``TeamRuntime`` as LangGraph context."""
    graph = StateGraph(RunState, context_schema=TeamRuntime)
    graph.add_node("plan", plan)
    graph.add_node("design_roles", design_roles)
    graph.add_node("dispatch", dispatch)
    graph.add_node("synthesize", synthesize_answer)
    graph.add_node("finish", finish)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "design_roles")
    graph.add_edge("design_roles", "dispatch")
    graph.add_conditional_edges("dispatch", after_dispatch, ["synthesize", "finish"])
    graph.add_edge("synthesize", "finish")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=name)


def _scheduler(runtime: TeamRuntime, state: RunState) -> Scheduler:
    return Scheduler(
        runtime=runtime,
        run_id=state["run_id"],
        tree=TaskTree.model_validate(state["tree"]),
        roles=roles_from_state(state),
        replans=[ReplanRecord.model_validate(r) for r in state.get("replans", [])],
        emit=Emitter(state["run_id"]),
    )
