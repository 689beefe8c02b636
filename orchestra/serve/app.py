"""The HTTP API of a served team (FastAPI; its OpenAPI schema at ``/openapi.json``).

* ``POST /runs`` ``{"goal", "budget"?}`` → ``201 {"run_id"}``: the run starts in the
  background (``429`` when too many wait for a slot);
* ``GET /runs`` (the team's history, newest first), ``GET /runs/{id}`` (the run record);
* ``GET /runs/{id}/events``: Server-Sent Events of the run's typed events (``?tokens=1``
  adds the token pieces), replayed from the start for a late subscriber, resumable with
  ``Last-Event-ID``, ending when the run settles (after ``run_finished``, or when it waits
  for approval);
* ``POST /runs/{id}/approve``, ``/reject``, ``/resume``, ``/cancel``.

With a token (``ORCHESTRA_API_TOKEN``, required to bind anything but loopback) every
request must carry ``Authorization: Bearer <token>`` (compared in constant time): ``401``
otherwise.
"""

from __future__ import annotations

import hmac
import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache, partial
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sse_starlette.sse import EventSourceResponse
from starlette.middleware.base import BaseHTTPMiddleware

from orchestra.core.approval import Approve, Decision, EditArgs, Reject, decisions_for
from orchestra.core.budget import Budget
from orchestra.core.errors import InputError, RunBusyError
from orchestra.core.record import RunResult, RunStatus
from orchestra.serve.runs import QueueFull, RunManager
from orchestra.team import MAX_GOAL_CHARS, Team

__all__ = ["create_app"]


class RunRequest(BaseModel):
    """A run to start."""

    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, max_length=MAX_GOAL_CHARS)
    budget: Budget | None = None

    @field_validator("goal")
    @classmethod
    def _not_blank(cls, goal: str) -> str:
        if not goal.strip():
            raise ValueError("the goal is blank")
        return goal


class RunStarted(BaseModel):
    """A run the server started."""

    run_id: str


class Approval(BaseModel):
    """A person's approval of what a run waits for (all of it unless ``request`` says).

    Unknown fields are refused (422): an edit this endpoint cannot make (a plan, its
    alternatives) must not turn into an approval of what was proposed.
    """

    model_config = ConfigDict(extra="forbid")

    request: str | None = None
    args: dict[str, Any] | None = Field(
        default=None, description="Make the tool call with these arguments instead."
    )


