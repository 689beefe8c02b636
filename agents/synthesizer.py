"""The synthesizer agent: the final answer from the finished tree."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from orchestra.agents.calls import AgentCall, ask, message_text
from orchestra.agents.prompts import render
from orchestra.core.tree import ROOT_ID, TaskTree

__all__ = ["synthesize"]


async def synthesize(model: BaseChatModel, tree: TaskTree) -> str:
    """Combine the results of the top-level tasks into the answer to the goal."""
    sections = [
        f"## {n.title} ({n.id})\n{n.result}"
        for n in tree.children(ROOT_ID, live_only=True)
        if n.result is not None
    ]
    human = f"Goal: {tree.goal}\n\nResults:\n\n" + "\n\n".join(sections)
    reply = await ask(
        model,
        [SystemMessage(content=render("synthesizer")), HumanMessage(content=human)],
        AgentCall(agent="synthesizer", task_id=ROOT_ID),
    )
    return message_text(reply).strip()
