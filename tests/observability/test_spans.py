"""The span tree of a run: what a tracing dashboard receives."""

from __future__ import annotations

import json

from opentelemetry.trace import SpanKind, StatusCode

from orchestra import RunStatus, tool
from orchestra.core.approval import Approve
from orchestra.observability import semconv as sc
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect
from tests.observability.conftest import Spans

TASK = "orchestra.task.id"


def _script() -> dict[str, object]:
    return {
        "planner": [
            plan(
                subtask("research", subtasks=[subtask("a"), subtask("b", deps=["a"])]),
                subtask("write", deps=["research"]),
            )
        ],
        "role_designer": role_spec("analyst", "Analyse.", ["word_count"]),
        "executor@a": [tool_call("word_count", {"text": "one two three"}), "three words"],
        "executor@b": ["b done"],
        "executor@write": ["written"],
        "lead@research": ["a and b, integrated"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }


async def test_a_run_is_one_trace_with_agent_chat_and_tool_spans(spans: Spans):
    team, _ = make_team(_script(), tracing=spans.tracing(), name="writers")
    result, _ = await run_collect(team, "write a report")
    assert result.status is RunStatus.SUCCEEDED

    # the whole tree: run, planner, synthesizer, a span per task (3 leaves and their
    # group), one role designer for the plan's leaves, per leaf executor + critic, the
    # group's lead designer + lead + critic, the critic on the answer, one chat span per
    # model call, a tool span
    assert len(spans.all) == 3 + 4 + 1 + 3 * 2 + 3 + 1 + result.usage.model_calls + 1
    run = spans.one("invoke_workflow writers")
    assert run.parent is None
    assert {s.context.trace_id for s in spans.all} == {run.context.trace_id}
    assert run.attributes[sc.OPERATION_NAME] == "invoke_workflow"
    assert run.attributes[sc.CONVERSATION_ID] == result.run_id
    assert run.attributes["orchestra.run.status"] == "succeeded"
    assert run.attributes["orchestra.usage.model_calls"] == result.usage.model_calls

    planner = spans.one("invoke_agent planner", **{TASK: "root"})
    assert spans.parent_of(planner) is run
    assert planner.attributes[sc.AGENT_NAME] == "planner"

    # the task tree as spans: run -> research -> a, b; run -> write
    task_span = {t: spans.one(f"task {t}") for t in ("research", "a", "b", "write")}
    assert spans.parent_of(task_span["research"]) is run
    assert spans.parent_of(task_span["write"]) is run
    assert spans.parent_of(task_span["a"]) is task_span["research"]
    assert spans.parent_of(task_span["b"]) is task_span["research"]
    for task_id, span in task_span.items():
        assert span.attributes[TASK] == task_id
        assert span.status.status_code is StatusCode.OK
        assert span.attributes["orchestra.task.status"] == "done"
    assert task_span["a"].attributes["orchestra.task.depth"] == 2
    assert run.attributes[TASK] == "root"

    # one role designer span for the plan's leaves, on the goal like the planner's
    designer = spans.one("invoke_agent role_designer", **{TASK: "root"})
    assert spans.parent_of(designer) is run
    assert designer.attributes["orchestra.design.tasks"] == ("a", "b", "write")
    # every leaf: an executor span named after the role, a critic inside, all in the
    # leaf's task span
    for leaf, parent, depth in (("a", "research", 2), ("b", "research", 2), ("write", "root", 1)):
        executor = spans.one("invoke_agent analyst", **{TASK: leaf})
        assert spans.parent_of(executor) is task_span[leaf]
        assert executor.status.status_code is StatusCode.OK
        assert executor.kind is SpanKind.INTERNAL
        assert executor.attributes["orchestra.task.parent_id"] == parent
        assert executor.attributes["orchestra.task.depth"] == depth
        assert executor.attributes["orchestra.task.role"] == "analyst"
        assert executor.attributes["orchestra.task.status"] == "done"
        assert executor.attributes["orchestra.task.attempt"] == 1
        critic = spans.one("invoke_agent critic", **{TASK: leaf})
        assert spans.parent_of(critic) is executor
        [evaluation] = [e for e in critic.events if e.name == "gen_ai.evaluation.result"]
        assert evaluation.attributes[sc.EVALUATION_SCORE_LABEL] == "pass"

    # model calls: chat spans under the agent that made them, with usage
    chats = spans.named("chat ")
    assert len(chats) == result.usage.model_calls
    for chat in chats:
        assert chat.kind is SpanKind.CLIENT
        assert chat.attributes[sc.PROVIDER_NAME] == "orchestra_scripted"
        assert chat.attributes[sc.USAGE_INPUT_TOKENS] > 0
        assert spans.parent_of(chat).name.startswith("invoke_agent ")
        assert chat.attributes[TASK] == spans.parent_of(chat).attributes[TASK]
    assert sum(c.attributes[sc.USAGE_INPUT_TOKENS] for c in chats) == result.usage.input_tokens

    tool_span = spans.one("execute_tool word_count")
    assert spans.parent_of(tool_span) is spans.one("invoke_agent analyst", **{TASK: "a"})
    assert tool_span.attributes[sc.TOOL_NAME] == "word_count"
    assert tool_span.attributes[TASK] == "a"
    assert tool_span.attributes["orchestra.tool.ok"] is True
    assert tool_span.attributes[sc.TOOL_CALL_ID]

    synth = spans.one("invoke_agent synthesizer")
    assert spans.parent_of(synth) is run

    # the group's lead: designed, then integrating inside the group's span, judged inside
    lead = spans.one("invoke_agent analyst", **{TASK: "research"})
    assert lead.attributes["orchestra.agent"] == "lead"
    assert spans.parent_of(lead) is task_span["research"]
    assert lead.status.status_code is StatusCode.OK
    critic = spans.one("invoke_agent critic", **{TASK: "research"})
    assert spans.parent_of(critic) is lead


async def test_content_stays_off_the_spans_unless_the_user_opts_in(spans: Spans):
    team, _ = make_team(_script(), tracing=spans.tracing())
    await run_collect(team, "write a report about zebras")
    content_keys = {
        sc.INPUT_MESSAGES,
        sc.OUTPUT_MESSAGES,
        sc.TOOL_CALL_ARGUMENTS,
        sc.TOOL_CALL_RESULT,
        sc.ORCHESTRA_GOAL,
        sc.ORCHESTRA_TASK_TITLE,
        sc.ORCHESTRA_TASK_OUTPUT,
        sc.OPENINFERENCE_INPUT,
        sc.OPENINFERENCE_OUTPUT,
    }
    for span in spans.all:
        assert not content_keys & set(span.attributes), span.name
        assert "zebras" not in json.dumps(dict(span.attributes))
        for event in span.events:
            assert sc.EVALUATION_EXPLANATION not in event.attributes


async def test_opted_in_content_is_on_the_spans(spans: Spans):
    team, _ = make_team(_script(), tracing=spans.tracing(capture_content=True))
    await run_collect(team, "write a report about zebras")
    assert spans.one("invoke_workflow orchestra-team").attributes[sc.ORCHESTRA_GOAL] == (
        "write a report about zebras"
    )
    planner_chat = next(
        s for s in spans.named("chat ") if spans.parent_of(s).name == "invoke_agent planner"
    )
    messages = json.loads(planner_chat.attributes[sc.INPUT_MESSAGES])
    assert [m["role"] for m in messages][:2] == ["system", "user"]
    assert "zebras" in json.dumps(messages)
    output = json.loads(planner_chat.attributes[sc.OUTPUT_MESSAGES])
    assert output[0]["role"] == "assistant"
    tool_span = spans.one("execute_tool word_count")
    assert json.loads(tool_span.attributes[sc.TOOL_CALL_ARGUMENTS]) == {"text": "one two three"}
    assert tool_span.attributes[sc.TOOL_CALL_RESULT] == "3"
    # an executor's span: its task in, its answer out (Phoenix's input and output panes)
    executor = spans.one("invoke_agent analyst", **{TASK: "a"})
    assert executor.attributes[sc.OPENINFERENCE_INPUT] == "A\n\nDo a."
    assert executor.attributes[sc.OPENINFERENCE_OUTPUT] == "three words"
    assert (
        spans.one("invoke_agent analyst", **{TASK: "a"}).attributes[sc.ORCHESTRA_TASK_OUTPUT]
        == "three words"
    )


async def test_secrets_are_redacted_with_or_without_content(spans: Spans):
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    marked = "the-launch-code-4711"

    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return f"found it; api_key={marked}x and {secret}"

    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("analyst", "Analyse.", ["lookup"]),
        "executor@a": [tool_call("lookup", {"q": marked}), f"key is {secret}"],
        "executor@b": ["fine"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, _ = make_team(
        script, tools=[lookup], tracing=spans.tracing(capture_content=True, redact=[marked])
    )
    await run_collect(team, f"use {marked} with token={secret}")
    dumped = json.dumps(
        [{"a": dict(s.attributes), "e": [dict(e.attributes) for e in s.events]} for s in spans.all]
    )
    assert secret not in dumped and marked not in dumped
    assert "[REDACTED]" in dumped


async def test_replans_and_failed_attempts_show_on_the_spans(spans: Spans):
    script = {
        "planner": [plan(subtask("draft"), subtask("other"))],
        "planner@draft": [plan(subtask("outline"), subtask("write", deps=["outline"]))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor@draft": ["bad draft"],
        "executor": "fine",
        "critic@draft": [verdict("replan", "wrong approach")],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(script, tracing=spans.tracing(capture_content=True))
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    draft = spans.one("invoke_agent worker", **{TASK: "draft"})
    assert draft.attributes["orchestra.task.status"] == "replan"
    [evaluation] = [e for e in spans.one("invoke_agent critic", **{TASK: "draft"}).events]
    assert evaluation.attributes[sc.EVALUATION_SCORE_LABEL] == "replan"
    assert evaluation.attributes[sc.EVALUATION_EXPLANATION] == "wrong approach"
    replanner = spans.one("invoke_agent planner", **{TASK: "draft"})
    [event] = [e for e in replanner.events if e.name == "orchestra.replan"]
    assert event.attributes["orchestra.replan.reason"] == "wrong approach"
    for new in ("outline", "write"):
        span = spans.one("invoke_agent worker", **{TASK: new})
        assert span.attributes["orchestra.task.parent_id"] == "root"


async def test_a_failing_run_marks_its_span_and_an_error_is_recorded(spans: Spans):
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor@a": [""] * 16,
        "executor": "fine",
        "critic": verdict("pass"),
    }
    team, _ = make_team(
        script, tracing=spans.tracing(), max_attempts=1, max_replans=0, on_failure="stop"
    )
    result, _ = await run_collect(team)
    assert result.status is RunStatus.FAILED
    run = spans.one("invoke_workflow orchestra-team")
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["orchestra.run.status"] == "failed"
    failed = spans.one("invoke_agent worker", **{TASK: "a"})
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["orchestra.task.status"] == "failed"


async def test_a_refused_tool_call_is_an_error_span(spans: Spans):
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor@a": [tool_call("word_count", {"text": "x"}), "done anyway"],
        "executor": "fine",
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(script, tracing=spans.tracing())
    await run_collect(team)
    span = spans.one("execute_tool word_count")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "refused"


async def test_without_configuration_nothing_is_recorded():
    team, _ = make_team(_script())
    from opentelemetry import trace

    recorded: list[bool] = []

    @tool
    def probe() -> str:
        """Report whether the current span records."""
        recorded.append(trace.get_current_span().is_recording())
        return "ok"

    script = _script()
    script["executor@a"] = [tool_call("probe", {}), "done"]
    script["role_designer"] = role_spec("analyst", "Analyse.", ["probe"])
    team, _ = make_team(script, tools=[probe])
    await run_collect(team)
    assert recorded == [False]


async def test_an_approval_pause_shows_on_the_spans_and_is_not_an_error(spans: Spans):
    @tool(requires_approval=True)
    def publish(text: str) -> str:
        """Publish a text."""
        return "published"

    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("writer", "Do the task.", ["publish"]),
        "executor@a": lambda call: (
            "published" if call.messages[-1].type == "tool" else tool_call("publish", {"text": "x"})
        ),
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, _ = make_team(script, tools=[publish], tracing=spans.tracing())
    paused = await team.arun("goal", run_id="traced-pause")
    assert paused.status is RunStatus.AWAITING_APPROVAL
    run_span = spans.one("invoke_workflow orchestra-team")
    assert run_span.attributes[sc.ORCHESTRA_RUN_STATUS] == "awaiting_approval"
    assert run_span.status.status_code is not StatusCode.ERROR
    waiting = spans.one("invoke_agent writer", **{TASK: "a"})
    assert waiting.attributes[sc.ORCHESTRA_TASK_STATUS] == "waiting"
    assert not spans.named("execute_tool")  # the call waits; nothing ran

    await team.aresume("traced-pause", decisions=Approve())
    assert len(spans.named("invoke_workflow")) == 2  # the resume is a trace of its own
    assert spans.one("execute_tool publish").status.status_code is not StatusCode.ERROR


async def test_a_loop_guard_shows_on_the_spans(spans: Spans):
    script = {
        "planner": [plan(subtask("b"))],
        "role_designer": role_spec("counter", "Do the task.", ["word_count"]),
        "executor@b": lambda call: tool_call("word_count", {"text": "x"}),
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, _ = make_team(script, tracing=spans.tracing(), max_identical_tool_calls=1)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.FAILED
    looped = spans.one("invoke_agent counter", **{TASK: "b"})
    assert looped.attributes["orchestra.guard"] == "repeated_tool_call"
    assert looped.status.status_code is StatusCode.ERROR
    assert "word_count was called 1 times" in (looped.status.description or "")
    notices = [e for s in spans.all for e in s.events if e.name == "orchestra.notice"]
    kinds = [e.attributes["orchestra.notice.kind"] for e in notices]
    assert kinds == ["loop_stopped", "branch_given_up"]
    assert notices[0].attributes[TASK] == "b"
