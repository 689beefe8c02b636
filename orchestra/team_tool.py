"""A team as a LangChain tool: sub-agents as tools, for any agent or another team.

``team.as_tool()`` gives a ``StructuredTool`` taking a ``goal``. Each call runs the team
to the end and returns its answer with the run id; a run that does not end with an
answer (failed, out of budget, waiting for a person, rejected) is an error the calling
model reads, naming the run so a person can continue it: a :class:`TeamToolError` the
tool handles (a ``ToolMessage`` with ``status="error"`` in a LangGraph agent), or, in an
orchestra team, a failed tool call. ``invoke`` works too (the team runs in a worker
thread with its own event loop).

Calls are exactly-once across resumes of a calling team: the call's idempotency key (the
same on every resume of the same call) names the team's run, so a call that had finished
returns that run's answer and one that was interrupted resumes that run instead of
starting another.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from orchestra.core.errors import InputError
from orchestra.core.record import RunResult, RunStatus
from orchestra.team_node import run_blocking
from orchestra.tools.decorator import tool
from orchestra.tools.injected import IdempotencyKey

if TYPE_CHECKING:
    from orchestra.team import Team

__all__ = ["TeamRunFailed", "TeamToolError", "team_tool"]

_USABLE = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


class TeamRunFailed(RuntimeError):
    """The team a tool stands for ended its run without an answer.

    Raised as is to an orchestra team calling the tool: a failed tool call, its error
    given to the executor's model.
    """


class TeamToolError(TeamRunFailed, ToolException):
    """:class:`TeamRunFailed` as raised to any caller but an orchestra team.

    A LangGraph ``ToolNode``, a LangChain agent, your code: the tool handles it
    (``handle_tool_error``), so the calling model reads it as the call's error message
    instead of the agent crashing.
    """


def _tool_name(team_name: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_-]+", "_", team_name).strip("_") or "team"
    return f"ask_{name}"[:64]


def _run_id(team_name: str, key: str) -> str:
    """The team's run for one tool call (stable across the caller's resumes)."""
    digest = hashlib.blake2b(f"{team_name}\0{key}".encode(), digest_size=12).hexdigest()
    return f"tool-{digest}"


def _answer(result: RunResult[Any], *, in_team: bool) -> str:
    """The answer for the calling model, or the error saying why there is none.

    ``in_team``: the caller is an orchestra team (it gives the call's idempotency key).
    """
    if result.status not in _USABLE or result.text is None:
        why = f": {result.reason}" if result.reason else ""
        failed = TeamRunFailed if in_team else TeamToolError
        raise failed(
            f"the team's run {result.run_id} ended {result.status.value}{why}"
            + (
                f" (waiting for: {', '.join(r.summary for r in result.pending)})"
                if result.pending
                else ""
            )
        )
    return f"{result.text}\n\n(run {result.run_id}, {result.status.value})"


def team_tool(
    team: Team[Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> BaseTool:
    """``team`` as a tool taking a goal (see the module docstring and :meth:`Team.as_tool`)."""
    about = description or (
        f"Give a goal to the {team.name} team (a planner, specialists and a critic);"
        " it works it out and returns its answer."
    )

    async def run_team(goal: str, key: IdempotencyKey = "") -> str:
        """Run the team on a goal."""
        run_id = _run_id(team.name, key) if key else None
        if run_id is not None:
            try:
                await team.aget_run(run_id)
            except InputError:  # a new call: no run yet
                pass
            else:  # the call ran before: its run's answer (a run that ended is as it was)
                return _answer(await team.aresume(run_id), in_team=True)
        return _answer(await team.arun(goal, run_id=run_id), in_team=run_id is not None)

    def run_team_blocking(goal: str, key: IdempotencyKey = "") -> str:
        """Run the team on a goal, from synchronous code (``invoke``)."""
        return run_blocking(lambda: run_team(goal, key))

    made = tool(
        name=name or _tool_name(team.name),
        description=about,
        side_effects=True,  # a team's run may change the world; its calls are logged
        timeout=timeout,
        in_process=True,  # the team object lives here
    )(run_team)
    made.handle_tool_error = True  # only TeamToolError is a ToolException
    if isinstance(made, StructuredTool):  # for invoke: a worker thread runs the coroutine
        made.func = run_team_blocking
    return made
