"""Budgets: how much a run may spend, and the meter that enforces it before each call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field

from orchestra.core.errors import BudgetExceeded
from orchestra.core.usage import Usage

__all__ = [
    "Budget",
    "BudgetMeter",
    "charge_model",
    "metering",
    "start_model_call",
    "start_tool_call",
]


class Budget(BaseModel):
    """Limits on one run; None means no limit. ``Team(budget=Budget(tokens=50_000))``.

    Checked before every model and tool call: a call that would start once a limit is
    reached does not start. ``seconds`` counts wall-clock time of one invocation (a run,
    or a resume of it).
    """

    model_config = ConfigDict(frozen=True)

    tokens: int | None = Field(default=None, ge=0, description="input plus output tokens")
    usd: float | None = Field(default=None, ge=0)
    seconds: float | None = Field(default=None, gt=0)
    model_calls: int | None = Field(default=None, ge=0)
    tool_calls: int | None = Field(default=None, ge=0)


class BudgetMeter:
    """What a run has spent against its :class:`Budget` (shared by all its jobs).

    Model and tool calls are counted when they start, under a lock, so calls running in
    parallel cannot together pass a call limit; tokens and USD are known only when a
    reply comes, so parallel calls may pass those by what they were already spending.
    """

    def __init__(self, budget: Budget, *, spent: Usage | None = None, tool_calls: int = 0) -> None:
        self.budget = budget
        self.spent = spent or Usage()
        self.model_calls = self.spent.model_calls
        self.tool_calls = tool_calls
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def over(self) -> str | None:
        """Which limit is reached, if one is."""
        b, spent = self.budget, self.spent
        elapsed = time.monotonic() - self._started
        checks = (
            (b.tokens, spent.total_tokens, "tokens"),
            (b.usd, spent.cost_usd, "USD"),
            (b.model_calls, self.model_calls, "model calls"),
            (b.tool_calls, self.tool_calls, "tool calls"),
            (b.seconds, elapsed, "seconds"),
        )
        for limit, used, name in checks:
            if limit is not None and used >= limit:
                return f"{used:g} {name} spent of {limit:g}"
        return None

    def begin(self, kind: str) -> None:
        """Admit one ``"model"`` or ``"tool"`` call, or raise :class:`BudgetExceeded`."""
        with self._lock:
            reason = self.over()
            if reason is not None:
                raise BudgetExceeded(reason)
            if kind == "model":
                self.model_calls += 1
            else:
                self.tool_calls += 1

    def add_model(self, usage: Usage) -> None:
        """Count the tokens and cost of a model reply."""
        with self._lock:
            self.spent = self.spent + usage


_METER: ContextVar[BudgetMeter | None] = ContextVar("orchestra_budget", default=None)


@contextmanager
def metering(meter: BudgetMeter | None) -> Iterator[None]:
    """Make ``meter`` the run's budget meter inside the ``with`` block (in this context)."""
    token = _METER.set(meter)
    try:
        yield
    finally:
        _METER.reset(token)


def start_model_call() -> None:
    """Before a model call: admit it, or raise :class:`BudgetExceeded` if the budget is spent."""
    meter = _METER.get()
    if meter is not None:
        meter.begin("model")


def start_tool_call() -> None:
    """Before a tool call: admit it, or raise :class:`BudgetExceeded` if the budget is spent."""
    meter = _METER.get()
    if meter is not None:
        meter.begin("tool")


def charge_model(usage: Usage) -> None:
    """Count a model reply's tokens and cost against the run's budget."""
    meter = _METER.get()
    if meter is not None:
        meter.add_model(usage)
