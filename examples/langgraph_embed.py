"""A team as one node of your own LangGraph graph, with an approval as the graph's interrupt.

    python examples/langgraph_embed.py

The graph: ``draft_goal`` writes the team's goal into the state, ``briefing`` is the team
(``team.as_node()``: goal in, typed answer out), ``publish`` uses the answer. The team's
executor wants to call ``send_email`` (a tool that needs approval): the graph stops with
that request as its interrupt, and ``Command(resume={request_id: {"decision": "approve"}})``
goes on, under the same thread, with the graph's own checkpointer. The model is scripted
(``orchestra.testing``) so it runs the same way every time, offline; give the team any
model instead (``Team("openai:gpt-4.1-mini", ...)``).
"""

from __future__ import annotations

import asyncio
from typing import TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import BaseModel

from orchestra import Team, tool
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict


class Briefing(BaseModel):
    """The team's answer, typed."""

    title: str
    points: list[str]


@tool(side_effects=True, requires_approval=True)
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


SCRIPT = {
    "planner": [plan(subtask("facts", "Collect facts"), subtask("mail", "Mail the team"))],
    "role_designer": role_spec("assistant", "Do the task.", ["send_email"]),
    "executor@facts": "heat pumps cut running costs; old houses need insulation first",
    "executor@mail": lambda call: (
        "the team was told"
        if "sent to" in call.prompt
        else tool_call("send_email", {"to": "team@example.com", "body": "briefing coming"})
    ),
    "critic": verdict("pass"),
    "synthesizer": '{"title": "Heat pumps", "points": ["cheaper to run", "insulate first"]}',
}

team = Team(
    ScriptedChatModel(SCRIPT),
    tools=[send_email],
    output_type=Briefing,
    name="briefing-team",
    checkpointer="memory",
    history=False,
)


class State(TypedDict, total=False):
    topic: str
    goal: str
    answer: Briefing
    published: str


def build() -> object:
    """The graph, with the team as its ``briefing`` node."""
    builder = StateGraph(State)
    builder.add_node("draft_goal", lambda s: {"goal": f"Brief me on {s['topic']}"})
    builder.add_node("briefing", team.as_node())  # state["goal"] in, state["answer"] out
    builder.add_node("publish", lambda s: {"published": f"# {s['answer'].title}"})
    builder.add_edge(START, "draft_goal")
    builder.add_edge("draft_goal", "briefing")
    builder.add_edge("briefing", "publish")
    builder.add_edge("publish", END)
    return builder.compile(checkpointer=InMemorySaver())


async def main() -> None:
    graph = build()
    config = {"configurable": {"thread_id": "example"}}
    await graph.ainvoke({"topic": "heat pumps for old houses"}, config)  # type: ignore[attr-defined]
    [waiting] = (await graph.aget_state(config)).interrupts  # type: ignore[attr-defined]
    [request] = waiting.value["pending"]
    print(f"the team asks: {request['summary']}")
    done = await graph.ainvoke(  # type: ignore[attr-defined]
        Command(resume={request["id"]: {"decision": "approve"}}), config
    )
    print(f"approved; answer: {done['answer']!r}")
    print(f"published: {done['published']}")


if __name__ == "__main__":
    asyncio.run(main())
