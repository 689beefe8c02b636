"""How a tool wants to be called: side effects, timeout, retries, result size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OPTIONS_KEY", "OnInterrupted", "ToolOptions", "options_of", "with_options"]

OPTIONS_KEY = "orchestra"
"""Key of the options in a langchain tool's ``metadata``."""

OnInterrupted = Literal["retry", "skip", "ask"]
"""What a resumed run does with a side-effecting call that was in flight when the run
stopped (started, never completed): run it again, tell the model it was interrupted, or
ask a person."""


class ToolOptions(BaseModel):
    """Call options of one tool; any langchain tool without them gets the defaults."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    side_effects: bool = False
    """The tool changes the world (sends, writes, deletes): a resumed run must not repeat a
    call that completed (the tool-call log's idempotency key decides)."""
    on_interrupted: OnInterrupted = "retry"
    """For a side-effecting tool, what a resumed run does with a call that was in flight
    when the run was killed (logged as started, never as completed): ``"retry"`` runs it
    again (at least once: the tool should dedupe by its idempotency key), ``"skip"`` does
    not, and the model reads that the call was interrupted and may or may not have taken
    effect, ``"ask"`` pauses the task for a person like ``requires_approval`` (approve:
    run it again; reject: do not)."""
    idempotency_key_arg: str | None = None
    """The parameter that receives the call's idempotency key (one annotated
    :data:`~orchestra.tools.IdempotencyKey`); hidden from the model's schema."""
    timeout_s: float | None = Field(default=60.0, gt=0)
    """Seconds before the call is abandoned and the model told so (None: no limit).
    A sync tool runs in a worker thread; Python cannot kill that thread, so it finishes in
    the background, but the run moves on."""
    retries: int = Field(default=0, ge=0, le=10)
    """Extra tries for errors the tool marks retryable (``RetryableToolError`` or a type
    in ``retry_on``), with exponential backoff."""
    retry_on: tuple[type[BaseException], ...] = ()
    """Exception types worth retrying, besides ``RetryableToolError``."""
    backoff_s: float = Field(default=0.5, ge=0)
    """First wait between tries; it doubles each time (at most 30 s)."""
    max_result_chars: int = Field(default=8000, ge=200)
    """Longer results reach the model cut, with a marker; the log keeps them whole."""
    requires_approval: bool = False
    """Each call waits for a person: the run pauses before the call (persisted, so it can
    be approved from another process), and goes on with the call approved, its arguments
    edited, or rejected (the model is told why)."""

    # Where the call runs: these matter to an executor that spreads calls over machines
    # (``RayExecutor``); the default in-process executor runs every call where it is.
    num_cpus: float | None = Field(default=None, ge=0)
    """CPUs a call needs on the cluster (None: the executor's default; 0 for a tool that
    only waits on I/O, so that many calls share a core)."""
    num_gpus: float | None = Field(default=None, ge=0)
    """GPUs (or a fraction of one) a call needs on the cluster."""
    resources: Mapping[str, float] = Field(default_factory=dict)
    """Custom cluster resources a call needs, e.g. ``{"browser": 1}``."""
    stateful: bool = False
    """The tool keeps a session between calls (a login, a browser, a model in memory): on
    a cluster its calls of one run go to one long-lived worker (a Ray actor) that keeps the
    tool object, one call at a time, instead of a fresh copy per call. Tools of one
    :class:`~orchestra.tools.ToolSet` instance share that worker."""
    in_process: bool = False
    """The tool must run in the team's own process (it holds a client or connection of
    that process, as the memory and MCP tools do); executors never ship it elsewhere."""


_DEFAULT_OPTIONS = ToolOptions()
"""What a plain langchain tool gets (options are frozen: one instance serves them all)."""


def options_of(tool: BaseTool) -> ToolOptions:
    """The tool's options, or the defaults for a plain langchain tool."""
    found = (tool.metadata or {}).get(OPTIONS_KEY)
    return found if isinstance(found, ToolOptions) else _DEFAULT_OPTIONS


def with_options(tool: BaseTool, options: ToolOptions) -> BaseTool:
    """Attach ``options`` to ``tool`` (in its metadata) and return it."""
    tool.metadata = {**(tool.metadata or {}), OPTIONS_KEY: options}
    return tool
