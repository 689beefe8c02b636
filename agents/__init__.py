"""The agents of a team: planner, role designer, executor, critic and synthesizer.

Each agent is a function of (model, a slice of the tree, tools) to a typed result; the
engine decides when they run. Prompts live in ``prompts/`` as files.
"""

from orchestra.agents.critic import judge
from orchestra.agents.executor import ExecutionResult, execute_task
from orchestra.agents.planner import plan_goal, replan_task
from orchestra.agents.role_designer import design_role
from orchestra.agents.synthesizer import synthesize

__all__ = [
    "ExecutionResult",
    "design_role",
    "execute_task",
    "judge",
    "plan_goal",
    "replan_task",
    "synthesize",
]
