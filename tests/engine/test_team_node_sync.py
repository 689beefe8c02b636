"""A team node from synchronous code (``graph.invoke``), and resuming team nodes."""

from __future__ import annotations

import sqlite3
from typing import Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from orchestra import Team
from orchestra.testing import ScriptedChatModel, role_spec, tool_call
from tests.engine.test_team_node import SENT, Brief, _graph, _script, send


def _mailer(name: str = "mailer", *, approve_plan: bool = False) -> Team[Any]:
    script = _script(
        role_designer=role_spec("mailer", "Send it.", ["send"]),
        **{
            "executor@b": lambda call: (
                "b sent it" if "sent" in call.prompt else tool_call("send", {"text": "hello"})
            )
        },
    )
    return Team(
        ScriptedChatModel(script),
        tools=[send],
        output_type=Brief,
        name=name,
        checkpointer="memory",
        history=False,
        approve_plan=approve_plan,
    )


def test_graph_invoke_runs_the_team_and_resumes_it_through_its_interrupt():
    SENT.clear()
    saver = SqliteSaver(sqlite3.connect(":memory:", check_same_thread=False))  # sync only
    graph = _graph(_mailer(), saver)
    config = {"configurable": {"thread_id": "s1"}}
    graph.invoke({"topic": "mail"}, config)
    [waiting] = graph.get_state(config).interrupts
    [request] = waiting.value["pending"]
    assert request["tool"] == "send" and not SENT
    custom: list[Any] = []
    resume = Command(resume={request["id"]: {"decision": "approve"}})
    for mode, chunk in graph.stream(resume, config, stream_mode=["custom", "updates"]):
        if mode == "custom":
            custom.append(chunk)
    state = graph.get_state(config).values
    assert SENT == ["hello"] and state["after"] == "got Heat pumps"
    assert "task_finished" in {e["type"] for e in custom}


async def test_graph_invoke_works_also_from_a_thread_whose_event_loop_runs():
    team = Team(ScriptedChatModel(_script()), output_type=Brief, name="briefer", history=False)
    graph = _graph(team, InMemorySaver())
    done = graph.invoke({"topic": "heat pumps"}, {"configurable": {"thread_id": "s2"}})
    assert done["after"] == "got Heat pumps"


async def test_a_resume_naming_an_unknown_request_says_so_and_a_right_one_goes_on():
    SENT.clear()
    graph = _graph(_mailer(), InMemorySaver())
    config = {"configurable": {"thread_id": "s3"}}
    await graph.ainvoke({"topic": "mail"}, config)
    [waiting] = (await graph.aget_state(config)).interrupts
    [request] = waiting.value["pending"]
    await graph.ainvoke(Command(resume={"nope": {"decision": "approve"}}), config)
    [again] = (await graph.aget_state(config)).interrupts
    assert "'nope'" in again.value["error"] and request["id"] in again.value["error"]
    assert again.value["pending"] == waiting.value["pending"] and not SENT
    done = await graph.ainvoke(Command(resume={request["id"]: {"decision": "approve"}}), config)
    assert SENT == ["hello"] and done["after"] == "got Heat pumps"


class Pair(TypedDict, total=False):
    goal: str
    one: Any
    two: Any


def _pair(*, approve_plan: bool = False) -> Any:
    builder = StateGraph(Pair)
    builder.add_node("one", _mailer("one", approve_plan=approve_plan).as_node(output="one"))
    builder.add_node("two", _mailer("two", approve_plan=approve_plan).as_node(output="two"))
    builder.add_edge(START, "one")
    builder.add_edge(START, "two")
    builder.add_edge("one", END)
    builder.add_edge("two", END)
    return builder.compile(checkpointer=InMemorySaver())


def _approved(waiting: Any) -> dict[str, Any]:
    return {r["id"]: {"decision": "approve"} for r in waiting.value["pending"]}


async def test_two_team_nodes_waiting_at_once_resume_by_interrupt_id():
    """The example of docs/serving.md: each interrupt's id to its own decisions."""
    SENT.clear()
    graph = _pair()
    config = {"configurable": {"thread_id": "s4"}}
    await graph.ainvoke({"goal": "mail"}, config)
    waiting = (await graph.aget_state(config)).interrupts
    assert len(waiting) == 2
    resume = {w.id: {r["id"]: {"decision": "approve"} for r in w.value["pending"]} for w in waiting}
    done = await graph.ainvoke(Command(resume=resume), config)
    assert done["one"] == done["two"] == Brief(title="Heat pumps")
    assert SENT == ["hello", "hello"]


async def test_an_earlier_rounds_answer_is_no_error_when_a_sibling_is_resumed():
    SENT.clear()
    graph = _pair(approve_plan=True)
    config = {"configurable": {"thread_id": "s5"}}
    await graph.ainvoke({"goal": "mail"}, config)
    plans = (await graph.aget_state(config)).interrupts
    assert [w.value["pending"][0]["kind"] for w in plans] == ["plan", "plan"]
    await graph.ainvoke(Command(resume={w.id: _approved(w) for w in plans}), config)
    calls = (await graph.aget_state(config)).interrupts
    assert [w.value["pending"][0]["kind"] for w in calls] == ["tool_call", "tool_call"]
    assert [w.value.get("error") for w in calls] == [None, None]
    first, second = calls
    await graph.ainvoke(Command(resume={first.id: _approved(first)}), config)
    [left] = (await graph.aget_state(config)).interrupts  # the other node ran again
    assert left.value["pending"] == second.value["pending"] and left.value["error"] is None
    assert SENT == ["hello"]
