"""The planner agent: goal → validated task plan, and failed task → replacement plan."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from orchestra.agents.calls import AgentCall, ask_structured
from orchestra.agents.context import describe_roles, describe_task, describe_tools
from orchestra.agents.prompts import render
from orchestra.core.errors import PlanningError
from orchestra.core.plan import PlanDraft, plan_errors
from orchestra.core.roles import Role, RoleSpec
from orchestra.core.tree import ROOT_ID, TaskTree

__all__ = ["plan_goal", "replan_task"]


async def plan_goal(
    model: BaseChatModel,
    tree: TaskTree,
    *,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int = 2,
) -> PlanDraft:
    """Decompose the tree's goal into a plan of subtasks.

    Raises:
        PlanningError: the plan stayed invalid after ``max_repairs`` repairs; it carries
            every raw reply.
    """
    system = render(
        "planner",
        levels=tree.max_depth,
        roles=describe_roles(roles),
        tools=describe_tools(tools),
    )
    return await ask_structured(
        model,
        [SystemMessage(content=system), HumanMessage(content=f"Goal: {tree.goal}")],
        PlanDraft,
        AgentCall(agent="planner", task_id=ROOT_ID),
        check=lambda draft: plan_errors(draft, base_depth=0, max_depth=tree.max_depth),
        max_repairs=max_repairs,
        error=PlanningError,
    )


async def replan_task(
    model: BaseChatModel,
    tree: TaskTree,
    task_id: str,
    reason: str,
    *,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int = 2,
) -> PlanDraft:
    """A replacement plan for the failed task ``task_id``, seeing what failed and why."""
    task = tree.get(task_id)
    base_depth = task.depth - 1
    system = render(
        "replanner",
        levels=tree.max_depth - base_depth,
        roles=describe_roles(roles),
        tools=describe_tools(tools),
    )
    failed = describe_task(tree, task, with_inputs=False)
    human = (
        f"{failed}\n\nThis task failed.\nLast result: {task.result or '(none)'}\n"
        f"Why it failed: {reason}"
    )
    return await ask_structured(
        model,
        [SystemMessage(content=system), HumanMessage(content=human)],
        PlanDraft,
        AgentCall(agent="planner", task_id=task_id),
        check=lambda draft: plan_errors(draft, base_depth=base_depth, max_depth=tree.max_depth),
        max_repairs=max_repairs,
        error=PlanningError,
    )
