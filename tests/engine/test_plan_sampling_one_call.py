"""Plan sampling in one planner call (``plan_sampling="one_call"``) and choice by votes."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import pytest
from rich.console import Console

from orchestra import ConfigError, PlanningError, RunStatus
from orchestra.agents.planner import plan_goal_samples
from orchestra.cli.render import print_record
from orchestra.core.tree import TaskTree
from orchestra.core.usage import Price
from orchestra.observability.history import RunHistory
from orchestra.observability.report import render_report
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


async def test_a_reply_with_more_plans_than_asked_is_read_until_k_are_valid():
    reply = {"plans": [CYCLE, CYCLE, SHORT, LONG, SAME_RENAMED]}
    script = _script(reply, _choice("A", {"A": 0.9, "B": 0.5}))
    team, model = make_team(script, plan_samples=2, plan_sampling="one_call")
    result = await team.arun("which laptop should I buy?")
    selection = result.plan_selection
    assert selection is not None and len(model.calls_for("planner")) == 1  # no repair
    assert [r.sample for r in selection.rejected] == [0, 1]
    assert [c.samples for c in selection.candidates] == [[2], [3]]  # the 5th is not read


def test_the_schema_asks_a_schema_following_model_for_all_k_plans():
    captured: list[dict[str, Any]] = []

    async def fake_ask(model: Any, messages: Any, call: Any, schema: Any, key: str) -> Any:
        captured.append(schema)
        return "", {"plans": [SHORT]}, None

    with mock.patch("orchestra.agents.planner.ask_list_once", fake_ask):
        tree = TaskTree.for_goal("which laptop?", 2, 6)
        asyncio.run(plan_goal_samples(mock.Mock(), tree, k=3, roles=[], tools={}))
    plans = captured[0]["properties"]["plans"]
    assert (plans["minItems"], plans["maxItems"]) == (3, 3)


async def test_one_plans_estimate_is_priced_as_its_own_tokens():
    script = _script(_planner({0: SHORT, 1: LONG}), _choice("B", {"A": 0.5, "B": 0.9}))
    price = Price(input=1.0, output=3.0)
    team, _ = make_team(
        script, plan_samples=2, plan_sampling="one_call", prices={"scripted": price}
    )
    result = await team.arun("which laptop should I buy?")
    one = result.plan_selection.single_shot_usage
    assert one.cost_usd == pytest.approx((one.input_tokens + 3 * one.output_tokens) / 1e6)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"plan_samples": 2, "plan_sampling": "serial"}, "plan_sampling"),
        ({"plan_samples": 2, "plan_choice": "judge"}, "plan_choice"),
        ({"plan_samples": 2.5}, "whole number"),
        ({"plan_samples": "3"}, "whole number"),
        ({"plan_samples": True}, "whole number"),
        ({"plan_choice": "votes"}, "set plan_samples"),
        ({"plan_sampling": "one_call"}, "set plan_samples"),
    ],
)
def test_bad_sampling_options_are_refused(options: dict[str, Any], match: str):
    with pytest.raises(ConfigError, match=match):
        make_team({}, **options)


FIND = subtask("find", "Find prices", "Look up the prices.")
SEARCH = subtask("search", "Search the prices", "Search shops for the prices.")
SPECS = subtask("specs", "Compare specs", "Compare the specs.")


def _with_prices(prices: dict[str, Any], *more: dict[str, Any], specs: Any = SPECS) -> Any:
    pick = subtask("pick", "Pick one", "Choose the best laptop.", deps=[prices["id"], "specs"])
    return plan(prices, specs, pick, *more)


def _votes_team(by_sample: dict[int, Any]) -> tuple[Any, Any]:
    script = _script(_planner(by_sample), None)
    del script["plan_critic"]
    return make_team(script, plan_samples=5, plan_sampling="one_call", plan_choice="votes")


async def test_votes_start_each_task_the_way_most_samples_went():
    summary = subtask("summary", "Write a summary", "Sum it up.", deps=["pick"])
    review = subtask("review", "Read reviews", "Read what owners say.")
    team, _ = _votes_team(
        {
            0: _with_prices(FIND),
            1: _with_prices(FIND),  # the plan most samples wrote whole: 2 votes
            2: _with_prices(SEARCH, summary),  # "search" in three samples, each plan
            3: _with_prices(SEARCH, specs={**SPECS, "title": "Compare specs in detail"}),
            4: _with_prices(SEARCH, review),  # otherwise its own
        }
    )
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


async def test_a_majority_that_a_sample_wrote_whole_runs_as_that_candidate():
    team, _ = _votes_team(
        {
            0: _with_prices(FIND),
            1: _with_prices(FIND),
            2: _with_prices(SEARCH),  # the majority at every branch, written whole
            3: _with_prices(SEARCH, specs={**SPECS, "title": "Compare specs in detail"}),
            4: _with_prices(SEARCH, subtask("review", "Read reviews", "Read reviews.")),
        }
    )
    result = await team.arun("which laptop should I buy?")
    selection = result.plan_selection
    assert selection is not None and (selection.chosen, selection.start) == ("B", None)
    assert selection.reason.endswith("which is plan B")
    assert [n.id for n in result.tree.leaves()] == ["search", "specs", "pick"]
    assert selection.action_tree is not None
    assert selection.action_tree.branch("search").samples == [2, 3, 4]


async def test_the_record_says_how_the_plans_were_drawn_and_started(tmp_path):
    summary = subtask("summary", "Write a summary", "Sum it up.", deps=["pick"])
    script = _script(
        _planner(
            {
                0: _with_prices(FIND),
                1: _with_prices(FIND),
                2: _with_prices(SEARCH, summary),
                3: _with_prices(SEARCH, specs={**SPECS, "title": "Compare specs in detail"}),
                4: _with_prices(SEARCH, subtask("review", "Read reviews", "Read reviews.")),
            }
        ),
        None,
    )
    del script["plan_critic"]
    team, _ = make_team(
        script,
        plan_samples=5,
        plan_sampling="one_call",
        plan_choice="votes",
        history=RunHistory(tmp_path / "h.db"),
    )
    result = await team.arun("which laptop should I buy?")
    console = Console(width=200, record=True, color_system=None)
    print_record(console, result.to_record())
    line = next(x for x in console.export_text().splitlines() if "chosen by votes" in x)
    assert "of 5 samples (one call)" in line and "started with the majority" in line
    assert "one plan ~" in line
    assert team.history is not None
    html = render_report(team.history.get(result.run_id))
    assert "in one planner call" in html and "data-start-plan" in html
    assert "Search the prices, Compare specs, Pick one" in html
