"""Budgets: how much a run may spend, and the meter that enforces it before each call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field

from orchestra.core.errors import BudgetExceeded
from orchestra.core.usage import Usage

__all__ = [
    "Budget",
    "BudgetMeter",
    "charge_model",
    "current_meter",
    "metering",
    "start_model_call",
    "start_tool_call",
]


class Budget(BaseModel):
    """Limits on one run; None means no limit. ``Team(budget=Budget(tokens=50_000))``.

    Checked before every model and tool call: a call that would start once a limit is
    reached does not start. ``seconds`` counts wall-clock time of one invocation (a run,
    or a resume of it). ``subtree`` limits each subtree of the goal on its own: a
    top-level task with everything below it and every re-plan that replaced it
    (``Budget(usd=5, subtree=Budget(usd=1))``: no branch may spend more than a dollar).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: int | None = Field(default=None, ge=0, description="input plus output tokens")
    usd: float | None = Field(default=None, ge=0)
    seconds: float | None = Field(default=None, gt=0)
    model_calls: int | None = Field(default=None, ge=0)
    tool_calls: int | None = Field(default=None, ge=0)
    subtree: Budget | None = None
    """Limits for each top-level subtree of the plan (its own ``subtree`` is ignored)."""


class BudgetMeter:
    """What a run has spent against its :class:`Budget` (shared by all its jobs).

    Model and tool calls are counted when they start, under a lock, so calls running in
    parallel cannot together pass a call limit; tokens and USD are known only when a
    reply comes, so parallel calls may pass those by what they were already spending.
    """

    def __init__(
        self,
        budget: Budget,
        *,
        spent: Usage | None = None,
        tool_calls: int = 0,
        parent: BudgetMeter | None = None,
        scope: str | None = None,
    ) -> None:
        self.budget = budget
        self.spent = spent or Usage()
        self.model_calls = self.spent.model_calls
        self.tool_calls = tool_calls
        self.parent = parent
        """The meter of the enclosing budget (a subtree's meter has the run's)."""
        self.scope = scope
        """None for a run's meter; the subtree's id for a subtree's."""
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def _chain(self) -> list[BudgetMeter]:
        meters: list[BudgetMeter] = [self]
        while (parent := meters[-1].parent) is not None:
            meters.append(parent)
        return meters

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
        """Admit one ``"model"`` or ``"tool"`` call, or raise :class:`BudgetExceeded`.

        A subtree's meter admits a call only if its run's meter does too; the call then
        counts against both.
        """
        chain = self._chain()
        with ExitStack() as locks:  # always innermost first, so no two calls deadlock
            for meter in chain:
                locks.enter_context(meter._lock)
            for meter in chain:
                reason = meter.over()
                if reason is not None:
                    if meter.scope is not None:
                        reason = f"subtree {meter.scope!r}: {reason}"
                    raise BudgetExceeded(reason, scope=meter.scope)
            for meter in chain:
                if kind == "model":
                    meter.model_calls += 1
                else:
                    meter.tool_calls += 1

    def add_model(self, usage: Usage) -> None:
        """Count the tokens and cost of a model reply (in enclosing meters too)."""
        for meter in self._chain():
            with meter._lock:
                meter.spent = meter.spent + usage


_METER: ContextVar[BudgetMeter | None] = ContextVar("orchestra_budget", default=None)


@contextmanager
def metering(meter: BudgetMeter | None) -> Iterator[None]:
    """Make ``meter`` the run's budget meter inside the ``with`` block (in this context)."""
    token = _METER.set(meter)
    try:
        yield
    finally:
        _METER.reset(token)


def current_meter() -> BudgetMeter | None:
    """The meter calls in this context are counted against, if any."""
    return _METER.get()


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
