"""Traces that follow the task tree: a span per task, nested as the tree nests."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from orchestra import RunStatus
from orchestra.core.events import (
    LeadAssigned,
    TaskDecomposed,
    TaskEscalated,
    TaskFailed,
    TaskFinished,
    TaskPlanned,
)
from orchestra.observability import semconv as sc
from orchestra.observability.spans import current_settings, run_span, use_settings
from orchestra.observability.task_spans import current_task_spans, observe_event
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect
from tests.observability.conftest import Spans

TASK = "orchestra.task.id"


def _three_levels() -> dict[str, object]:
    return {
        "planner": [
            plan(
                subtask(
                    "report",
                    subtasks=[
                        subtask("facts", subtasks=[subtask("count"), subtask("check")]),
                        subtask("prose", deps=["facts"]),
                    ],
                ),
            )
        ],
        "role_designer": role_spec("analyst", "Analyse.", ["word_count"]),
        "executor@count": [tool_call("word_count", {"text": "one two"}), "two words"],
        "executor": "fine",
        "lead": "integrated",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }


def _chain(spans: Spans, span: ReadableSpan) -> list[str]:
    """Names from ``span`` up to the run span."""
    names = []
    node: ReadableSpan | None = span
    while node is not None:
        names.append(node.name)
        node = spans.parent_of(node)
    return names


async def test_the_trace_tree_reads_like_the_task_tree(spans: Spans):
    team, _ = make_team(_three_levels(), tracing=spans.tracing(capture_content=True), name="t")
    result, _ = await run_collect(team, "write a report")
    assert result.status is RunStatus.SUCCEEDED

    tool = spans.one("execute_tool word_count")
    assert _chain(spans, tool) == [
        "execute_tool word_count",
        "invoke_agent analyst",
        "task count: Count",
        "task facts: Facts",
        "task report: Report",
        "invoke_workflow t",
    ]
    for chat in (s for s in spans.named("chat ") if s.attributes[TASK] == "count"):
        agent = spans.parent_of(chat)
        assert agent.name in (
            "invoke_agent analyst",
            "invoke_agent role_designer",
            "invoke_agent critic",
        )
        assert agent.attributes[TASK] == "count"
    # every span says which task it served: the run stands for the goal
    assert all(TASK in s.attributes for s in spans.all), [
        s.name for s in spans.all if TASK not in s.attributes
    ]
    for task_id in ("report", "facts", "count", "check", "prose"):
        [task_span] = [s for s in spans.named("task ") if s.attributes[TASK] == task_id]
        assert task_span.status.status_code is StatusCode.OK
        for span in spans.all:
            if span.name.startswith("invoke_agent") and span.attributes[TASK] == task_id:
                assert spans.parent_of(span) in (task_span, *spans.named("invoke_agent"))


async def test_titles_stay_out_of_span_names_without_content_capture(spans: Spans):
    team, _ = make_team(_three_levels(), tracing=spans.tracing())
    await run_collect(team, "write a report")
    assert {s.name for s in spans.named("task ")} == {
        "task report",
        "task facts",
        "task count",
        "task check",
        "task prose",
    }


async def test_a_retried_attempt_is_an_error_span_with_the_critics_reason(spans: Spans):
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor@a": ["thin", "thorough"],
        "critic@a": [verdict("retry", "too thin"), verdict("pass")],
        "critic@root": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(script, tracing=spans.tracing(capture_content=True))
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    first = spans.one("invoke_agent worker", **{TASK: "a", sc.ORCHESTRA_ATTEMPT: 1})
    second = spans.one("invoke_agent worker", **{TASK: "a", sc.ORCHESTRA_ATTEMPT: 2})
    assert first.status.status_code is StatusCode.ERROR
    assert "too thin" in (first.status.description or "")
    assert second.status.status_code is StatusCode.OK
    task = spans.one("task a: A")
    assert task.status.status_code is StatusCode.OK
    assert spans.parent_of(first) is task and spans.parent_of(second) is task
    verdicts = [e.attributes[sc.EVALUATION_SCORE_LABEL] for e in task.events]
    assert verdicts == ["retry", "pass"]


async def test_the_reason_of_a_retry_is_content(spans: Spans):
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor@a": ["thin", "thorough"],
        "critic@a": [verdict("retry", "too thin"), verdict("pass")],
        "critic@root": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(script, tracing=spans.tracing())
    await run_collect(team)
    first = spans.one("invoke_agent worker", **{TASK: "a", sc.ORCHESTRA_ATTEMPT: 1})
    assert first.status.status_code is StatusCode.ERROR
    assert "too thin" not in (first.status.description or "")


async def test_failed_skipped_and_replaced_tasks_end_their_spans_as_errors(spans: Spans):
    script = {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor@a": [""] * 16,
        "executor": "fine",
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(
        script,
        tracing=spans.tracing(),
        max_attempts=1,
        max_replans_per_node=0,
        on_failure="stop",
    )
    result, _ = await run_collect(team)
    assert result.status is RunStatus.FAILED
    failed = spans.one("task a")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes[sc.ORCHESTRA_TASK_STATUS] == "failed"
    skipped = spans.one("task b")
    assert skipped.status.status_code is StatusCode.ERROR
    assert skipped.attributes[sc.ORCHESTRA_TASK_STATUS] == "skipped"
    assert spans.parent_of(skipped) is spans.one("invoke_workflow orchestra-team")


async def test_a_replaced_task_ends_its_span_as_replaced(spans: Spans):
    script = {
        "planner": [plan(subtask("draft"))],
        "planner@draft": [plan(subtask("outline"), subtask("write", deps=["outline"]))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor": "fine",
        "critic@draft": [verdict("replan", "wrong approach")],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(script, tracing=spans.tracing())
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    replaced = spans.one("task draft")
    assert replaced.status.status_code is StatusCode.ERROR
    assert replaced.attributes[sc.ORCHESTRA_TASK_STATUS] == "replaced"
    replanner = spans.one("invoke_agent planner", **{TASK: "draft"})
    assert spans.parent_of(replanner) is replaced
    for new in ("outline", "write"):
        assert spans.one(f"task {new}").status.status_code is StatusCode.OK


async def test_hierarchy_events_land_on_their_task_spans(spans: Spans):
    with use_settings(spans.tracing().settings("t")):
        settings = current_settings()
        assert not settings.tracing_off()
        with run_span(team="t", run_id="r1", goal="g"):
            registry = current_task_spans()
            assert registry is not None
            for event in (
                TaskPlanned(run_id="r1", task_id="p", parent_id="root", title="P", depends_on=[]),
                TaskPlanned(run_id="r1", task_id="c", parent_id="p", title="C", depends_on=[]),
                LeadAssigned(run_id="r1", task_id="p", role="editor", designed=True),
                TaskFailed(run_id="r1", task_id="c", reason="no accepted result"),
                TaskEscalated(run_id="r1", task_id="p", from_task_id="c", reason="x", level=1),
                TaskDecomposed(run_id="r1", task_id="p", new_task_ids=["c3", "c4"]),
                TaskFinished(run_id="r1", task_id="p", result="done"),
            ):
                observe_event(event)
    parent = spans.one("task p")
    child = spans.one("task c")
    assert spans.parent_of(child) is parent
    assert parent.attributes[sc.ORCHESTRA_TASK_LEAD] == "editor"
    assert parent.attributes[sc.ORCHESTRA_TASK_KIND] == "inner"
    names = [e.name for e in parent.events]
    assert names == [sc.LEAD_EVENT, sc.ESCALATION_EVENT, sc.DECOMPOSITION_EVENT]
    escalation = parent.events[1]
    assert escalation.attributes["orchestra.escalation.from"] == "c"
    assert parent.status.status_code is StatusCode.OK
    assert child.status.status_code is StatusCode.ERROR


async def test_a_run_that_stops_early_closes_its_task_spans(spans: Spans):
    with use_settings(spans.tracing().settings("t")), run_span(team="t", run_id="r2", goal="g"):
        observe_event(
            TaskPlanned(run_id="r2", task_id="x", parent_id=None, title="X", depends_on=[])
        )
        registry = current_task_spans()
        assert registry is not None
        registry.span_for("x")
    [open_one] = spans.named("task x")
    assert open_one.attributes[sc.ORCHESTRA_TASK_STATUS] == "unfinished"
    assert open_one.end_time is not None
