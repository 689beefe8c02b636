"""A team as a tool: for LangChain agents and for another team's executors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from orchestra import RunStatus, Team
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)
from tests.conftest import make_team


def _analysts(
    answer: str = "the market grew 4%", **overrides: object
) -> tuple[Team, ScriptedChatModel]:
    script: dict[str, object] = {
        "planner": plan(subtask("numbers"), subtask("trend", deps=["numbers"])),
        "role_designer": role_spec("analyst", "Analyse.", []),
        "executor": lambda call: f"{call.task_id} found",
        "critic": verdict("pass"),
        "synthesizer": answer,
    }
    script.update(overrides)
    model = ScriptedChatModel(script)
    return Team(model, name="market analysts", checkpointer="memory", history=False), model


async def test_a_team_is_a_langchain_tool_that_returns_its_answer_and_run():
    team, model = _analysts()
    as_tool = team.as_tool()
    assert as_tool.name == "ask_market_analysts"
    assert "market analysts" in as_tool.description
    assert list(as_tool.args) == ["goal"]  # the idempotency key is not the model's to give
    out = await as_tool.ainvoke({"goal": "How did the market do?"})
    assert out.startswith("the market grew 4%") and "succeeded" in out
    [planner] = model.calls_for("planner")
    assert "How did the market do?" in planner.prompt
    # from a model's tool call, as a LangGraph ToolNode makes it
    message = await as_tool.ainvoke(
        {"name": as_tool.name, "args": {"goal": "And next year?"}, "id": "c1", "type": "tool_call"}
    )
    assert isinstance(message, ToolMessage) and "the market grew 4%" in message.content


def _tool_graph(as_tool: BaseTool) -> Any:
    """A plain LangGraph graph whose only node is a ``ToolNode`` (as an agent's)."""
    builder = StateGraph(MessagesState)
    builder.add_node("tools", ToolNode([as_tool]))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    return builder.compile()


def _failing() -> Team:
    return _analysts(**{"executor": "", "critic": verdict("retry", "empty")})[0]


async def test_a_run_without_an_answer_is_an_error_the_calling_model_reads():
    as_tool = _failing().as_tool()
    said = await as_tool.ainvoke({"goal": "How did the market do?"})
    assert re.match(r"the team's run \S+ ended failed", said)
    # in a plain LangGraph agent's tool node: an error message, not a crashed agent
    call = {"name": as_tool.name, "args": {"goal": "And next year?"}, "id": "c1"}
    out = await _tool_graph(as_tool).ainvoke({"messages": [AIMessage("", tool_calls=[call])]})
    message = out["messages"][-1]
    assert message.status == "error" and "ended failed" in message.content


def _delegating(tool_name: str, then: Callable[[str], str]) -> dict[str, Any]:
    """An editors' team whose executor asks ``tool_name`` once, then answers ``then(answer)``."""

    def executor(call: ScriptedCall) -> object:
        done = [m for m in call.messages if m.type == "tool"]
        if done:
            return then(str(done[-1].content))
        return tool_call(tool_name, {"goal": "How did the market do?"})

    return {
        "planner": [plan(subtask("brief"))],
        "role_designer": role_spec("editor", "Write briefs.", [tool_name]),
        "executor": executor,
        "critic": verdict("pass"),
        "synthesizer": "brief written",
    }


async def test_in_another_team_a_run_without_an_answer_is_a_failed_call():
    delegate = _failing().as_tool()
    script = _delegating(delegate.name, lambda _: "the analysts could not say")
    parent, _ = make_team(script, tools=[delegate], name="editors")
    result = await parent.arun("Write a market brief")
    [call] = result.tool_calls
    assert not call.ok and "ended failed" in (call.error or "")


def test_the_tool_runs_from_synchronous_code_too():
    team, _ = _analysts()
    as_tool = team.as_tool()
    assert as_tool.invoke({"goal": "How did the market do?"}).startswith("the market grew 4%")
    call = {"name": as_tool.name, "args": {"goal": "And next year?"}, "id": "c1"}
    out = _tool_graph(as_tool).invoke({"messages": [AIMessage("", tool_calls=[call])]})
    assert "the market grew 4%" in out["messages"][-1].content
    failed = _tool_graph(_failing().as_tool()).invoke(
        {"messages": [AIMessage("", tool_calls=[call])]}
    )
    assert failed["messages"][-1].status == "error"


async def test_the_synchronous_tool_works_from_a_thread_whose_event_loop_runs():
    team, _ = _analysts()
    assert team.as_tool().invoke({"goal": "How?"}).startswith("the market grew 4%")


async def test_another_teams_executor_delegates_to_the_team_and_a_resume_never_asks_twice():
    analysts, sub_model = _analysts()
    delegate = analysts.as_tool()
    script = _delegating(delegate.name, lambda answer: f"report based on: {answer}")
    parent, _ = make_team(script, tools=[delegate], name="editors")
    result = await parent.arun("Write a market brief", run_id="brief-run")
    assert result.status is RunStatus.SUCCEEDED
    assert "the market grew 4%" in (result.tree.get("brief").result or "")
    [call] = result.tool_calls
    assert call.tool == delegate.name and call.ok and call.side_effects
    assert len(sub_model.calls_for("planner")) == 1

    # the same call (same idempotency key) again: the sub-team's run is not repeated
    again = (
        await delegate.ainvoke({"goal": "How did the market do?", "key": call.key})
        if "key" in delegate.args
        else None
    )
    assert again is None or len(sub_model.calls_for("planner")) == 1
