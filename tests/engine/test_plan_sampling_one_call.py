"""Plan sampling in one planner call (``plan_sampling="one_call"``) and choice by votes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestra import ConfigError, PlanningError, RunStatus
from orchestra.testing import ScriptedCall, plan, subtask
from tests.conftest import make_team
from tests.engine.test_plan_sampling import CYCLE, LONG, SAME_RENAMED, SHORT, _choice, _script


def _planner(by_sample: dict[int, Any]) -> Any:
    def reply(call: ScriptedCall) -> Any:
        return by_sample[call.sample]

    return reply


async def test_one_call_writes_every_sample_and_the_prompt_is_sent_once():
    script = _script(
        _planner({0: SHORT, 1: LONG, 2: SAME_RENAMED}), _choice("B", {"A": 0.5, "B": 0.9})
    )
    team, model = make_team(script, plan_samples=3, plan_sampling="one_call")
    result = await team.arun("which laptop should I buy?")

    assert result.status is RunStatus.SUCCEEDED
    [call] = model.calls_for("planner")
    assert call.samples == 3 and "Write 3 plans for this goal" in call.prompt
    selection = result.plan_selection
    assert selection is not None and selection.sampling == "one_call"
    assert [c.samples for c in selection.candidates] == [[0, 2], [1]]
    assert (selection.chosen, selection.chosen_by) == ("B", "critic")
    assert [n.id for n in result.tree.leaves()] == ["list", "price", "pick"]
    assert selection.sample_calls == [1]
    # the stage: one planner call and the plan critic; one plan's estimate: the prompt
    # and a third of the reply
    assert selection.usage.model_calls == 2
    planner_usage = result.usage.by_agent["planner"]
    assert planner_usage.model_calls == 1
    assert selection.single_shot_usage.input_tokens == planner_usage.input_tokens
    assert selection.single_shot_usage.output_tokens == planner_usage.output_tokens // 3


async def test_one_bad_plan_of_the_reply_is_rejected_and_costs_no_repair():
    script = _script(_planner({0: SHORT, 1: CYCLE, 2: LONG}), _choice("A", {"A": 0.8, "B": 0.6}))
    team, model = make_team(script, plan_samples=3, plan_sampling="one_call")
    result = await team.arun("which laptop should I buy?")
    selection = result.plan_selection
    assert selection is not None and [r.sample for r in selection.rejected] == [1]
    assert "plans[1]" in selection.rejected[0].error and "cycle" in selection.rejected[0].error
    assert len(model.calls_for("planner")) == 1


async def test_a_reply_without_a_valid_plan_is_repaired_with_what_was_wrong():
    whole = [{"plans": [CYCLE]}, {"plans": [SHORT]}]
    script = _script(whole, None)
    del script["plan_critic"]
    team, model = make_team(script, plan_samples=2, plan_sampling="one_call")
    result = await team.arun("which laptop should I buy?")

    assert result.status is RunStatus.SUCCEEDED
    first, repair = model.calls_for("planner")
    assert "cycle" in repair.last and "plans[1]: the reply had no plan here" in repair.last
    selection = result.plan_selection
    assert selection is not None and selection.chosen_by == "only_candidate"
    assert [r.sample for r in selection.rejected] == [1]
    assert selection.sample_calls == [2]


async def test_a_reply_that_stays_without_a_valid_plan_raises_with_every_reply():
    script = _script({"plans": [CYCLE]}, None)
    team, model = make_team(
        script, plan_samples=2, plan_sampling="one_call", max_repairs=1, fallbacks=False
    )
    with pytest.raises(PlanningError, match="cycle") as caught:
        await team.arun("which laptop should I buy?")
    assert len(model.calls_for("planner")) == 2 and len(caught.value.raw_outputs) == 2


async def test_a_reply_cut_off_mid_list_keeps_its_complete_plans():
    cut = '{"plans": [' + json.dumps(SHORT) + ', {"tasks": [{"id": "x'
    script = _script(cut, None)
    del script["plan_critic"]
    team, _ = make_team(script, plan_samples=2, plan_sampling="one_call")
    result = await team.arun("which laptop should I buy?")
    assert result.status is RunStatus.SUCCEEDED
    assert [n.id for n in result.tree.leaves()] == ["find", "pick"]


async def test_votes_choose_without_a_plan_critic_call():
    script = _script(_planner({0: LONG, 1: SHORT, 2: SAME_RENAMED}), None)
    del script["plan_critic"]  # a critic call would find no reply
    team, _ = make_team(script, plan_samples=3, plan_choice="votes")
    result = await team.arun("which laptop should I buy?")

    selection = result.plan_selection
    assert selection is not None and (selection.chosen, selection.chosen_by) == ("B", "votes")
    assert selection.reason.startswith("2 of 3 samples wrote it")
    assert all(c.score is None for c in selection.candidates)
    assert [n.id for n in result.tree.leaves()] == ["find", "pick"]
    assert selection.action_tree is not None


@pytest.mark.parametrize(
    ("option", "value"), [("plan_sampling", "serial"), ("plan_choice", "judge")]
)
def test_unknown_sampling_options_are_refused(option: str, value: str):
    with pytest.raises(ConfigError, match=option):
        make_team({}, plan_samples=2, **{option: value})


async def test_votes_start_each_task_the_way_most_samples_went():
    find = subtask("find", "Find prices", "Look up the prices.")
    search = subtask("search", "Search the prices", "Search shops for the prices.")
    specs = subtask("specs", "Compare specs", "Compare the specs.")
    pick = subtask("pick", "Pick one", "Choose the best laptop.", deps=["prices", "specs"])

    def with_prices(prices: dict[str, Any], *more: dict[str, Any]) -> dict[str, Any]:
        deps = [prices["id"], "specs"]
        return plan(prices, specs, {**pick, "depends_on": deps}, *more)

    summary = subtask("summary", "Write a summary", "Sum it up.", deps=["pick"])
    other_specs = {**specs, "title": "Compare specs in detail"}
    by_sample = {
        0: with_prices(find),
        1: with_prices(find),  # the plan most samples wrote whole: 2 votes
        2: with_prices(search),
        3: plan(search, other_specs, {**pick, "depends_on": ["search", "specs"]}),
        4: with_prices(search, summary),
    }
    script = _script(_planner(by_sample), None)
    del script["plan_critic"]
    team, _ = make_team(script, plan_samples=5, plan_sampling="one_call", plan_choice="votes")
    result = await team.arun("which laptop should I buy?")

    selection = result.plan_selection
    assert selection is not None and selection.chosen_by == "votes" and selection.chosen == "A"
    assert "find replaced by what more samples wrote" in selection.reason
    assert selection.start is not None
    assert [t.id for t in selection.start.tasks] == ["search", "specs", "pick"]
    assert [n.id for n in result.tree.leaves()] == ["search", "specs", "pick"]
    assert result.tree.get("pick").depends_on == ["search", "specs"]
    # the action tree is merged around the plan run: "Find prices" is its alternative
    action = selection.action_tree
    assert action is not None
    branch = action.branch("search")
    assert branch is not None and branch.samples == [2, 3, 4]
    assert [(a.tasks[0].title, a.samples) for a in branch.alternatives] == [("Find prices", [0, 1])]
