"""orchestra: hierarchical multi-agent teams on LangGraph.

A planner turns a goal into a typed task tree, a role designer gives each subtask a
specialist, executors run subtasks in parallel as soon as their dependencies finish, and a
critic checks each result, re-planning only the failed branch.
"""

import logging

from orchestra.core.budget import Budget
from orchestra.core.errors import (
    BudgetExceeded,
    ConfigError,
    InputError,
    ModelBehaviorError,
    OrchestraError,
    PlanningError,
    RetryableToolError,
    RoleDesignError,
    RunBusyError,
    RunError,
    ScriptError,
)
from orchestra.core.events import (
    Event,
    GoalRefined,
    PlanChosen,
    Replanned,
    RoleAssigned,
    RunFinished,
    RunStarted,
    TaskFailed,
    TaskFinished,
    TaskPlanned,
    TaskStarted,
    ToolCalled,
    VerdictGiven,
)
from orchestra.core.record import RunRecord, RunResult, RunStatus
from orchestra.core.roles import Role, RoleSpec
from orchestra.core.search_options import WorkflowSearch
from orchestra.core.tree import TaskNode, TaskStatus, TaskTree, Verdict
from orchestra.observability.setup import Tracing
from orchestra.team import Team
from orchestra.tools.decorator import ToolSet, tool
from orchestra.tools.mcp import mcp_server

__all__ = [
    "Budget",
    "BudgetExceeded",
    "ConfigError",
    "Event",
    "GoalRefined",
    "InputError",
    "ModelBehaviorError",
    "OrchestraError",
    "PlanChosen",
    "PlanningError",
    "Replanned",
    "RetryableToolError",
    "Role",
    "RoleAssigned",
    "RoleDesignError",
    "RoleSpec",
    "RunBusyError",
    "RunError",
    "RunFinished",
    "RunRecord",
    "RunResult",
    "RunStarted",
    "RunStatus",
    "ScriptError",
    "TaskFailed",
    "TaskFinished",
    "TaskNode",
    "TaskPlanned",
    "TaskStarted",
    "TaskStatus",
    "TaskTree",
    "Team",
    "ToolCalled",
    "ToolSet",
    "Tracing",
    "Verdict",
    "VerdictGiven",
    "WorkflowSearch",
    "mcp_server",
    "tool",
]

# A library logs; the application decides where it goes (notices and fallbacks are
# warnings on the "orchestra" logger).
logging.getLogger("orchestra").addHandler(logging.NullHandler())
