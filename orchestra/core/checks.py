"""Checks: model-free tests a result must pass before the critic is asked about it.

The types and how checks run; the built-in checks are in :mod:`orchestra.checks`. A check
is a plain function (sync or async) of the task and the result that returns nothing when
the result is fine and a reason when it is not (a ``retry``), or raises
:class:`CheckFailed` to ask for a ``replan`` or to ``fail`` the task.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from orchestra.core.errors import OrchestraError

__all__ = [
    "Check",
    "CheckError",
    "CheckFailed",
    "CheckOutcome",
    "CheckVerdict",
    "CheckedTask",
    "check_name",
    "run_checks",
]

CheckVerdict = Literal["retry", "replan", "fail"]
"""What a failed check asks for: another attempt, a new plan for the task, or giving up."""


class CheckFailed(Exception):
    """Raised by a check whose result is not acceptable, with what should happen next."""

    def __init__(self, reason: str, *, verdict: CheckVerdict = "retry") -> None:
        super().__init__(reason)
        self.reason = reason
        self.verdict: CheckVerdict = verdict


class CheckError(OrchestraError):
    """A check raised something other than :class:`CheckFailed`: a bug in the check."""


@dataclass(frozen=True, slots=True)
class CheckedTask:
    """What a check knows of the task whose result it checks."""

    id: str
    title: str
    description: str = ""
    criteria: tuple[str, ...] = ()
    tool_outputs: tuple[str, ...] = ()
    """Outputs of the tool calls of this attempt that succeeded (for grounding)."""

    @property
    def text(self) -> str:
        """The task in words: title, description and acceptance criteria."""
        return " ".join([self.title, self.description, *self.criteria]).strip()


Check = Callable[[CheckedTask, str], str | None | Awaitable[str | None]]
"""A check: ``(task, result) -> None`` when fine, a reason when not (sync or async)."""


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """A check the result failed."""

    name: str
    reason: str
    verdict: CheckVerdict = "retry"

    @property
    def source(self) -> str:
        """The verdict's source as records show it."""
        return f"check:{self.name}"


def check_name(check: Check) -> str:
    """The name a check is known by: its ``name`` attribute, else its function name."""
    name = getattr(check, "name", None) or getattr(check, "__name__", None)
    return str(name) if name else type(check).__name__


async def run_checks(
    checks: Sequence[Check], task: CheckedTask, result: str
) -> CheckOutcome | None:
    """The first check (in order) that ``result`` fails, or None when it passes them all.

    Raises:
        CheckError: a check raised something other than :class:`CheckFailed`.
    """
    for check in checks:
        name = check_name(check)
        try:
            reason = check(task, result)
            if inspect.isawaitable(reason):
                reason = await reason
        except CheckFailed as failed:
            return CheckOutcome(name, failed.reason, failed.verdict)
        except Exception as exc:
            raise CheckError(f"check {name!r} raised {type(exc).__name__}: {exc}") from exc
        if reason:
            return CheckOutcome(name, str(reason))
    return None