class Rejection(BaseModel):
    """A person's rejection, with why (the executor is told)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    request: str | None = None


class Resumption(BaseModel):
    """Go on with a run stopped by a restart, a cancel or its budget."""

    budget: Budget | None = None


router = APIRouter()

_ENDED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.REJECTED, RunStatus.PARTIAL)


def _manager(request: Request) -> RunManager:
    manager: RunManager = request.app.state.manager
    return manager


Manager = Annotated[RunManager, Depends(_manager)]


def create_app(
    team: Team[Any], *, token: str | None = None, max_runs: int = 4, max_queued: int = 64
) -> FastAPI:
    """The API serving ``team`` (see the module docstring)."""
    manager = RunManager(team, max_runs=max_runs, max_queued=max_queued)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for run_id in list(manager.logs):
            manager.cancel(run_id)

    app = FastAPI(
        title=f"orchestra: {team.name}",
        description=f"Runs of the agent team {team.name!r}.",
        lifespan=lifespan,
    )
    if token is not None:
        app.add_middleware(BaseHTTPMiddleware, dispatch=partial(_authorized, token))
    app.state.manager = manager
    for error, status in ((QueueFull, 429), (RunBusyError, 409), (InputError, 400)):
        app.add_exception_handler(error, partial(_status, status))
    app.include_router(router)
    return app


async def _authorized(
    token: str, request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Let a request through only with the token (the API docs too).

    As a bearer token, or as ``access_token`` in the query: the page's ``EventSource``
    cannot set a header.
    """
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    given = credentials if scheme.lower() == "bearer" else ""
    given = given or request.query_params.get("access_token") or ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        return JSONResponse(
            {"detail": "a bearer token is required"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await call_next(request)


async def _status(status: int, request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(manager: Manager) -> HTMLResponse:
    """The live web page: start a run, watch its tree fill in, approve, read the answer."""
    return HTMLResponse(_page().replace("{team}", html.escape(manager.team.name, quote=True)))


@cache
def _page() -> str:
    return (resources.files("orchestra.serve") / "page.html").read_text(encoding="utf-8")


@router.post("/runs", status_code=201)
async def start_run(body: RunRequest, manager: Manager) -> RunStarted:
    """Start a run of the goal in the background."""
    return RunStarted(run_id=await manager.start(body.goal, body.budget))


@router.get("/runs")
async def list_runs(
    manager: Manager,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """The team's runs, newest first (from its run history), a page of ``limit``."""
    team = manager.team
    if team.history is None:
        return []
    page = team.history.list(limit=limit, offset=offset, team=team.name)
    return [s.model_dump(mode="json") for s in page]


@router.get("/runs/{run_id}")
async def get_run(run_id: str, manager: Manager) -> dict[str, Any]:
    """The run record, as ``orchestra run --json`` prints it.

    A run started here but not yet checkpointed is ``{"run_id", "status": "starting"}``;
    one going on here reads ``running`` (its checkpoint alone says ``interrupted``: not
    ended).
    """
    log = manager.logs.get(run_id)
    running = log is not None and log.active
    try:
        result = await manager.team.aget_run(run_id)
    except InputError as exc:
        if running:
            return {"run_id": run_id, "status": "starting"}
        raise HTTPException(404, str(exc)) from exc
    record = manager.shown(result.to_record().model_dump(mode="json"))
    if running and result.status is RunStatus.INTERRUPTED:
        record["status"] = "running"
    return record


@router.get("/runs/{run_id}/events")
async def events(
    run_id: str,
    manager: Manager,
    tokens: Annotated[bool, Query(description="Include the token pieces")] = False,
    last_event_id: Annotated[
        int | None, Header(ge=0, description="Resume after this event (an id sent before)")
    ] = None,
) -> EventSourceResponse:
    """The run's events as Server-Sent Events, from the start (or ``Last-Event-ID``)."""
    if run_id not in manager.logs:
        raise HTTPException(
            404,
            f"run {run_id!r} has no events on this server (unknown, or from before a restart:"
            " its record is at GET /runs/{id})",
        )
    log = manager.logs[run_id]

    async def stream() -> AsyncIterator[dict[str, str]]:
        async for number, event in log.follow(tokens=tokens, after=last_event_id or 0):
            yield {"id": str(number), "data": json.dumps(event)}

    return EventSourceResponse(stream())


@router.post("/runs/{run_id}/approve", status_code=202)
async def approve(run_id: str, manager: Manager, body: Approval | None = None) -> dict[str, str]:
    """Approve what the run waits for; it goes on in the background."""
    body = body or Approval()
    decision = Approve() if body.args is None else EditArgs(args=body.args)
    return await _decide(manager, run_id, body.request, decision)


@router.post("/runs/{run_id}/reject", status_code=202)
async def reject(run_id: str, manager: Manager, body: Rejection) -> dict[str, str]:
    """Reject what the run waits for; it goes on (a rejected plan ends it)."""
    return await _decide(manager, run_id, body.request, Reject(reason=body.reason))


@router.post("/runs/{run_id}/resume", status_code=202)
async def resume(run_id: str, manager: Manager, body: Resumption | None = None) -> dict[str, str]:
    """Go on with a run from its checkpoint (after a restart, a cancel, its budget)."""
    status = (await _known(manager, run_id)).status
    if status in _ENDED:
        raise HTTPException(409, f"run {run_id!r} ended {status.value}: nothing to resume")
    if status is RunStatus.AWAITING_APPROVAL:
        raise HTTPException(409, f"run {run_id!r} waits for approval: approve or reject it")
    await manager.go_on(run_id, None, (body or Resumption()).budget)
    return {"run_id": run_id}


@router.post("/runs/{run_id}/cancel")
async def cancel(run_id: str, manager: Manager) -> dict[str, Any]:
    """Stop the run; its checkpoint stays, so ``resume`` goes on with it."""
    if run_id not in manager.logs:
        await _known(manager, run_id)  # 404 for a run nobody knows
    return {"run_id": run_id, "cancelled": manager.cancel(run_id)}


async def _decide(
    manager: RunManager, run_id: str, request: str | None, decision: Decision
) -> dict[str, str]:
    pending = (await _known(manager, run_id)).pending
    ids = [r.id for r in pending]
    if not pending:
        raise HTTPException(409, f"run {run_id!r} waits for no approval")
    if request is not None and request not in ids:
        raise InputError(f"run {run_id!r} has no pending request {request!r}; pending: {ids}")
    if request is not None and len(ids) > 1:
        raise InputError(f"run {run_id!r} waits for {ids}: decide every one of them at once")
    limits = manager.team.runtime.limits
    checked = decisions_for(  # a decision that does not fit is refused here, not in the run
        pending,
        decision,
        max_depth=limits.max_depth,
        max_tasks=limits.max_tasks_per_level,
        check_args=manager.team.runtime.approved_args_problem,
    )
    await manager.go_on(run_id, checked)
    return {"run_id": run_id}


async def _known(manager: RunManager, run_id: str) -> RunResult[Any]:
    try:
        return await manager.team.aget_run(run_id)
    except InputError as exc:
        raise HTTPException(404, str(exc)) from exc
