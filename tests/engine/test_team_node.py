"""A team as a node of a user's own LangGraph graph."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import BaseModel

from orchestra import InputError, Team, tool
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict

SENT: list[str] = []


@tool(side_effects=True, requires_approval=True)
def send(text: str) -> str:
    """Send a message."""
    SENT.append(text)
    return "sent"


class Brief(BaseModel):
    title: str


class State(TypedDict, total=False):
    topic: str
    goal: str
    answer: Any
    run: str
    after: str


def _script(**extra: Any) -> dict[str, Any]:
    return {
        "planner": [plan(subtask("a", "Find facts"), subtask("b", "Write", deps=["a"]))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor": lambda call: f"{call.task_id} done",
        "critic": verdict("pass"),
        "synthesizer": '{"title": "Heat pumps"}',
        **extra,
    }


def _graph(team: Team[Any], saver: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("ask", lambda s: {"goal": f"Brief me on {s['topic']}"})
    builder.add_node("team", team.as_node(run_id_key="run"))
    builder.add_node("after", lambda s: {"after": f"got {s['answer'].title}"})
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "team")
    builder.add_edge("team", "after")
    builder.add_edge("after", END)
    return builder.compile(checkpointer=saver)


async def test_a_team_node_reads_the_goal_and_writes_its_typed_answer():
    model = ScriptedChatModel(_script())
    team = Team(model, output_type=Brief, name="briefer", history=False)
    saver = InMemorySaver()
    graph = _graph(team, saver)
    config = {"configurable": {"thread_id": "t1"}}
    custom: list[Any] = []
    async for mode, chunk in graph.astream(
        {"topic": "heat pumps"}, config, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            custom.append(chunk)
    state = (await graph.aget_state(config)).values
    assert state["answer"] == Brief(title="Heat pumps")
    assert state["after"] == "got Heat pumps"
    assert state["run"].startswith("t1/")
    assert "Brief me on heat pumps" in model.calls_for("planner")[0].prompt
    assert {"task_planned", "task_finished"} <= {e["type"] for e in custom}
    # the team's run is in the parent's checkpointer, named after the parent's thread
    assert [c async for c in saver.alist({"configurable": {"thread_id": state["run"]}})]


async def test_the_teams_approvals_are_the_parent_graphs_interrupts():
    SENT.clear()
    script = _script(
        role_designer=role_spec("mailer", "Send it.", ["send"]),
        **{
            "executor@b": lambda call: (
                "b sent it" if "sent" in call.prompt else tool_call("send", {"text": "hello"})
            )
        },
    )
    team = Team(
        ScriptedChatModel(script),
        tools=[send],
        output_type=Brief,
        name="mailer",  # the default checkpointer: SQLite in a home not made yet
        history=False,
    )
    saver = InMemorySaver()
    graph = _graph(team, saver)
    config = {"configurable": {"thread_id": "t2"}}
    await graph.ainvoke({"topic": "mail"}, config)
    snapshot = await graph.aget_state(config)
    [pending] = snapshot.interrupts
    [request] = pending.value["pending"]
    assert request["tool"] == "send" and not SENT
    await graph.ainvoke(Command(resume={"decision": "approve"}), config)  # not by request
    [again] = (await graph.aget_state(config)).interrupts
    assert "naming every pending request" in again.value["error"] and not SENT
    done = await graph.ainvoke(Command(resume={request["id"]: {"decision": "approve"}}), config)
    assert SENT == ["hello"]
    assert done["answer"] == Brief(title="Heat pumps") and done["after"] == "got Heat pumps"


async def test_a_goal_that_is_not_text_is_an_input_error():
    team = Team(ScriptedChatModel(_script()), name="briefer", history=False)
    builder = StateGraph(State)
    builder.add_node("team", team.as_node(goal="topic"))
    builder.add_edge(START, "team")
    graph = builder.compile(checkpointer=InMemorySaver())
    with pytest.raises(InputError, match="state\\['topic'\\] is not a text goal"):
        await graph.ainvoke({}, {"configurable": {"thread_id": "t3"}})
