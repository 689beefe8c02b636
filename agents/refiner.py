"""The refiner agent: the raw request made a structured task statement."""

from __future__ import annotations

import re

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from orchestra.agents.calls import AgentCall, ask_structured
from orchestra.agents.context import describe_tools
from orchestra.agents.prompts import render
from orchestra.core.statement import TaskStatement
from orchestra.core.tree import ROOT_ID

__all__ = ["refine_goal", "statement_errors"]


def _stems(text: str) -> set[str]:
    """Crude stems of the words of four letters or more (``laptop`` and ``laptops`` meet)."""
    return {w[:5] for w in re.findall(r"[^\W\d_]{4,}", text.casefold())}


def statement_errors(statement: TaskStatement, request: str) -> list[str]:
    """What makes a statement unusable beyond its schema (for the repair loop).

    The objective must be about the request (share the stem of a word of four letters or
    more with it): a statement copied from the prompt's example, or about something else, is not.
    """
    errors = []
    if _stems(request) and not _stems(statement.objective) & _stems(request):
        errors.append(f"objective is not about the request: restate what {request!r} asks for")
    for label, items in (
        ("constraints", statement.constraints),
        ("deliverables", statement.deliverables),
        ("acceptance_criteria", statement.acceptance_criteria),
    ):
        seen = {item.casefold() for item in items}
        if len(seen) < len(items):
            errors.append(f"{label} repeats an item: list each once")
    return errors


async def refine_goal(
    model: BaseChatModel, goal: str, *, tools: dict[str, str], max_repairs: int = 2
) -> TaskStatement:
    """The task statement of ``goal`` (objective, constraints, deliverables, criteria).

    Raises:
        ModelBehaviorError: the statement stayed invalid after ``max_repairs`` repairs.
    """
    return await ask_structured(
        model,
        [
            SystemMessage(content=render("refiner", tools=describe_tools(tools))),
            HumanMessage(content=f"Request: {goal}\n\nWrite the task statement for: {goal}"),
        ],
        TaskStatement,
        AgentCall(agent="refiner", task_id=ROOT_ID),
        check=lambda statement: statement_errors(statement, goal),
        max_repairs=max_repairs,
    )
