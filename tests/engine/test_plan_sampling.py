"""Plan sampling: K plans drawn, invalid ones rejected, equal ones merged, one chosen."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra import ConfigError, ModelBehaviorError, PlanningError, RunStatus
from orchestra.testing import ScriptedCall, plan, role_spec, subtask
from tests.conftest import make_team, run_collect

SHORT = plan(
    subtask("find", "Find prices", "Look up the prices."),
    subtask("pick", "Pick one", "Choose the best laptop.", deps=["find"]),
)
SAME_RENAMED = plan(  # SHORT with other ids, case and spacing
    subtask("f1", "Find  prices", "Look up the prices."),
    subtask("p1", "pick one", "Choose the best  laptop.", deps=["f1"]),
)
LONG = plan(
    subtask("list", "List laptops", "List the candidates."),
    subtask("price", "Find prices", "Look up the prices."),
    subtask("pick", "Pick one", "Choose the best laptop.", deps=["list", "price"]),
)
CYCLE = plan(subtask("a", deps=["b"]), subtask("b", deps=["a"]))


def _planner(by_sample: dict[int, Any]) -> Any:
    def reply(call: ScriptedCall) -> Any:
        return by_sample[call.sample]

    return reply


def _choice(choice: str, scores: dict[str, float]) -> dict[str, Any]:
    return {
        "scores": [{"candidate": c, "score": s, "reason": f"{c} is ok"} for c, s in scores.items()],
        "choice": choice,
        "reason": f"{choice} covers the goal",
    }


def _script(planner: Any, critic: Any) -> dict[str, Any]:
    return {
        "planner": planner,
        "plan_critic": critic,
        "role_designer": role_spec("worker", "Do it."),
        "executor": lambda call: f"{call.task_id} done",
        "critic": {"verdict": "pass", "reason": "fine"},
        "synthesizer": "done",
    }


async def test_samples_are_merged_scored_and_the_critics_choice_is_run():
    script = _script(
        _planner({0: SHORT, 1: LONG, 2: SAME_RENAMED}), _choice("B", {"A": 0.5, "B": 0.9})
    )
    team, model = make_team(script, plan_samples=3, checkpointer="memory")
    result, events = await run_collect(team, "which laptop should I buy?")

    assert result.status is RunStatus.SUCCEEDED
    assert sorted(c.sample for c in model.calls_for("planner")) == [0, 1, 2]
    selection = result.plan_selection
    assert selection is not None and selection.k == 3 and selection.chosen == "B"
    a, b = selection.candidates
    assert (a.samples, b.samples) == ([0, 2], [1])  # the same plan, ids and spacing aside
    assert (a.score, b.score, selection.chosen_by) == (0.5, 0.9, "critic")
    assert a.agreement == 1.0 and b.agreement == pytest.approx(2 / 3, abs=1e-3)  # "list" is B's own
    assert [n.id for n in result.tree.leaves()] == ["list", "price", "pick"]  # B was run
    [critic] = model.calls_for("plan_critic")
    assert "Plan A (drawn 2 of 3 times" in critic.prompt and "Plan B (drawn 1 of 3" in critic.prompt
    # the stage's tokens next to what one plan costs
    assert selection.usage.model_calls == 4 and selection.single_shot_usage.model_calls == 1
    assert selection.usage.total_tokens > 3 * selection.single_shot_usage.total_tokens - 3
    kinds = [e.type for e in events]
    assert kinds.index("plan_chosen") < kinds.index("task_planned")
    assert result.to_record().plan_selection == selection


async def test_an_invalid_sample_is_rejected_not_scored():
    planner = _planner({0: SHORT, 1: CYCLE, 2: LONG})
    script = _script(planner, _choice("A", {"A": 0.8, "B": 0.6}))
    team, model = make_team(script, plan_samples=3, checkpointer="memory")
    result = await team.arun("which laptop should I buy?")
    selection = result.plan_selection
    assert selection is not None and [r.sample for r in selection.rejected] == [1]
    assert "cycle" in selection.rejected[0].error
    assert [c.samples for c in selection.candidates] == [[0], [2]]
    assert len([c for c in model.calls_for("planner") if c.sample == 1]) == 3  # + 2 repairs


async def test_one_valid_plan_needs_no_critic():
    script = _script(_planner({0: SHORT, 1: SAME_RENAMED}), None)
    del script["plan_critic"]  # a critic call would find no reply
    team, _ = make_team(script, plan_samples=2, checkpointer="memory")
    result = await team.arun("which laptop should I buy?")
    assert result.plan_selection is not None
    assert result.plan_selection.chosen_by == "only_candidate"


async def test_the_critics_answer_is_repaired_when_it_contradicts_itself():
    contradicting = _choice("A", {"A": 0.4, "B": 0.9})  # chooses a worse-scored plan
    script = _script(
        _planner({0: SHORT, 1: LONG}), [contradicting, _choice("B", {"A": 0.4, "B": 0.9})]
    )
    team, model = make_team(script, plan_samples=2, checkpointer="memory")
    result = await team.arun("which laptop should I buy?")
    assert result.plan_selection is not None and result.plan_selection.chosen == "B"
    _, second = model.calls_for("plan_critic")
    assert "below the best score" in second.last


async def test_a_critic_that_stays_invalid_fails_or_falls_back_to_votes():
    unknown = _choice("Z", {"A": 0.5, "B": 0.5})
    planner = _planner({0: SHORT, 1: LONG, 2: LONG})
    team, _ = make_team(
        _script(planner, [unknown] * 3), plan_samples=3, checkpointer="memory", fallbacks=False
    )
    with pytest.raises(ModelBehaviorError):
        await team.arun("which laptop should I buy?")

    team, _ = make_team(
        _script(planner, [unknown] * 3), plan_samples=3, checkpointer="memory", fallbacks=True
    )
    result = await team.arun("which laptop should I buy?")
    selection = result.plan_selection
    assert selection is not None and selection.chosen_by == "agreement"
    assert selection.chosen == "B"  # two votes against one
    assert [n.kind for n in result.notices] == ["plan_choice_fallback"]


async def test_when_every_sample_is_invalid_planning_fails():
    team, _ = make_team(
        _script(_planner({0: CYCLE, 1: CYCLE}), None),
        plan_samples=2,
        checkpointer="memory",
        fallbacks=False,
    )
    with pytest.raises(PlanningError):
        await team.arun("which laptop should I buy?")


@pytest.mark.parametrize("k", [0, 9])
def test_plan_samples_are_bounded(k: int):
    with pytest.raises(ConfigError, match="plan_samples"):
        make_team({}, plan_samples=k, checkpointer="memory")


async def test_the_report_shows_the_candidates_the_choice_and_the_rejected(tmp_path):
    from orchestra.observability.history import RunHistory
    from orchestra.observability.report import render_report

    planner = _planner({0: SHORT, 1: CYCLE, 2: LONG})
    script = _script(planner, _choice("B", {"A": 0.4, "B": 0.7}))
    team, _ = make_team(
        script, plan_samples=3, checkpointer="memory", history=RunHistory(tmp_path / "h.db")
    )
    result = await team.arun("which laptop should I buy?")
    assert team.history is not None
    html = render_report(team.history.get(result.run_id))
    assert 'id="plan-selection"' in html
    assert '<tr data-candidate="B" class="chosen">' in html
    assert '<tr data-candidate="A">' in html and "B covers the goal" in html
    assert "sample 1</td>" in html and "cycle" in html

    from rich.console import Console

    from orchestra.cli.render import print_record

    console = Console(width=200, record=True, color_system=None)
    print_record(console, result.to_record())
    assert "plan B chosen by critic among 2 distinct of 3 samples (1 rejected)" in (
        console.export_text()
    )


async def test_the_report_marks_alternatives_the_plan_critic_ruled_out(tmp_path):
    from orchestra.observability.history import RunHistory
    from orchestra.observability.report import render_report

    recall = plan(  # SHORT with another way to find the prices
        subtask("recall", "Recall prices", "Recall the prices you know."),
        subtask("pick", "Pick one", "Choose the best laptop.", deps=["recall"]),
    )
    script = _script(_planner({0: SHORT, 1: recall}), _choice("A", {"A": 0.9, "B": 0.3}))
    team, _ = make_team(script, plan_samples=2, history=RunHistory(tmp_path / "h.db"))
    result = await team.arun("which laptop should I buy?")
    tree = result.plan_selection.action_tree if result.plan_selection else None
    assert tree is not None and tree.alternatives == 1 and tree.proposed() == []
    assert team.history is not None
    html = render_report(team.history.get(result.run_id))
    assert ">0.30<" in html and "never: scored below 0.5" in html


async def test_the_teams_checks_rule_out_plans_before_the_plan_critic():
    def lists_first(task: Any, result: str) -> str | None:
        return None if "List laptops" in result else "the plan lists no candidates"

    script = _script(_planner({0: SHORT, 1: LONG}), _choice("A", {"A": 0.9}))
    team, model = make_team(script, plan_samples=2, checks=[lists_first])
    result, _ = await run_collect(team, "which laptop should I buy?")
    selection = result.plan_selection
    assert selection is not None and selection.chosen_by == "checks"
    assert model.calls_for("plan_critic") == []
    short, long = selection.candidates
    assert short.score == 0.0 and short.reason == "check:lists_first: the plan lists no candidates"
    assert selection.chosen == long.label
    assert [n.id for n in result.tree.leaves()] == ["list", "price", "pick"]


async def test_when_no_plan_passes_the_checks_the_plan_critic_sees_them_all():
    def never(task: Any, result: str) -> str | None:
        return "no plan is good enough"

    script = _script(_planner({0: SHORT, 1: LONG}), _choice("A", {"A": 0.9, "B": 0.2})) | {
        "synthesizer": "done",
        "critic": {"verdict": "pass", "reason": "fine"},
    }
    team, model = make_team(script, plan_samples=2, checks=[never], fallbacks=True)
    result, _ = await run_collect(team, "which laptop should I buy?")
    selection = result.plan_selection
    assert selection is not None and selection.chosen_by == "critic" and selection.chosen == "A"
    assert len(model.calls_for("plan_critic")) == 1
