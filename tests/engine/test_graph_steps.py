"""The graph steps a run takes: stages that would pass straight through are gone round."""

from __future__ import annotations

from typing import Any

from orchestra import RunStatus, Team
from orchestra.engine.graph import after_plan, enter
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team

SCRIPT: dict[str, Any] = {
    "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
    "role_designer": role_spec("worker", "Do the task.", []),
    "executor": "result",
    "critic": verdict("pass"),
    "synthesizer": "answer",
}

STATEMENT = {
    "objective": "Answer the goal.",
    "constraints": [],
    "deliverables": ["an answer"],
    "acceptance_criteria": ["answers it"],
}


async def _steps(team: Team, run_id: str) -> list[str]:
    """The nodes the run's checkpoints named next, oldest first."""
    async with team.checkpoints.open() as saver:
        graph = team.graph.copy({"checkpointer": saver})
        config: Any = {"configurable": {"thread_id": run_id}}
        history = [s async for s in graph.aget_state_history(config)]
    return [name for snapshot in reversed(history) for name in snapshot.next]


async def test_a_run_goes_round_refinement_and_plan_review_it_does_not_have():
    team, _ = make_team(dict(SCRIPT), checkpointer="memory")
    result = await team.arun("a goal", run_id="plain")

    assert result.status is RunStatus.SUCCEEDED
    assert await _steps(team, "plain") == [
        "__start__",
        "plan",
        "design_roles",
        "dispatch",
        "synthesize",
        "finish",
    ]


async def test_a_team_that_refines_goals_takes_the_refine_step():
    team, model = make_team(
        SCRIPT | {"refiner": STATEMENT}, refine_goal=True, checkpointer="memory"
    )
    result = await team.arun("a goal", run_id="refined")

    assert result.status is RunStatus.SUCCEEDED
    assert len(model.calls_for("refiner")) == 1
    steps = await _steps(team, "refined")
    assert steps[:3] == ["__start__", "refine", "plan"] and "review_plan" not in steps


async def test_routers_without_a_run_at_hand_take_every_step():
    # a state update applied as a node runs its routers outside the run's context
    assert await enter({}) == "refine"
    assert await after_plan({}) == "review_plan"
    assert await after_plan({"stopped_in": "plan"}) == "finish"
