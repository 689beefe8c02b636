"""Goal refinement: the raw request made a task statement the planner and critic work to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestra import ModelBehaviorError, RunStatus
from orchestra.core.approval import EditPlan
from orchestra.core.plan import PlanDraft
from orchestra.core.statement import TaskStatement
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect

STATEMENT = {
    "objective": "Compare two laptops for a student on a budget.",
    "constraints": ["under 800 EUR", "no gaming models"],
    "deliverables": ["a recommendation with reasons"],
    "acceptance_criteria": ["names one laptop", "states its price"],
}


def _script(refiner: Any = STATEMENT, **extra: Any) -> dict[str, Any]:
    return {
        "refiner": refiner,
        "planner": [plan(subtask("compare"), subtask("pick", deps=["compare"]))],
        "role_designer": role_spec("analyst", "Analyse."),
        "executor": lambda call: f"{call.task_id} done",
        "critic": verdict("pass"),
        "synthesizer": "Take the X100 at 749 EUR.",
        **extra,
    }


async def test_the_statement_reaches_the_planner_the_critic_and_the_record():
    team, model = make_team(_script(), refine_goal=True, checkpointer="memory")
    result, events = await run_collect(team, "which laptop should I buy?")

    assert result.status is RunStatus.SUCCEEDED
    assert result.tree.statement == TaskStatement.model_validate(STATEMENT)
    assert result.to_record().statement == result.tree.statement  # persisted with the run
    [planner] = model.calls_for("planner")
    assert (
        "Objective: Compare two laptops" in planner.prompt and "- under 800 EUR" in planner.prompt
    )
    for call in model.calls_for("critic"):  # the critic judges with the constraints in view
        assert "- no gaming models" in call.prompt and "- names one laptop" in call.prompt
    kinds = [e.type for e in events]
    assert kinds[:2] == ["run_started", "goal_refined"] and kinds.count("run_started") == 1
    assert kinds.index("goal_refined") < kinds.index("task_planned")
    refined = next(e for e in events if e.type == "goal_refined")
    assert refined.statement.constraints == ["under 800 EUR", "no gaming models"]
    assert result.usage.model_calls == len(model.calls)  # the refiner's call is counted


async def test_without_refinement_no_refiner_is_asked():
    script = _script()
    del script["refiner"]  # a refiner call would find no reply and fail the run
    team, model = make_team(script, checkpointer="memory")
    result = await team.arun("which laptop should I buy?")
    assert result.succeeded and result.tree.statement is None
    assert "Task statement" not in model.calls_for("planner")[0].prompt


async def test_an_invalid_statement_is_repaired():
    no_deliverables = {**STATEMENT, "deliverables": []}
    repeated = {**STATEMENT, "constraints": ["under 800 EUR", "Under 800 EUR"]}
    script = _script([no_deliverables, repeated, STATEMENT])
    team, model = make_team(script, refine_goal=True, checkpointer="memory")
    result = await team.arun("which laptop should I buy?")
    assert result.succeeded
    _, second, third = model.calls_for("refiner")
    assert "deliverables" in second.last and "at least 1 item" in second.last
    assert "constraints repeats an item" in third.last
    assert result.tree.statement is not None and result.tree.statement.deliverables


async def test_a_statement_that_stays_invalid_fails_or_falls_back():
    never = {"objective": ""}
    team, _ = make_team(
        _script([never] * 3), refine_goal=True, checkpointer="memory", fallbacks=False
    )
    with pytest.raises(ModelBehaviorError):
        await team.arun("which laptop should I buy?")

    team, model = make_team(
        _script([never] * 3), refine_goal=True, checkpointer="memory", fallbacks=True
    )
    result, events = await run_collect(team, "which laptop should I buy?")
    assert result.succeeded and result.tree.statement is None
    assert [n.kind for n in result.notices] == ["refine_fallback"]
    assert "Goal: which laptop should I buy?" in model.calls_for("planner")[0].prompt


async def test_a_person_sees_and_edits_the_statement_with_the_plan():
    team, model = make_team(_script(), refine_goal=True, approve_plan=True, checkpointer="memory")
    paused = await team.arun("which laptop should I buy?", run_id="refine-edit")
    [request] = paused.pending
    assert request.statement == TaskStatement.model_validate(STATEMENT)

    edited = request.statement.model_copy(update={"constraints": ["under 600 EUR"]})
    assert request.plan is not None
    done = await team.aresume(
        "refine-edit",
        decisions=EditPlan(plan=PlanDraft(tasks=request.plan.tasks), statement=edited),
    )
    assert done.succeeded and done.tree.statement == edited
    assert any("task statement" in n.message for n in done.notices)
    for call in model.calls_for("critic"):
        assert "- under 600 EUR" in call.prompt and "800" not in call.prompt


async def test_the_statement_shows_in_the_trace_the_live_view_and_the_report(tmp_path):
    from rich.console import Console

    from orchestra.observability import semconv as sc
    from orchestra.observability.history import RunHistory
    from orchestra.observability.live import LiveView
    from orchestra.observability.report import render_report
    from tests.observability.conftest import Spans

    spans = Spans()
    view = LiveView()
    team, _ = make_team(
        _script(),
        refine_goal=True,
        checkpointer="memory",
        tracing=spans.tracing(capture_content=True),
        history=RunHistory(tmp_path / "history.db"),
    )
    result = await team.arun("which laptop should I buy?", on_event=view.update)

    refiner = spans.one("invoke_agent refiner")
    assert refiner.attributes[f"{sc.ORCHESTRA_STATEMENT}.constraints"] == 2
    assert json.loads(str(refiner.attributes[sc.ORCHESTRA_STATEMENT]))["objective"].startswith(
        "Compare two laptops"
    )
    assert spans.parent_of(refiner).name.startswith("invoke_workflow")

    console = Console(width=140, record=True, color_system=None)
    with console.capture() as capture:
        console.print(view)
    assert "Objective: Compare two laptops" in capture.get()

    assert team.history is not None
    html = render_report(team.history.get(result.run_id))
    assert 'id="statement"' in html and "under 800 EUR; no gaming models" in html
