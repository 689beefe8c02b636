"""The refiner agent: the raw request made a structured task statement."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from orchestra.agents.calls import AgentCall, ask_structured
from orchestra.agents.context import describe_tools
from orchestra.agents.prompts import render
from orchestra.core.statement import TaskStatement
from orchestra.core.tree import ROOT_ID

__all__ = ["refine_goal", "statement_errors"]


def statement_errors(statement: TaskStatement) -> list[str]:
    """What makes a statement unusable beyond its schema (for the repair loop)."""
    errors = []
    for label, items in (
        ("constraints", statement.constraints),
        ("deliverables", statement.deliverables),
        ("acceptance_criteria", statement.acceptance_criteria),
    ):
        seen = {item.casefold() for item in items}
        if len(seen) < len(items):
            errors.append(f"{label} repeats an item: list each once")
    if not statement.acceptance_criteria:
        errors.append("acceptance_criteria is empty: give at least one check")
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
        check=statement_errors,
        max_repairs=max_repairs,
    )
