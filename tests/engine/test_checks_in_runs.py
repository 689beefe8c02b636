"""Checks in a run: before the critic, no model call, verdicts with their source."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from orchestra import Role, RunStatus, TaskStatus
from orchestra.checks import CheckedTask, CheckFailed, not_boilerplate
from orchestra.cli.render import print_record
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
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


async def test_with_fallbacks_a_result_failing_its_last_check_is_kept_unverified():
    script = {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": ["no source", "still no source"],
        "executor@b": "b [source]",
        "critic": verdict("pass"),
        "synthesizer": "the answer [source]",
    }
    team, model = make_team(script, max_attempts=2, checks=[cites], fallbacks=True)
    result, events = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED  # b ran on a's kept result
    a = result.tree.get("a")
    assert a.status is TaskStatus.DONE and a.result == "still no source"
    assert model.calls_for("critic", "a") == []
    assert [(u.task_id, u.kind) for u in result.unverified] == [("a", "unverified_result")]
    assert "check:cites" in result.unverified[0].reason
    assert not result.verified
    [finished] = [e for e in events if e.type == "run_finished"]
    assert finished.unverified == ["a"]
    record = result.to_record()
    assert [u.task_id for u in record.unverified] == ["a"]
    console = Console(record=True, width=200)
    print_record(console, record)
    text = console.export_text()
    assert text.startswith("succeeded (unverified: a): a goal")
    assert (
        "warning: 1 result of this succeeded run kept although a check or the critic never" in text
    )
    assert (
        "a: unverified_result: kept unverified: the latest result (after its last attempt)"
        " failed check:cites: the result cites no source" in text
    )


async def test_with_fallbacks_a_loop_guard_keeps_the_earlier_checked_result():
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": [
            tool_call("word_count", {"text": "x"}),
            "no source",
            tool_call("word_count", {"text": "x"}),
            tool_call("word_count", {"text": "x"}),
        ],
        "critic": verdict("pass"),
        "synthesizer": "the answer [source]",
    }
    team, _ = make_team(
        script, max_attempts=3, checks=[cites], fallbacks=True, max_identical_tool_calls=2
    )
    result, _ = await run_collect(team)
    a = result.tree.get("a")
    assert a.status is TaskStatus.DONE and a.result == "no source"
    assert [u.reason for u in result.unverified] == [
        "kept unverified: the latest result (the next attempt hit a loop guard) failed"
        " check:cites: the result cites no source"
    ]


async def test_without_fallbacks_the_last_failed_check_fails_the_task():
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": ["no source", "still no source"],
        "critic": verdict("pass"),
        "synthesizer": "the answer [source]",
    }
    team, _ = make_team(script, max_attempts=2, checks=[cites], fallbacks=False)
    result, _ = await run_collect(team)
    a = result.tree.get("a")
    assert a.status is TaskStatus.FAILED
    assert a.reason == "no accepted result after 2 attempt(s): the result cites no source"
    assert result.unverified == []


async def test_an_answer_never_accepted_and_an_unchecked_result_are_unverified():
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": "a [source]",
        "critic": ["not json at all", "still not json", "nope", verdict("pass")],
        "synthesizer": ["answer without it", "answer still without it"],
    }
    team, _ = make_team(script, max_attempts=2, max_repairs=2, checks=[cites], fallbacks=True)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    kinds = {u.task_id: u.kind for u in result.unverified}
    assert kinds == {"a": "critic_fallback", "root": "answer_rejected"}
    assert result.output == "answer still without it"


async def test_a_clean_run_is_verified():
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": "a [source]",
        "critic": verdict("pass"),
        "synthesizer": "the answer",
    }
    team, _ = make_team(script)
    result, events = await run_collect(team)
    assert result.verified and result.to_record().unverified == []
    assert [e for e in events if e.type == "run_finished"][0].unverified == []


def test_teams_on_the_embedded_model_check_results_by_default():
    from orchestra import Team
    from orchestra.checks import DEFAULT_CHECKS
    from orchestra.testing import ScriptedChatModel

    assert Team(ScriptedChatModel({})).runtime.checks == ()
    assert Team().runtime.checks == DEFAULT_CHECKS  # the embedded default model
    assert Team(checks=[]).runtime.checks == ()
    assert Team(checks=[cites]).runtime.checks == (cites,)


async def test_verdict_sources_and_unverified_results_in_the_live_view_and_the_report(tmp_path):
    from orchestra.observability.history import RunHistory
    from orchestra.observability.live import LiveView
    from orchestra.observability.report import render_report

    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": ["no source", "still no source"],
        "critic": verdict("pass"),
        "synthesizer": "the answer [source]",
    }
    team, _ = make_team(
        script,
        max_attempts=2,
        checks=[cites],
        fallbacks=True,
        history=RunHistory(tmp_path / "h.db"),
    )
    view = LiveView()
    shown: list[str] = []

    def on_event(event: Any) -> None:
        view.update(event)
        if event.type == "verdict":
            console = Console(width=200, record=True, color_system=None)
            with console.capture() as capture:
                console.print(view)
            shown.append(capture.get())

    result = await team.arun("a goal", on_event=on_event)
    assert "◐ a A  worker" in shown[0] and "retry by check:cites" in shown[0]
    console = Console(width=200, record=True, color_system=None)
    with console.capture() as capture:
        console.print(view)
    assert "unverified: a" in capture.get()
    assert team.history is not None
    html = render_report(team.history.get(result.run_id))
    assert '<td class="source">check:cites</td>' in html
    assert '<td class="source">critic</td>' in html  # the answer's verdict
    assert 'id="unverified"' in html and "kept unverified" in html


async def test_a_failed_check_is_an_evaluation_on_the_attempts_span_named_by_its_source():
    from opentelemetry.trace import StatusCode

    from tests.observability.conftest import Spans

    spans = Spans()
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": ["no source", "a [source]"],
        "critic": verdict("pass"),
        "synthesizer": "the answer [source]",
    }
    team, _ = make_team(script, checks=[cites], tracing=spans.tracing(capture_content=True))
    await team.arun("a goal")
    first, second = sorted(spans.named("invoke_agent worker"), key=lambda s: s.start_time or 0)
    [event] = [e for e in first.events if e.name == "gen_ai.evaluation.result"]
    assert event.attributes is not None
    assert event.attributes["gen_ai.evaluation.name"] == "check:cites"
    assert event.attributes["gen_ai.evaluation.score.label"] == "retry"
    assert first.attributes is not None
    assert first.attributes["orchestra.verdict.source"] == "check:cites"
    assert first.status.status_code is StatusCode.ERROR
    assert "check:cites" in (first.status.description or "")
    assert second.status.status_code is StatusCode.OK  # the critic's pass, on its own span
    critic = next(s for s in spans.named("invoke_agent critic") if spans.parent_of(s) == second)
    assert critic.attributes is not None
    assert critic.attributes["orchestra.verdict.source"] == "critic"
