"""Exceptions raised by orchestra.

The hierarchy::

    OrchestraError
    ├── ConfigError            a developer mistake: bad Team/Role/tool configuration
    ├── InputError             bad input to a run (an empty goal, an unknown run id)
    ├── RetryableToolError     raised by a tool: this call may succeed if tried again
    └── RunError               a run could not continue; carries the data needed to debug it
        ├── ModelBehaviorError model output stayed invalid after the bounded repair loop
        │   ├── PlanningError      ... from the planner (carries the raw outputs)
        │   └── RoleDesignError    ... from the role designer
        └── ScriptError        orchestra.testing: the scripted model was called unexpectedly

Exceptions carry data only; whoever handles them decides what to log.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "InputError",
    "ModelBehaviorError",
    "OrchestraError",
    "PlanningError",
    "RetryableToolError",
    "RoleDesignError",
    "RunBusyError",
    "RunError",
    "ScriptError",
]


class OrchestraError(Exception):
    """Root of every exception orchestra raises on purpose."""


class ConfigError(OrchestraError, ValueError):
    """The team, a role or a tool is configured in a way that cannot work."""


class InputError(OrchestraError, ValueError):
    """The input of a run is unusable, e.g. an empty goal or an unknown run id."""


class RetryableToolError(OrchestraError):
    """Raised by a tool when the same call may succeed if tried again (a flaky service).

    orchestra retries it with backoff up to the tool's ``retries``; other exceptions are
    not retried unless the tool lists their types in ``retry_on``.
    """


class RunError(OrchestraError):
    """A run could not continue."""


class RunBusyError(RunError):
    """Another run (in this process or another) is writing this run right now.

    Each run holds a lock while it executes or is edited, so that two workers never
    write the same run's checkpoints at once (they would fork its history). Try again
    when the other one has finished or paused.
    """

    def __init__(self, run_id: str, where: str) -> None:
        super().__init__(f"run {run_id!r} is in use elsewhere ({where}); try again later")
        self.run_id = run_id


class BudgetExceeded(RunError):
    """A run's budget is spent: the call that would have gone over it did not start.

    Attributes:
        reason: which limit, and how much was spent against it.
        scope: None for the run's budget, else the id of the subtree whose budget it is.
    """

    def __init__(self, reason: str, *, scope: str | None = None) -> None:
        super().__init__(f"budget exceeded: {reason}")
        self.reason = reason
        self.scope = scope


class ModelBehaviorError(RunError):
    """A model kept producing output that fails validation, after every repair attempt.

    Attributes:
        agent: which agent produced the output (``planner``, ``role_designer``, ...).
        raw_outputs: every raw reply the model gave, oldest first.
        errors: the validation errors of the last reply.
    """

    def __init__(
        self, message: str, *, agent: str, raw_outputs: Sequence[str], errors: Sequence[str]
    ) -> None:
        super().__init__(message)
        self.agent = agent
        self.raw_outputs = list(raw_outputs)
        self.errors = list(errors)

    @property
    def raw_output(self) -> str:
        """The last raw reply of the model."""
        return self.raw_outputs[-1] if self.raw_outputs else ""


class PlanningError(ModelBehaviorError):
    """The planner did not produce a valid task tree within its repair budget."""


class RoleDesignError(ModelBehaviorError):
    """The role designer did not produce a valid role spec within its repair budget."""


class ScriptError(RunError):
    """A scripted test model ran out of replies or got a call its script does not cover."""
