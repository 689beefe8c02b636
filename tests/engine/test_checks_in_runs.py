"""Checks in a run: before the critic, no model call, verdicts with their source."""

from __future__ import annotations

from rich.console import Console

from orchestra import Role, RunStatus, TaskStatus
from orchestra.checks import CheckedTask, CheckFailed, not_boilerplate
from orchestra.cli.render import print_record
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect


def cites(task: CheckedTask, result: str) -> str | None:
    return None if "[source]" in result else "the result cites no source"


async def test_a_check_failing_twice_then_passing_costs_no_critic_call():
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": ["first try", "second try", "third try [source]"],
        "executor@b": "b [source]",
        "critic": verdict("pass"),
        "synthesizer": "done [source]",
    }
    team, model = make_team(script, max_attempts=3, checks=[cites])
    result, events = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    a = result.tree.get("a")
    assert [(v.verdict, v.source) for v in a.verdicts] == [
        ("retry", "check:cites"),
        ("retry", "check:cites"),
        ("pass", "critic"),
    ]
    assert a.verdicts[0].reason == "the result cites no source"
    assert len(model.calls_for("critic", "a")) == 1  # only the result that passed the check
    # the reason reached the next attempt as feedback
    assert "cites no source" in str(model.calls_for("executor", "a")[1].messages[-1].content)
    given = [e for e in events if e.type == "verdict" and e.task_id == "a"]
    assert [e.source for e in given] == ["check:cites", "check:cites", "critic"]
    record = result.to_record()
    [task_a] = [t for t in record.tasks if t.id == "a"]
    assert [v.source for v in task_a.verdicts] == ["check:cites", "check:cites", "critic"]
    console = Console(record=True, width=200)
    print_record(console, record)  # what `orchestra runs show` prints
    assert (
        "check:cites on a (attempt 1): retry: the result cites no source" in console.export_text()
    )


async def test_a_role_check_can_give_its_task_up_and_team_checks_run_first():
    order: list[str] = []

    def team_check(task: CheckedTask, result: str) -> str | None:
        order.append("team")
        return None

    async def hopeless(task: CheckedTask, result: str) -> str | None:
        order.append("role")
        raise CheckFailed("the data cannot exist", verdict="fail")

    script = {
        "planner": [plan(subtask("a", role="analyst"), subtask("b", role="analyst"))],
        "executor": lambda call: f"{call.task_id} result",
        "critic": verdict("pass"),
        "synthesizer": "what could be done",
    }
    analyst = Role(name="analyst", instructions="Analyse.", checks=[hopeless])
    team, model = make_team(script, roles=[analyst], checks=[team_check])
    result, _ = await run_collect(team)
    assert order[:2] == ["team", "role"]
    a = result.tree.get("a")
    assert a.status is TaskStatus.FAILED and a.attempts == 1  # no retry after "fail"
    assert a.reason == "check:hopeless: the data cannot exist"
    assert model.calls_for("critic", "a") == []
    assert result.status is RunStatus.FAILED  # nothing usable is left


async def test_the_final_answer_and_integrations_are_checked_too():
    script = {
        "planner": [plan(subtask("p", subtasks=[subtask("x"), subtask("y")]))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"{call.task_id} done",
        "lead": ["I'm ready to help! What's your task?", "x and y, integrated"],
        "critic": verdict("pass"),
        "synthesizer": ["As an AI language model I cannot answer.", "the answer"],
    }
    team, model = make_team(script, checks=[not_boilerplate])
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED and result.output == "the answer"
    p = result.tree.get("p")
    assert [v.source for v in p.verdicts] == ["check:not_boilerplate", "critic"]
    assert [v.source for v in result.tree.root.verdicts] == ["check:not_boilerplate", "critic"]
