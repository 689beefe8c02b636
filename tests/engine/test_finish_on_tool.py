"""``Role(finish_on_tool=...)``: a task one tool call answers costs one executor call."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from pydantic import ValidationError

from orchestra import Role
from orchestra.testing import ScriptedCall, plan, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect, word_count


@tool
def lookup(city: str) -> str:
    """The population of a city."""
    if city == "nowhere":
        raise ValueError("no such city")
    return f"{city}: 3.6 million"


def _executor_calls(model: Any) -> list[ScriptedCall]:
    return [c for c in model.calls if c.agent == "executor"]


def _script(executor: Any) -> dict[str, Any]:
    return {
        "planner": [plan(subtask("a", "Population of Berlin", role="clerk"))],
        "executor": executor,
        "critic": verdict("pass"),
        "synthesizer": "done",
    }


def _team(script: dict[str, Any], finish_on_tool: Any) -> Any:
    role = Role(
        name="clerk",
        instructions="Look it up.",
        tools=["lookup", "word_count"],
        finish_on_tool=finish_on_tool,
    )
    return make_team(script, roles=[role], tools=[lookup, word_count])


def _calls_lookup(call: ScriptedCall) -> Any:
    if any(isinstance(m, ToolMessage) for m in call.messages):
        return "Berlin has 3.6 million people."
    return tool_call("lookup", {"city": "Berlin"})


async def test_the_tool_result_is_the_answer_and_no_second_call_is_made():
    team, model = _team(_script(_calls_lookup), True)
    result, events = await run_collect(team)
    assert result.succeeded
    assert result.tree.get("a").result == "Berlin: 3.6 million"
    assert len(_executor_calls(model)) == 1
    # the critic still judged the tool's result
    judged = [c for c in model.calls if c.agent == "critic" and c.task_id == "a"]
    assert judged and "Berlin: 3.6 million" in judged[0].prompt
    assert result.tree.get("a").usage.model_calls == 2  # executor + critic


async def test_without_it_the_executor_answers_after_the_tool():
    team, model = _team(_script(_calls_lookup), False)
    result, _ = await run_collect(team)
    assert result.tree.get("a").result == "Berlin has 3.6 million people."
    assert len(_executor_calls(model)) == 2


async def test_only_the_named_tools_finish():
    def counts_then_looks_up(call: ScriptedCall) -> Any:
        answered = sum(isinstance(m, ToolMessage) for m in call.messages)
        if answered == 0:
            return tool_call("word_count", {"text": "Berlin"})
        if answered == 1:
            return tool_call("lookup", {"city": "Berlin"})
        return "should not be asked"

    team, model = _team(_script(counts_then_looks_up), ["lookup"])
    result, _ = await run_collect(team)
    assert result.tree.get("a").result == "Berlin: 3.6 million"
    assert len(_executor_calls(model)) == 2  # word_count did not finish the task


async def test_a_failed_call_does_not_finish():
    def fails_then_answers(call: ScriptedCall) -> Any:
        if any(isinstance(m, ToolMessage) for m in call.messages):
            return "No data for that city."
        return tool_call("lookup", {"city": "nowhere"})

    team, model = _team(_script(fails_then_answers), True)
    result, _ = await run_collect(team)
    assert result.tree.get("a").result == "No data for that city."
    assert len(_executor_calls(model)) == 2


def test_finish_on_tool_names_must_be_the_roles_tools():
    with pytest.raises(ValidationError, match="does not have"):
        Role(name="clerk", instructions="x", tools=["lookup"], finish_on_tool=["search"])
    with pytest.raises(ValidationError, match="needs tools"):
        Role(name="clerk", instructions="x", finish_on_tool=True)
    spec = Role(name="clerk", instructions="x", tools=["lookup"], finish_on_tool="lookup").spec()
    assert spec.finish_on_tool == ("lookup",)
    assert spec.finishes_with("lookup") and not spec.finishes_with("other")
