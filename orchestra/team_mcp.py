"""A team as an MCP server: ``orchestra mcp FILE.py:team`` (stdio, or ``--http PORT``).

Built on the official ``mcp`` SDK. The server offers:

* a ``run`` tool taking the ``goal`` (and optional budget limits): it runs the team,
  sends an MCP progress notification each time a task finishes or fails, and returns the
  run id, the status and the answer (``output`` is the typed answer as JSON when the team
  has an ``output_type``) as structured content; a run that ends without an answer is a
  tool error naming the run;
* a resource per run, ``orchestra://runs/{run_id}``: the run record as JSON (what
  ``orchestra run --json`` prints, secrets redacted the same way), for any run in the
  team's checkpoints; ``resources/list`` names the newest ``LISTED_RUNS`` runs of the
  team's history.

Any MCP client can call it: an IDE, a desktop assistant, or another orchestra team
(``Team(tools=[mcp_server("orchestra mcp research.py:team")])``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import Resource
from pydantic import BaseModel, Field, JsonValue, ValidationError

from orchestra.core.budget import Budget
from orchestra.core.errors import InputError
from orchestra.core.events import Replanned, TaskFailed, TaskFinished, TaskPlanned
from orchestra.core.record import RunStatus
from orchestra.observability.history import redacted_json, shown_redactor

if TYPE_CHECKING:
    from orchestra.team import Team

__all__ = ["RunAnswer", "team_mcp_server"]

RUN_URI = "orchestra://runs/{run_id}"
LISTED_RUNS = 100
"""How many runs ``resources/list`` names: the newest of the team's history."""

_ANSWERED = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
_ENDS = {"task_finished": "done", "task_failed": "failed", "replanned": "replaced"}
_ENDING = (TaskFinished, TaskFailed, Replanned)
"""Events that end a task, for progress (a replaced task ends too: it counts in the total)."""


class RunAnswer(BaseModel):
    """What the ``run`` tool returns (its structured content)."""

    run_id: str
    status: str
    answer: str | None = Field(description="The answer as text (a typed answer's JSON).")
    output: JsonValue | None = Field(
        default=None, description="The typed answer, when the team has an output_type."
    )
    unverified: list[str] = Field(
        default_factory=list, description="Tasks whose kept results nothing accepted."
    )
    record: str = Field(description="The run record's resource URI.")


class _TeamServer(MCPServer[Any]):
    """The SDK's server, whose resource list names the team's latest runs too."""

    def __init__(self, team: Team[Any], *, name: str) -> None:
        super().__init__(
            name=name, instructions=f"Runs the agent team {team.name!r}: call `run` with a goal."
        )
        self.team = team

    async def list_resources(self) -> list[Resource]:
        """The server's resources, then a run record per run of the history, newest first."""
        return [*await super().list_resources(), *_run_resources(self.team)]


def _run_resources(team: Team[Any]) -> list[Resource]:
    """The records of the team's ``LISTED_RUNS`` newest runs (none without a history)."""
    if team.history is None:
        return []
    return [
        Resource(
            uri=RUN_URI.format(run_id=run.run_id),
            name=f"run {run.run_id}",
            title=f"{run.status}: {run.goal[:80]}",
            description=f"Run {run.run_id} of {team.name!r}, {run.status}, started"
            f" {run.started_at.isoformat(timespec='seconds')}: {run.goal[:200]}",
            mime_type="application/json",
        )
        for run in team.history.list(limit=LISTED_RUNS, team=team.name)
    ]


def team_mcp_server(team: Team[Any], *, name: str | None = None) -> MCPServer[Any]:
    """An MCP server whose ``run`` tool runs ``team`` (see the module docstring)."""
    server = _TeamServer(team, name=name or team.name)

    @server.tool(
        name="run",
        description=f"Run the agent team {team.name!r} on a goal and return its answer.",
        structured_output=True,
    )
    async def run(
        goal: str,
        ctx: Context,
        max_tokens: int | None = None,
        max_usd: float | None = None,
        max_model_calls: int | None = None,
    ) -> RunAnswer:
        limits = {"tokens": max_tokens, "usd": max_usd, "model_calls": max_model_calls}
        try:
            budget = None if all(v is None for v in limits.values()) else Budget(**limits)
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise ToolError(f"bad budget: {problems}") from exc
        planned: set[str] = set()
        ended: set[str] = set()
        run_id: str | None = None
        try:
            async for event in team.astream(goal, budget=budget):
                run_id = event.run_id
                if isinstance(event, TaskPlanned):
                    planned.add(event.task_id)
                elif isinstance(event, _ENDING) and event.task_id in planned:
                    ended.add(event.task_id)
                    status = _ENDS[event.type]
                    await ctx.report_progress(
                        len(ended), len(planned), message=f"{event.task_id} {status}"
                    )
        except InputError as exc:
            raise ToolError(str(exc)) from exc
        if run_id is None:
            raise ToolError("the run produced no events")
        result = await team.aget_run(run_id)
        redact = shown_redactor(team.tracing.redactor)
        if result.status not in _ANSWERED or result.text is None:
            why = f": {result.reason}" if result.reason else ""
            said = redacted_json(f"ended {result.status.value} without an answer{why}", redact)
            raise ToolError(f"run {run_id} {said} (record: {RUN_URI.format(run_id=run_id)})")
        return RunAnswer(
            run_id=run_id,
            status=result.status.value,
            answer=redacted_json(result.text, redact),
            output=redacted_json(result.tree.root.output, redact),
            unverified=[u.task_id for u in result.unverified],
            record=RUN_URI.format(run_id=run_id),
        )

    @server.resource(RUN_URI, name="run record", mime_type="application/json")
    async def record(run_id: str) -> str:
        try:
            result = await team.aget_run(run_id)
        except InputError as exc:
            raise ResourceError(str(exc)) from exc
        record = result.to_record().model_dump(mode="json")
        return json.dumps(
            redacted_json(record, shown_redactor(team.tracing.redactor)),
            indent=2,
            ensure_ascii=False,
        )

    return server
