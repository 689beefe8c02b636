"""What one attempt at a leaf works with, as one object for the executor and the search.

The engine builds it per attempt (the task, the role, the tools offered, the memories
shown, the critic's feedback, the approvals decided) with the team's rules for tool
calls (step and repeat limits, the call log, where tools run) and the attempt's
observers; :func:`~orchestra.agents.executor.execute_task` and the workflow search read
it instead of taking each piece as a parameter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from langchain_core.tools import BaseTool

from orchestra.agents.context import DEFAULT_MAX_DEPENDENCY_CHARS
from orchestra.core.approval import Decision
from orchestra.core.roles import RoleSpec
from orchestra.core.tree import TaskNode, TaskTree
from orchestra.tools.dispatch import LOCAL_RUNNER, ToolRunner
from orchestra.tools.invoke import CallLog, ToolOutcome

__all__ = ["AttemptContext", "OnToolCall", "OnToolStart"]

OnToolCall = Callable[[ToolOutcome], Awaitable[None] | None]
"""Called after every tool call (including refused and invalid ones)."""
OnToolStart = Callable[[str, str], None]
"""Called with the tool's name and the call's idempotency key just before a call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptContext:
    """One attempt at ``task_id`` of ``tree`` as ``role``: what it sees and may do."""

    tree: TaskTree
    """The run's tree; the attempt sees its task, its ancestors and its inputs."""
    task_id: str
    role: RoleSpec
    """The role working on the task; its ``tools`` are the allowlist."""
    tools: Mapping[str, BaseTool]
    """Every tool of the team, by name."""
    offered: Sequence[str] | None = None
    """The role's tools to bind and describe (the most relevant when the role has many);
    None: all of them. The allowlist stays ``role.tools``."""
    memories: Sequence[str] = ()
    """Relevant memories, one formatted line each (with their provenance)."""
    feedback: str | None = None
    """The critic's reason when this attempt is a retry."""
    key_scope: str = ""
    """Prefix of the tool calls' idempotency keys (run/task/attempt)."""
    decisions: Mapping[str, Decision] = field(default_factory=dict)
    """People's decisions on calls that need approval, by the call's idempotency key; such
    a call without one pauses the attempt."""
    prior_calls: Mapping[str, int] = field(default_factory=dict)
    """Calls the task's earlier attempts made, by ``call_signature``."""
    max_steps: int = 8
    """Model calls allowed for this attempt."""
    max_identical_calls: int | None = None
    """The most times the task may make one call (same tool and arguments, counting
    ``prior_calls``); the attempt stops (``loop``) instead of making it once more."""
    call_log: CallLog | None = None
    """Where side-effecting calls are logged, so a resumed run does not repeat them."""
    runner: ToolRunner = LOCAL_RUNNER
    """Where the tool calls run (the team's executor; in this process by default)."""
    max_dependency_chars: int | None = DEFAULT_MAX_DEPENDENCY_CHARS
    """The most of each prerequisite's result the prompt shows; longer ones are cut with
    a marker saying so (None: never cut)."""
    output_format: str | None = None
    """How to write the result when the role's results are typed (its JSON schema)."""
    on_tool_call: OnToolCall | None = None
    on_tool_start: OnToolStart | None = None

    @property
    def task(self) -> TaskNode:
        """The task the attempt works on."""
        return self.tree.get(self.task_id)

    def offered_tools(self) -> dict[str, BaseTool]:
        """The tools the role is shown: the offered ones (or all) it is allowed to call."""
        allowed = self.role.tools
        shown = allowed if self.offered is None else [n for n in self.offered if n in allowed]
        return {name: self.tools[name] for name in shown if name in self.tools}
