"""The runs a server started: each one's events kept in order for every subscriber.

Every event of a run gets an id, increasing from 1, in two numberings: one over all its
events (tokens included) and one over all but the tokens, so a subscriber of either kind
sees gap-free ids and resumes exactly where it stopped (``Last-Event-ID``). A run's
events are kept while the server runs; the run itself lives in the team's checkpoints.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from orchestra.core.budget import Budget
from orchestra.core.errors import OrchestraError, RunBusyError
from orchestra.core.events import Event, RunFinished
from orchestra.observability.history import redacted_json, shown_redactor
from orchestra.serve.tokens import TokenGate
from orchestra.team import Decisions, Team

__all__ = ["QueueFull", "RunLog", "RunManager"]

StreamFactory = Callable[[], AsyncIterator[Event]]


class QueueFull(OrchestraError):
    """As many runs wait for a slot as the server allows: try again later."""


@dataclass
class RunLog:
    """One run's events as JSON, in order, and who waits for more."""

    run_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every event, tokens included."""
    plain: list[dict[str, Any]] = field(default_factory=list)
    """Every event but the tokens."""
    active: bool = False
    """A run (or a resume of it) is going on."""
    task: asyncio.Task[None] | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def add(self, event: dict[str, Any]) -> None:
        """Keep ``event`` and wake the subscribers."""
        async with self.changed:
            self.events.append(event)
            if event.get("type") != "token":
                self.plain.append(event)
            self.changed.notify_all()

    async def add_all(self, events: list[dict[str, Any]]) -> None:
        """Keep ``events``, in order."""
        for event in events:
            await self.add(event)

    async def settle(self) -> None:
        """No more events until the run is gone on with."""
        async with self.changed:
            self.active = False
            self.changed.notify_all()

    async def follow(
        self, *, tokens: bool, after: int = 0
    ) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """``(id, event)`` from id ``after + 1`` on, as they come, until the run settles."""
        seen = after
        view = self.events if tokens else self.plain
        while True:
            async with self.changed:
                await self.changed.wait_for(partial(self._more, view, seen))
                fresh = view[seen:]
                settled = not self.active
            for event in fresh:
                seen += 1
                yield seen, event
            if settled and not fresh:
                return

    def _more(self, view: list[dict[str, Any]], seen: int) -> bool:
        return len(view) > seen or not self.active


class RunManager:
    """Starts runs in the background, at most ``max_runs`` at once, the rest queued."""

    def __init__(self, team: Team[Any], *, max_runs: int = 4, max_queued: int = 64) -> None:
        self.team = team
        self.max_queued = max_queued
        self.logs: dict[str, RunLog] = {}
        self.max_runs = max_runs
        self._slots = asyncio.Semaphore(max_runs)
        self._pending = 0
        """Runs launched and not ended: running, or waiting for a slot."""

    def shown(self, value: dict[str, Any]) -> dict[str, Any]:
        """A record's JSON as it leaves the server: secrets redacted.

        As ``orchestra run --json`` redacts them (unless ``ORCHESTRA_REDACT_HISTORY=0``);
        events go through a :class:`~orchestra.serve.tokens.TokenGate`.
        """
        return redacted_json(value, shown_redactor(self.team.tracing.redactor))

    def log(self, run_id: str) -> RunLog:
        """The log of ``run_id`` (an empty one for a run this server has not seen yet)."""
        if run_id not in self.logs:
            self.logs[run_id] = RunLog(run_id)
        return self.logs[run_id]

    async def start(self, goal: str, budget: Budget | None) -> str:
        """Start a run of ``goal``; its id.

        Raises:
            QueueFull: too many runs wait for a slot.
        """
        run_id = uuid.uuid4().hex
        await self._launch(
            self.log(run_id),
            lambda: self.team.astream(goal, run_id=run_id, budget=budget, tokens=True),
        )
        return run_id

    async def go_on(
        self, run_id: str, decisions: Decisions | None, budget: Budget | None = None
    ) -> None:
        """Resume ``run_id`` from its checkpoint (with ``decisions`` on what it waits for).

        Raises:
            QueueFull: too many runs wait for a slot.
        """
        await self._launch(
            self.log(run_id),
            lambda: self.team.aresume_stream(
                run_id, decisions=decisions, budget=budget, tokens=True
            ),
        )

    def cancel(self, run_id: str) -> bool:
        """Stop ``run_id`` (its checkpoint stays: resume goes on); whether it was running."""
        log = self.logs.get(run_id)
        if log is None or log.task is None or log.task.done():
            return False
        log.task.cancel()
        return True

    async def _launch(self, log: RunLog, events: StreamFactory) -> None:
        waiting = self._pending - self.max_runs  # how many wait for a slot (if >= 0)
        if waiting >= self.max_queued:
            raise QueueFull(f"{waiting} runs wait for a slot already; try again later")
        if log.active:
            raise RunBusyError(log.run_id, "this server runs it")
        log.active = True
        self._pending += 1
        log.task = asyncio.create_task(self._run(log, events))

    async def _run(self, log: RunLog, events: StreamFactory) -> None:
        gate = TokenGate(shown_redactor(self.team.tracing.redactor))
        try:
            async with self._slots:
                async for event in events():
                    await log.add_all(gate.send(event.model_dump(mode="json")))
            await log.add_all(gate.flush())
        except asyncio.CancelledError:  # the checkpoint stays: a resume goes on
            await log.add_all(gate.send(_ended(log.run_id, "cancelled", "cancelled by a request")))
        except Exception as exc:  # the run's own error: said on the stream, kept in history
            reason = f"{type(exc).__name__}: {exc}"
            await log.add_all(gate.send(_ended(log.run_id, "error", reason)))
        finally:
            self._pending -= 1
            await log.settle()


def _ended(run_id: str, status: str, reason: str) -> dict[str, Any]:
    return RunFinished(run_id=run_id, status=status, output=None, reason=reason).model_dump(
        mode="json"
    )
