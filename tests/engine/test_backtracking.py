"""Backtracking on the action tree: a rejected task takes another sample's proposal first."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from orchestra import RunStatus, TaskStatus
from orchestra.cli.render import record_tree
from orchestra.core.budget import Budget
from orchestra.observability.live import LiveView
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, verdict
from tests.conftest import index_of, make_team, run_collect


def _pick(after: str) -> dict[str, Any]:
    return subtask("pick", "Pick a laptop", "Choose the best laptop.", deps=[after])


SAMPLES = {
    0: plan(subtask("prices", "Find the prices", "Look up the laptop prices."), _pick("prices")),
    1: plan(
        subtask("search", "Search the prices", "Search shops for laptop prices."), _pick("search")
    ),
    2: plan(
        subtask("browse", "Browse the prices", "Browse price lists of laptops."), _pick("browse")
    ),
}
CHOICE = {
    "scores": [
        {"candidate": c, "score": s, "reason": "-"}
        for c, s in zip("ABC", (0.9, 0.7, 0.6), strict=True)
    ],
    "choice": "A",
    "reason": "A reads best",
}


def _samples(call: ScriptedCall) -> dict[str, Any]:
    return SAMPLES[call.sample]


def _script(**more: Any) -> dict[str, Any]:
    return {
        "planner@root": _samples,
        "plan_critic": CHOICE,
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"{call.task_id} done",
        "critic": verdict("pass"),
        "synthesizer": "the answer",
        **more,
    }


def _replanner_calls(model: Any) -> list[ScriptedCall]:
    return [c for c in model.calls_for("planner") if c.task_id != "root"]


async def test_a_rejected_task_takes_a_sampled_alternative_without_a_planner_call():
    script = _script(**{"critic@prices": [verdict("replan", "the prices are made up")]})
    team, model = make_team(script, plan_samples=3, checkpointer="memory")
    result, events = await run_collect(team, "which laptop should I buy?")
    model.assert_complete()

    assert result.status is RunStatus.SUCCEEDED
    assert _replanner_calls(model) == []  # no re-plan was asked of the planner
    assert len(model.calls_for("planner")) == 3  # the samples only
    tree = result.tree
    assert tree.get("prices").status is TaskStatus.FAILED
    assert tree.get("prices").replaced_by == ["search"]
    assert tree.get("search").title == "Search the prices"  # sample 1's proposal
    assert tree.get("pick").depends_on == ["search"]
    [replan] = result.replans
    assert (replan.task_id, replan.alternative, replan.new_task_ids) == (
        "prices",
        "prices~1",
        ["search"],
    )
    assert result.to_record().replans == result.replans
    at = index_of(events, "replanned", task_id="prices", alternative="prices~1")
    assert index_of(events, "task_planned", task_id="search") < at
    # the action tree behind it is in the selection: shared task once, branches with votes
    action = result.plan_selection.action_tree
    assert action is not None and action.samples == 3 and action.shared == 1
    branch = action.branch("prices")
    assert branch is not None and [a.id for a in branch.alternatives] == ["prices~1", "prices~2"]
    assert [a.samples for a in branch.alternatives] == [[1], [2]]
    # the task tree on the command line says which alternative replaced the task
    console = Console(width=200, record=True)
    console.print(record_tree(result.to_record()))
    assert "replaced by search (alternative prices~1)" in console.export_text()
    # and so does the live view
    view = LiveView()
    for event in events:
        view.update(event)
    console = Console(width=200, record=True, color_system=None)
    console.print(view)
    lines = console.export_text().splitlines()
    [line] = [x for x in lines if "↻ prices " in x]
    assert "alternative prices~1" in line
    assert view.tasks["pick"].depends_on == ["search"]  # not the replaced "prices" any more


async def test_backtracking_is_bounded_then_the_planner_is_asked():
    def replan(call: ScriptedCall) -> dict[str, Any]:
        return plan(subtask("ask", "Ask a shop for prices", "Call a shop for the prices."))

    script = _script(
        **{
            "critic@prices": [verdict("replan", "made up")],
            "critic@search": [verdict("replan", "still made up")],
            "critic@browse": [verdict("replan", "no better")],
            "planner@browse": [replan],
        }
    )
    team, model = make_team(
        script, plan_samples=3, max_replans_per_node=3, max_replans=3, checkpointer="memory"
    )
    result, _ = await run_collect(team, "which laptop should I buy?")
    model.assert_complete()

    assert result.status is RunStatus.SUCCEEDED
    assert [(r.task_id, r.alternative) for r in result.replans] == [
        ("prices", "prices~1"),
        ("search", "prices~2"),
        ("browse", None),  # both alternatives spent: the planner re-planned
    ]
    assert [c.task_id for c in _replanner_calls(model)] == ["browse"]
    assert result.tree.get("ask").status is TaskStatus.DONE


async def test_a_graft_counts_against_the_runs_replan_budget():
    script = _script(
        **{
            "critic@prices": [verdict("replan", "made up")],
            "critic@search": [verdict("replan", "still made up")],
        }
    )
    team, model = make_team(
        script, plan_samples=3, max_replans_per_node=3, max_replans=1, checkpointer="memory"
    )
    result, _ = await run_collect(team, "which laptop should I buy?")

    assert [r.alternative for r in result.replans] == ["prices~1"]
    assert _replanner_calls(model) == []
    assert "re-plan budget of the run is spent (1)" in (result.tree.get("search").reason or "")


async def test_a_resumed_run_still_has_its_unused_alternatives():
    script = _script(
        **{
            "critic@prices": [verdict("replan", "made up")],
            "critic@search": [verdict("replan", "still made up")],
        }
    )
    # 3 samples + plan critic + 2 designs + prices (executor, critic) + design of the graft
    team, model = make_team(
        script, plan_samples=3, max_replans_per_node=3, budget=Budget(model_calls=9)
    )
    stopped = await team.arun("which laptop should I buy?", run_id="backtracked")
    assert stopped.status is RunStatus.BUDGET_EXCEEDED
    assert [r.alternative for r in stopped.replans] == ["prices~1"]

    done = await team.aresume("backtracked", budget=Budget(model_calls=40))
    assert done.status is RunStatus.SUCCEEDED
    # the checkpoint kept the action tree and what was used: the next graft is the other one
    assert [r.alternative for r in done.replans] == ["prices~1", "prices~2"]
    assert done.tree.get("browse").status is TaskStatus.DONE
    assert _replanner_calls(model) == []


async def test_one_plan_re_plans_with_the_planner_as_before():
    script = {
        "planner@root": [SAMPLES[0]],
        "planner@prices": [plan(subtask("search", "Search the prices", "Search shops."))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"{call.task_id} done",
        "critic@prices": [verdict("replan", "made up")],
        "critic": verdict("pass"),
        "synthesizer": "the answer",
    }
    team, model = make_team(script, checkpointer="memory")
    result, _ = await run_collect(team, "which laptop should I buy?")
    model.assert_complete()

    assert result.status is RunStatus.SUCCEEDED and result.plan_selection is None
    [replan] = result.replans
    assert replan.alternative is None and [c.task_id for c in _replanner_calls(model)] == ["prices"]
