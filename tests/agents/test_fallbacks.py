"""Junk a small model really produced (SmolLM2-135M under a JSON grammar) becomes a run.

The replies below are copied from the embedded model's output in development, plus the
shapes measured in the model issue: six identical subtasks, ``depends_on: ["ids"]``,
and a run-on description hundreds of tokens long.
"""

from __future__ import annotations

import json

import pytest

from orchestra import PlanningError, RunStatus, TaskStatus
from orchestra.core.plan import salvage_plan
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect

BAD_ID = (
    '{ "tasks": [ { "id" : ",<#1>," ,"title":"Heat Pumps for Old Houses","description":"A heat'
    " pump is a device that uses electricity to extract heat from the environment, which can be"
    ' used in homes.", "acceptance_criteria": ["at least one heating appliance"], "depends_on" :'
    ' [], "role": null }]}'
)
CODE_IN_IDS = (
    '{ "tasks": [ { "id" : "}]\\n```python\\n# TODO:", "title":"BEGINNING TITLE", "description":'
    '"A briefing on heat pumps for old houses.", "depends_on":[ "1. Build a new house", "2. Update'
    ' your home," ] } , { "id" : "}}\\n\\n\\ndef build(name:","title":"){", "description":"Build a'
    ' new house.", "depends_on":[ "1. Build a new house" ] } ]}'
)
RUN_ON = "Heat pumps are good and " * 120
SIX_SAME = json.dumps(
    {
        "tasks": [
            {
                "id": "ids",
                "title": "Research heat pumps",
                "description": RUN_ON,
                "depends_on": ["ids"],
            }
            for _ in range(6)
        ]
    }
)


def test_salvage_renames_bad_ids_and_drops_dangling_dependencies():
    draft, notes = salvage_plan(CODE_IN_IDS, max_depth=3)
    assert [t.id for t in draft.tasks] == ["t1", "t2"]
    assert [t.title for t in draft.tasks] == ["BEGINNING TITLE", "){"]
    assert all(t.depends_on == [] for t in draft.tasks)
    assert "dropped dependency '1. Build a new house' of task 't1'" in notes
    draft, notes = salvage_plan(BAD_ID, max_depth=3)
    assert [t.id for t in draft.tasks] == ["t1"] and "renamed task id ',<#1>,' to 't1'" in notes


def test_salvage_merges_identical_tasks_and_cuts_run_on_text():
    draft, notes = salvage_plan(SIX_SAME, max_depth=3)
    [task] = draft.tasks
    assert task.id == "ids" and len(task.description) <= 400 and task.depends_on == []
    assert sum("merged duplicate" in n for n in notes) == 5
    assert "shortened the text of task #1" in notes
    assert "dropped dependency 'ids' of task 'ids'" in notes


def test_salvage_gives_up_on_replies_without_tasks():
    for raw in ["no json here", '{"plan": "do it"}', '{"tasks": [{"id": "x"}, 3]}']:
        with pytest.raises(ValueError):
            salvage_plan(raw, max_depth=3)


def worker_script(planner_replies: list[str]) -> dict[str, object]:
    return {
        "planner": planner_replies,
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"result of {call.task_id}",
        "critic": verdict("pass"),
        "synthesizer": "final",
    }


async def test_with_fallbacks_an_unrepairable_plan_is_salvaged_and_says_so():
    team, model = make_team(worker_script([SIX_SAME, CODE_IN_IDS, BAD_ID]), fallbacks=True)
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    [notice] = result.notices
    assert notice.kind == "plan_salvaged" and notice.task_id == "root"
    assert "renamed task id ',<#1>,' to 't1'" in notice.message  # the newest reply is used
    assert [n.id for n in result.tree.leaves()] == ["t1"]
    assert any(e.type == "notice" for e in events)
    assert result.to_record().notices == result.notices


async def test_with_fallbacks_garbage_becomes_a_single_task_plan(caplog):
    team, model = make_team(worker_script(["I cannot", "do that", "sorry"]), fallbacks=True)
    with caplog.at_level("WARNING", logger="orchestra"):
        result, _ = await run_collect(team, "Write a poem about rain")
    assert "plan_fallback on task root" in caplog.text
    assert result.succeeded
    [task] = result.tree.leaves()
    assert task.id == "goal" and task.description == "Write a poem about rain"
    assert result.notices[0].kind == "plan_fallback"


async def test_without_fallbacks_the_same_junk_raises():
    team, _ = make_team(worker_script([SIX_SAME, CODE_IN_IDS, BAD_ID]))
    with pytest.raises(PlanningError):
        await team.arun("goal")


async def test_role_and_critic_fallbacks():
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": {"name": "Not A Name!", "instructions": ""},
        "executor": lambda call: "done",
        "critic": "maybe?",
        "synthesizer": "final",
    }
    team, _ = make_team(script, fallbacks=True, max_repairs=1)
    result, _ = await run_collect(team)
    assert result.succeeded
    assert result.tree.get("a").role == "generalist"
    assert result.roles["generalist"].tools == ()
    # the critic's verdicts on a and on the answer were both unusable
    assert [n.kind for n in result.notices] == ["role_fallback", *["critic_fallback"] * 2]
    assert result.tree.get("a").verdicts[0].reason == "accepted without a valid critic verdict"


async def test_a_replan_that_stays_invalid_fails_the_task_not_the_process():
    script = {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["b"]))],
        "planner@b": ["junk", "junk", "junk"],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"result of {call.task_id}",
        "critic@b": [verdict("replan", "wrong")],
        "critic": verdict("pass"),
    }
    team, model = make_team(script, on_failure="stop")
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.FAILED
    assert "re-planning failed" in (result.reason or "")
    assert result.tree.get("a").status is TaskStatus.DONE
    assert result.tree.get("c").status is TaskStatus.SKIPPED
    assert [n.kind for n in result.notices] == ["replan_failed"]


def test_salvage_keeps_the_complete_tasks_of_a_reply_cut_off_by_the_token_limit():
    cut = (
        '{"tasks": [{"id": "venue", "title": "Pick a venue", "description": "Find a place."},'
        ' {"id": "food", "title": "Order food", "description": "Cake and snacks.",'
        ' "depends_on": ["venue"]}, {"id": "games", "title": "Plan games", "description": "A'
        " treasure hunt where every clue leads to"
    )
    draft, notes = salvage_plan(cut, max_depth=3)
    assert [t.id for t in draft.tasks] == ["venue", "food"]
    assert draft.tasks[1].depends_on == ["venue"]
    assert "the reply was cut off; kept the tasks before the cut" in notes
