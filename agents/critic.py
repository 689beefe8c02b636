"""The critic agent: judges one result against its task's acceptance criteria."""

from __future__ import annotations

from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from orchestra.agents.calls import AgentCall, ask_structured
from orchestra.agents.context import goal_context, task_context
from orchestra.agents.prompts import render
from orchestra.core.tree import ROOT_ID, TaskTree, Verdict

__all__ = ["CriticVerdict", "judge"]


class CriticVerdict(BaseModel):
    """What the critic answers (the schema it replies under)."""

    model_config = ConfigDict(title="Verdict")

    verdict: Literal["pass", "retry", "replan"]
    reason: str = Field(description="Why, in one or two sentences.")


async def judge(
    model: BaseChatModel,
    tree: TaskTree,
    task_id: str,
    result: str,
    *,
    max_repairs: int = 2,
    sample: int = 0,
) -> Verdict:
    """The critic's verdict on ``result`` for ``task_id``.

    ``sample`` above 0 asks for another, independently sampled verdict on the same result.

    Raises:
        ModelBehaviorError: the verdict stayed unparsable after ``max_repairs`` repairs.
    """
    task = tree.get(task_id)
    # Stable part first (the critic's rules and the goal, the same for every verdict of
    # the run), so providers' prompt caches reuse it; the task and the result last.
    if task_id == ROOT_ID:  # the final answer, judged against the goal itself
        human = f"The team's final answer to the overall goal, to judge:\n{result}"
    else:
        human = f"{task_context(tree, task, with_inputs=False)}\n\nResult to judge:\n{result}"
    reply = await ask_structured(
        model,
        [
            SystemMessage(content=render("critic", goal=goal_context(tree))),
            HumanMessage(content=human),
        ],
        CriticVerdict,
        AgentCall(agent="critic", task_id=task_id, role=task.role, sample=sample),
        max_repairs=max_repairs,
    )
    return Verdict(verdict=reply.verdict, reason=reply.reason)
