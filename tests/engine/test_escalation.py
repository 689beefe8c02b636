"""Failures climb the tree: a parent's lead re-plans its subtree before a branch is lost."""

from __future__ import annotations

from orchestra import RunStatus
from orchestra.core.tree import TaskStatus
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect


def _plan() -> dict[str, object]:
    return plan(
        subtask(
            "report",
            subtasks=[
                subtask("facts"),
                subtask("quotes"),
                subtask("draft", deps=["facts", "quotes"]),
            ],
        ),
        subtask("other"),
    )


def _script(**overrides: object) -> dict[str, object]:
    script: dict[str, object] = {
        "planner": [_plan()],
        "role_designer": role_spec("worker", "Do the task.", []),
        "executor": lambda call: f"result of {call.task_id}",
        "critic@quotes": verdict("retry", "made-up quotes"),
        # the subtree's re-plan after 'quotes' failed for good: one new task
        "planner@report": [
            plan(subtask("sourced", "Sourced quotes"), subtask("draft2", deps=["sourced"]))
        ],
        "lead@report": ["the report, integrated"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    script.update(overrides)
    return script


async def test_a_leaf_failing_for_good_escalates_and_its_parents_replan_succeeds():
    team, model = make_team(_script(), max_attempts=2, max_replans_per_node=0)
    result, events = await run_collect(team)
    model.assert_complete()
    tree = result.tree
    assert result.status is RunStatus.SUCCEEDED
    assert tree.get("quotes").status is TaskStatus.FAILED
    report = tree.get("report")
    assert report.escalations == 1 and report.status is TaskStatus.DONE
    assert report.result == "the report, integrated"

    # the finished sibling is kept, never run again; the pending one is dropped
    assert len(model.calls_for("executor", "facts")) == 1
    assert tree.get("draft").replaced_by and model.calls_for("executor", "draft") == []
    assert [c.id for c in tree.children("report", live_only=True)] == ["facts", "sourced", "draft2"]
    assert tree.get("sourced").depends_on == ["facts"]  # new work builds on what finished

    # the re-planner saw the failure and the finished work
    [replanner] = model.calls_for("planner", "report")
    assert "made-up quotes" in replanner.prompt and "result of facts" in replanner.prompt

    [record] = result.replans
    assert (record.scope, record.escalated_from, record.kept_task_ids) == (
        "report",
        "quotes",
        ["facts"],
    )
    assert record.new_task_ids == ["sourced", "draft2"]
    [escalated] = [e for e in events if e.type == "escalated"]
    assert (escalated.task_id, escalated.from_task_id, escalated.level) == ("report", "quotes", 1)
    assert result.to_record().replans[0].scope == "report"


async def test_escalation_stops_at_max_escalations():
    team, model = make_team(_script(), max_attempts=1, max_replans_per_node=0, max_escalations=0)
    result, events = await run_collect(team)
    assert model.calls_for("planner", "report") == []
    assert not [e for e in events if e.type == "escalated"]
    assert result.status is RunStatus.PARTIAL  # 'other' finished; the report is missing
    assert {m.task_id for m in result.missing} == {"quotes", "draft"}


async def test_a_failed_escalation_climbs_one_level_further_then_gives_up():
    script = _script(
        **{
            "planner": [
                plan(
                    subtask("top", subtasks=[subtask("mid", subtasks=[subtask("leaf")])]),
                    subtask("other"),
                )
            ],
            "planner@report": [],
            "planner@mid": ["not a plan"] * 3,  # the first re-plan stays invalid
            "planner@top": ["not a plan"] * 3,  # and so does the next level's
            "critic@leaf": verdict("retry", "wrong"),
        }
    )
    del script["critic@quotes"], script["lead@report"]
    team, model = make_team(
        script, max_attempts=1, max_replans_per_node=0, max_escalations=2, fallbacks=False
    )
    result, events = await run_collect(team)
    model.assert_complete()
    levels = [(e.task_id, e.level) for e in events if e.type == "escalated"]
    assert levels == [("mid", 1), ("top", 2)]
    assert result.status is RunStatus.PARTIAL
    assert result.tree.get("top").status is TaskStatus.FAILED
    assert result.tree.get("other").status is TaskStatus.DONE


def _led_plan() -> dict[str, object]:
    return plan(
        subtask("report", subtasks=[subtask("facts"), subtask("figures"), subtask("prose")]),
        subtask("other"),
    )


async def test_an_integration_sent_back_to_be_replanned_keeps_the_subtasks_that_serve():
    script = _script(
        planner=[_led_plan()],
        **{
            "critic@quotes": verdict("pass"),
            "lead@report": ["a muddled report", "the report, redone"],
            "critic@report": [verdict("replan", "the figures are from 2019"), verdict("pass")],
            # the re-planner keeps facts and prose, drops the stale figures
            "planner@report": [
                {"tasks": [subtask("figures2", "Current figures")], "keep": ["facts", "prose"]}
            ],
        },
    )
    team, model = make_team(script)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    tree = result.tree
    report = tree.get("report")
    assert report.result == "the report, redone" and report.status is TaskStatus.DONE
    assert [c.id for c in tree.children("report", live_only=True)] == ["facts", "prose", "figures2"]
    # kept subtasks never ran again; the dropped one keeps its result but is replaced
    assert {t: len(model.calls_for("executor", t)) for t in ("facts", "figures", "prose")} == {
        "facts": 1,
        "figures": 1,
        "prose": 1,
    }
    assert tree.get("figures").replaced_by == ["figures2"]
    assert tree.get("figures2").depends_on == ["facts", "prose"]
    [replan] = result.replans
    assert (replan.scope, replan.escalated_from) == ("report", None)
    assert replan.kept_task_ids == ["facts", "prose"]
    # the re-planner was asked with the critic's reason and what it may keep
    [ask] = model.calls_for("planner", "report")
    assert "the figures are from 2019" in ask.prompt and "'figures'" in ask.prompt
    # the second integration sees the new subtask, not the dropped one
    second = model.calls_for("lead", "report")[1]
    assert "result of figures2" in second.prompt and "result of figures\n" not in second.prompt


async def test_a_keep_list_naming_unknown_tasks_is_repaired():
    script = _script(
        planner=[_led_plan()],
        **{
            "critic@quotes": verdict("pass"),
            "lead@report": ["a muddled report", "the report, redone"],
            "critic@report": [verdict("replan", "stale"), verdict("pass")],
            "planner@report": [
                {"tasks": [subtask("figures2")], "keep": ["nonsense"]},
                {"tasks": [subtask("figures2")], "keep": ["facts"]},
            ],
        },
    )
    team, model = make_team(script)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    retry = model.calls_for("planner", "report")[1]
    assert "not finished subtasks" in retry.prompt
    assert result.replans[0].kept_task_ids == ["facts"]
