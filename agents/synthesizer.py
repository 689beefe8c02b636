"""The synthesizer agent: the final answer from the finished tree."""

from __future__ import annotations

from typing import TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from orchestra.agents.calls import (
    AgentCall,
    ask,
    ask_structured,
    message_text,
    structured_runnable,
)
from orchestra.agents.prompts import render
from orchestra.core.branches import missing_note, partial_digest
from orchestra.core.output_types import OutputSpec
from orchestra.core.record import MissingTask
from orchestra.core.tree import ROOT_ID, TaskTree

__all__ = ["results_digest", "synthesize", "synthesize_typed"]

T = TypeVar("T")


def results_digest(tree: TaskTree) -> str:
    """The results of the top-level tasks, one titled section each."""
    return "\n\n".join(
        f"## {n.title} ({n.id})\n{n.result}"
        for n in tree.children(ROOT_ID, live_only=True)
        if n.result is not None
    )


async def synthesize(
    model: BaseChatModel,
    tree: TaskTree,
    *,
    max_repairs: int = 1,
    missing: list[MissingTask] | None = None,
    feedback: str | None = None,
) -> str | None:
    """Combine the results of the top-level tasks into the answer to the goal.

    With ``missing`` (a partial run: branches given up), the answer is built from what
    succeeded, and the prompt lists what is missing and why so the answer can say so.
    Returns None when the model's reply stays empty after ``max_repairs`` reminders; the
    caller decides what to do instead (the engine falls back to :func:`results_digest`).
    ``feedback``: why the critic rejected the previous answer, to write a better one.
    """
    messages = _messages(tree, missing, feedback)
    call = AgentCall(agent="synthesizer", task_id=ROOT_ID)
    for _ in range(max_repairs + 1):
        answer = message_text(await ask(model, messages, call)).strip()
        if answer:
            return answer
        messages += [
            AIMessage(content=""),
            HumanMessage(content="Your reply was empty. Answer the goal."),
        ]
    return None


async def synthesize_typed(
    model: BaseChatModel,
    tree: TaskTree,
    output: OutputSpec[T],
    *,
    max_repairs: int = 2,
    missing: list[MissingTask] | None = None,
    feedback: str | None = None,
) -> T:
    """The answer to the goal as a value of ``output``'s type (see :func:`synthesize`).

    The synthesizer answers under the type's JSON schema (grammar-constrained on the
    embedded model); the reply is validated and repaired up to ``max_repairs`` times.

    Raises:
        ModelBehaviorError: the reply stayed invalid; it carries every raw reply.
    """
    constrained = structured_runnable(model, output.json_schema) is not None
    shown = output.instructions(constrained=constrained)
    messages = _messages(tree, missing, feedback, output=shown)
    call = AgentCall(agent="synthesizer", task_id=ROOT_ID)
    reply = await ask_structured(model, messages, output.reply_model, call, max_repairs=max_repairs)
    return output.value_of(reply)


def _messages(
    tree: TaskTree,
    missing: list[MissingTask] | None,
    feedback: str | None,
    *,
    output: str | None = None,
) -> list[BaseMessage]:
    digest = partial_digest(tree) if missing else results_digest(tree)
    gaps = (
        f"\n\n{missing_note(missing)}\nAnswer with what the results give, and say plainly"
        " what is missing and why."
        if missing
        else ""
    )
    if feedback:
        gaps += f"\n\nA previous answer was rejected by the reviewer: {feedback}"
    if output is not None:
        gaps += f"\n\n{output}"
    return [
        SystemMessage(content=render("synthesizer")),
        # The goal comes last too: small models follow the end of a prompt best.
        HumanMessage(
            content=f"Goal: {tree.goal}\n\nResults of the team's tasks:\n\n"
            f"{digest}{gaps}\n\nNow write the final answer to: {tree.goal}"
        ),
    ]
