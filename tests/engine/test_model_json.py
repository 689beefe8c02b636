"""Model JSON is read within a depth and size bound, into errors the repair loops handle.

Issue 19.22: a reply nested 100,000 levels deep raised ``RecursionError`` out of the JSON
decoder: no repair round, the run ended in an error, and with the critic a sibling's
finished work went down with it.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from orchestra import ModelBehaviorError, RunStatus, tool
from orchestra.core.approval import Approve
from orchestra.core.parsing import (
    MAX_JSON_CHARS,
    MAX_JSON_DEPTH,
    JSONBoundError,
    check_json_bounds,
    extract_json,
)
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, word_count

DEEP = 100_000
"""Nesting levels of the deep replies (far past Python's recursion limit)."""
DEEP_VERDICT = '{"verdict": ' + "[" * DEEP
OVERSIZED_VERDICT = '{"verdict": "pass", "reason": "' + "x" * MAX_JSON_CHARS + '"}'


def _nested(depth: int) -> list[object]:
    """A list nested ``depth`` levels deep, built without recursion."""
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_deep_or_oversized_json_is_a_bound_error_not_a_recursion_error():
    with pytest.raises(JSONBoundError, match=f"nested deeper than {MAX_JSON_DEPTH}"):
        extract_json('{"a": ' + "[" * DEEP)
    with pytest.raises(JSONBoundError, match="nested deeper"):  # parses, but too deep
        extract_json('{"a": ' + "[" * 200 + "]" * 200 + "}")
    with pytest.raises(JSONBoundError, match="characters long"):
        extract_json(OVERSIZED_VERDICT)
    with pytest.raises(JSONBoundError):
        check_json_bounds({"a": _nested(DEEP)})
    deepest_allowed = '{"a": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    assert extract_json(deepest_allowed)["a"] == _nested(MAX_JSON_DEPTH - 1)
    assert issubclass(JSONBoundError, ValueError)  # every parse-error handler catches it


TWO = {
    "planner": [plan(subtask("a"), subtask("b"))],
    "role_designer": role_spec("worker", "Do the task.", ["word_count"]),
    "executor": lambda call: f"{call.task_id} done",
    "critic": verdict("pass"),
    "synthesizer": "answer",
}


@pytest.mark.parametrize("bad", [DEEP_VERDICT, OVERSIZED_VERDICT], ids=["deep", "oversized"])
async def test_a_bad_critic_reply_gets_a_repair_round_and_the_sibling_is_kept(bad: str):
    script = TWO | {"critic@b": [bad, verdict("pass")]}
    team, model = make_team(script, checkpointer="memory")
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    assert result.tree.get("a").result == "a done" and result.tree.get("b").result == "b done"
    repair = model.calls_for("critic", "b")[1]
    assert "nested deeper" in repair.last or "characters long" in repair.last
    echoed = [m for m in repair.messages if isinstance(m, AIMessage)]
    assert len(echoed[-1].text) < 10_000  # the bad reply is not sent back whole


async def test_a_critic_that_stays_too_deep_ends_in_the_typed_error_or_the_fallback():
    script = TWO | {"critic@b": DEEP_VERDICT}
    team, _ = make_team(script, checkpointer="memory", fallbacks=True)
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED  # accepted unchecked, and said so
    assert any(n.kind == "critic_fallback" and n.task_id == "b" for n in result.notices)
    assert result.tree.get("a").result == "a done"

    team, _ = make_team(script, checkpointer="memory", fallbacks=False, max_repairs=1)
    with pytest.raises(ModelBehaviorError, match="nested deeper"):
        await team.arun("goal")


@pytest.mark.parametrize(
    "bad",
    ['{"tasks": ' + "[" * DEEP, json.dumps(TWO["planner"][0] | {"notes": "x" * MAX_JSON_CHARS})],
    ids=["deep", "oversized"],
)
async def test_a_bad_plan_gets_a_repair_round(bad: str):
    # an oversized reply is refused even when it holds a valid plan
    script = TWO | {"planner": [bad, *TWO["planner"]]}
    team, model = make_team(script, checkpointer="memory")
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    assert len(model.calls_for("planner")) == 2


async def test_a_plan_that_stays_too_deep_raises_planning_error_or_falls_back():
    script = TWO | {"planner": '{"tasks": ' + "[" * DEEP}
    team, _ = make_team(script, checkpointer="memory", fallbacks=False, max_repairs=1)
    with pytest.raises(ModelBehaviorError, match="nested deeper"):
        await team.arun("goal")
    team, _ = make_team(script, checkpointer="memory", fallbacks=True, max_repairs=1)
    result = await team.arun("goal")  # the fallback plan: the goal as one task
    assert result.status is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    "action",
    [
        '{"tool": "word_count", "args": {"text": ' + "[" * DEEP,
        '{"tool": "word_count", "args": {"text": "' + "x " * (MAX_JSON_CHARS // 2) + '"}}',
    ],
    ids=["deep", "oversized"],
)
async def test_bad_json_action_arguments_go_back_to_the_executor_as_a_failed_call(action: str):
    script = TWO | {"executor@a": [action, '{"final": "a done"}']}
    team, model = make_team(script, checkpointer="memory", native_tools=False)
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    assert result.tree.get("a").result == "a done"
    [call] = [c for c in result.tool_calls if c.task_id == "a"]
    assert not call.ok and "invalid tool call" in (call.error or "")
    second = model.calls_for("executor", "a")[1]
    assert isinstance(second.messages[-1], HumanMessage)
    assert "invalid tool call" in second.last


async def test_native_tool_call_arguments_nested_too_deep_go_back_as_a_failed_call():
    deep_call = tool_call("word_count", {"text": _nested(DEEP)}, call_id="deep")
    script = TWO | {"executor@a": [deep_call, "a done"]}
    team, model = make_team(script, checkpointer="memory")
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    [call] = [c for c in result.tool_calls if c.task_id == "a"]
    assert call.tool == "word_count" and not call.ok and "nested deeper" in (call.error or "")
    answer = model.calls_for("executor", "a")[1].messages[-1]
    assert isinstance(answer, ToolMessage) and answer.tool_call_id == "deep"


def test_integers_beyond_64_bits_are_a_bound_error():
    for fits in (2**64 - 1, -(2**63), 0):
        check_json_bounds({"n": [fits]})
    for past in (2**64, -(2**63) - 1):
        with pytest.raises(JSONBoundError, match=f"the number {past} is outside the integers"):
            check_json_bounds({"n": [past]})
    with pytest.raises(JSONBoundError, match="a number of about 1000 digits"):
        check_json_bounds(10**999)
    with pytest.raises(JSONBoundError, match="outside the integers"):
        extract_json('{"verdict": "pass", "score": 100000000000000000000000}')


@tool(requires_approval=True, side_effects=True)
def send(text: str) -> str:
    """Send a message."""
    return "sent"


@pytest.mark.parametrize("native", [True, False], ids=["native", "json-action"])
async def test_a_call_with_a_huge_integer_fails_back_to_the_model_and_the_run_can_pause(
    native: bool,
):
    # Python reads any integer, but a checkpoint stores 64-bit ones: the paused attempt's
    # conversation, with that call in it, failed the run where it was saved (TypeError)
    huge = 10**30
    executor = (
        [tool_call("word_count", {"text": huge}, call_id="big"), tool_call("send", {"text": "hi"})]
        if native
        else [
            json.dumps({"tool": "word_count", "args": {"text": huge}}),
            json.dumps({"tool": "send", "args": {"text": "hi"}}),
        ]
    )
    script = TWO | {
        "role_designer": role_spec("worker", "Do the task.", ["word_count", "send"]),
        "executor@a": [*executor, "a done" if native else '{"final": "a done"}'],
    }
    team, model = make_team(
        script, tools=[word_count, send], checkpointer="memory", native_tools=native
    )
    paused = await team.arun("goal", run_id="huge")
    assert paused.status is RunStatus.AWAITING_APPROVAL
    [failed] = [c for c in paused.tool_calls if c.task_id == "a"]
    assert not failed.ok and "the number 1000000000000000000000000000000" in (failed.error or "")
    done = await team.aresume("huge", decisions=Approve())
    assert done.status is RunStatus.SUCCEEDED and done.tree.get("a").result == "a done"
    told = model.calls_for("executor", "a")[1].messages[-1]
    assert "outside the integers" in str(told.content)


def test_raw_control_characters_inside_strings_are_read_as_themselves():
    assert extract_json('{"points": ["line one\nline two", "tab\there"]}') == {
        "points": ["line one\nline two", "tab\there"]
    }
