"""Where tool calls run: the one small interface between the engine and an executor.

A team has one :class:`ToolExecutor`. For each run it opens a :class:`ToolRunner`
(:meth:`ToolExecutor.open_run`), which every tool call of that run goes through, and
closes it when the run ends, however it ends. Nothing else in the engine knows which
executor runs the calls.

Two implementations: :class:`LocalExecutor` (the default: the call runs in this process
on its event loop, a sync tool in a worker thread) and
:class:`orchestra.executors.RayExecutor` (calls run as Ray tasks or, for stateful tools,
in a Ray actor per run).

A runner's contract:

* ``await runner.run(tool, args)`` returns what the tool returns, or raises what it
  raised (the original exception type, so retry rules by type keep working);
* cancelling that await cancels the call wherever it runs (timeouts and stopped runs
  rely on it);
* closing the runner cancels what is still running and releases per-run sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, runtime_checkable

from langchain_core.tools import BaseTool

__all__ = ["LocalExecutor", "ToolExecutor", "ToolRunner"]


@runtime_checkable
class ToolRunner(Protocol):
    """Runs the tool calls of one run (see the module docstring)."""

    async def run(self, tool: BaseTool, args: Mapping[str, Any]) -> Any:
        """Call ``tool`` with validated ``args``; its result, or its exception."""
        ...


@runtime_checkable
class ToolExecutor(Protocol):
    """Opens a :class:`ToolRunner` per run."""

    name: str
    """Short name for traces and logs (``local``, ``ray``)."""

    def open_run(
        self, run_id: str, tools: Mapping[str, BaseTool]
    ) -> AbstractAsyncContextManager[ToolRunner]:
        """A runner for run ``run_id``, whose tools are ``tools``, closed when the block ends."""
        ...


class _LocalRunner:
    async def run(self, tool: BaseTool, args: Mapping[str, Any]) -> Any:
        # ainvoke runs a sync tool in a worker thread, so a timeout holds for both kinds
        return await tool.ainvoke(dict(args))


class LocalExecutor:
    """Every call in this process, on the run's event loop (the default executor)."""

    name = "local"

    @asynccontextmanager
    async def open_run(
        self, run_id: str, tools: Mapping[str, BaseTool]
    ) -> AsyncIterator[ToolRunner]:
        """A runner calling each tool directly; nothing to release afterwards."""
        yield LOCAL_RUNNER

    def __repr__(self) -> str:
        return "LocalExecutor()"


LOCAL_RUNNER: ToolRunner = _LocalRunner()
"""The runner of :class:`LocalExecutor` (it holds no state, so one serves every run)."""
