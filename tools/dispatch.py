"""Where tool calls run: the one small interface between the engine and an executor.

A team has one :class:`ToolExecutor`. For each run it opens a :class:`ToolRunner`
(:meth:`ToolExecutor.open_run`), which every tool call of that run goes through, and
closes it when the run ends, however it ends. Nothing else in the engine knows which
executor runs the calls.

Two implementations: :class:`LocalExecutor` (the default: the call runs in this process
on its event loop, a sync tool in a daemon thread of its own, see :func:`run_sync_tool`) and
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

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, Protocol, runtime_checkable

from langchain_core.tools import BaseTool, StructuredTool, Tool

from orchestra.tools.direct import ainvoke_tool

__all__ = ["LocalExecutor", "ToolExecutor", "ToolRunner", "is_sync_tool", "run_sync_tool"]


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


_DEFAULT_ARUNS = (BaseTool._arun, StructuredTool._arun, Tool._arun)


def is_sync_tool(tool: BaseTool) -> bool:
    """Whether ``tool`` has only a blocking implementation (no coroutine of its own)."""
    if getattr(tool, "coroutine", None) is not None:
        return False
    return type(tool)._arun in _DEFAULT_ARUNS


async def run_sync_tool(tool: BaseTool, args: Mapping[str, Any]) -> Any:
    """Call a sync tool in a daemon thread of its own; its result, or its exception.

    LangChain would run it in the event loop's default executor, whose threads
    ``asyncio.run`` and the interpreter wait for at exit: one call hung past its timeout
    then kept ``Team.run()`` and ``orchestra run`` from ever returning. A daemon thread
    is waited for by nothing. Cancelling the await (a timeout, a stopped run) abandons the
    call: Python cannot stop a thread, so a hung tool's thread runs on until the tool
    returns or the process exits, and what it returns then is dropped.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()  # the tool span and run settings, as ainvoke would

    def deliver(value: Any, error: BaseException | None) -> None:
        if done.done():  # abandoned: nobody waits for this call any more
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)

    def call() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = context.run(tool.invoke, dict(args))
        except StopIteration as exc:  # cannot be set on a future
            error = RuntimeError(f"the tool raised StopIteration: {exc}")
        except BaseException as exc:  # handed to the caller, as ainvoke would raise it
            error = exc
        with suppress(RuntimeError):  # the loop is closed: the run ended without it
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=call, name=f"orchestra-tool-{tool.name}", daemon=True).start()
    return await done


class _LocalRunner:
    async def run(self, tool: BaseTool, args: Mapping[str, Any]) -> Any:
        # Either way a timeout holds: cancelling this await abandons the call.
        if is_sync_tool(tool):
            return await run_sync_tool(tool, args)
        return await ainvoke_tool(tool, args)


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
