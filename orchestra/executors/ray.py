"""Tool calls as Ray tasks: :class:`RayExecutor`.

Each call of a stateless tool is a Ray task asking for the tool's resources
(``num_cpus``, ``num_gpus``, custom ``resources`` from its :class:`ToolOptions`); the tool
object is put in Ray's object store once per run. A ``stateful`` tool runs in a Ray actor
created on its first call of the run and killed when the run ends; the tools of one
``ToolSet`` instance share that actor (and so their state). Tools marked ``in_process``
(memory and MCP tools, which hold this process's clients) are called here.

Cancelling a call (a timeout, a cancelled branch, a stopped run) cancels its Ray task;
closing the run's runner cancels whatever is left. Ray retries a task whose worker died
only for tools without side effects; a tool's own errors are never retried by Ray (the
tool's ``retries`` option does that, with backoff, for the errors it names).

Safe local use: without an address (and no ``RAY_ADDRESS``) the executor starts Ray
inside this process with ``num_cpus`` CPUs, no dashboard, and usage statistics off
(``RAY_USAGE_STATS_ENABLED=0`` unless you set it). Ray 2.59 and later protect a local
instance with a generated token; to join a cluster started with ``RAY_AUTH_MODE=token``
pass its ``token``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool

from orchestra.core.errors import ConfigError
from orchestra.tools.dispatch import LOCAL_RUNNER, ToolRunner
from orchestra.tools.options import ToolOptions, options_of

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["RayExecutor", "await_remote", "ray_module"]

USAGE_STATS_ENV = "RAY_USAGE_STATS_ENABLED"


def ray_module() -> ModuleType:
    """The ``ray`` package; :class:`ConfigError` saying how to install it when missing."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "the Ray executor needs the ray extra: pip install 'orchestra-teams[ray]'"
        ) from exc
    return ray


class RayExecutor:
    """Runs a team's tool calls on a Ray cluster (see the module docstring).

    Args:
        address: the cluster to join: ``"auto"`` (one started with ``ray start`` on this
            machine), ``"ray://host:10001"`` (Ray Client) or a GCS address. None: the
            ``RAY_ADDRESS`` environment variable when set, else a Ray instance started
            inside this process.
        num_cpus: CPUs of a Ray instance this executor starts (default: all of them).
        num_gpus: GPUs of a Ray instance this executor starts.
        token: the cluster's authentication token, for clusters started with
            ``RAY_AUTH_MODE=token`` (else Ray reads ``RAY_AUTH_TOKEN`` or its token file).
        namespace: the Ray namespace of the team's tasks and actors.
        runtime_env: Ray runtime environment for the workers (e.g. ``{"pip": [...]}`` or
            ``{"working_dir": "."}``) when the cluster lacks the tools' code.
        default_num_cpus: CPUs a call asks for when its tool declares none.
        max_retries: times Ray runs a call again when its worker dies, for tools without
            side effects (side-effecting tools are never re-run by Ray).

    Ray is started (or joined) on the first run, or by :meth:`connect`; a Ray instance
    already initialized in this process (``ray.init`` by you) is used as it is.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        token: str | None = None,
        namespace: str = "orchestra",
        runtime_env: Mapping[str, Any] | None = None,
        default_num_cpus: float = 1.0,
        max_retries: int = 3,
    ) -> None:
        if default_num_cpus < 0:
            raise ConfigError("default_num_cpus must not be negative")
        if max_retries < 0:
            raise ConfigError("max_retries must not be negative")
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.namespace = namespace
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.default_num_cpus = default_num_cpus
        self.max_retries = max_retries
        self._token = token
        self._started_here = False

    def connect(self) -> None:
        """Start or join Ray now (it takes a few seconds); nothing when already connected."""
        ray = ray_module()
        if ray.is_initialized():
            return
        os.environ.setdefault(USAGE_STATS_ENV, "0")
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if self._token:
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ["RAY_AUTH_TOKEN"] = self._token
        kwargs: dict[str, Any] = {"namespace": self.namespace, "runtime_env": self.runtime_env}
        if address is None:
            kwargs |= {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
            kwargs |= {"include_dashboard": False}
        else:
            kwargs["address"] = address
        try:
            ray.init(**kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = address or "a local instance"
            raise ConfigError(f"cannot start or join Ray ({where}): {exc}") from exc
        self._started_here = address is None

    def shutdown(self) -> None:
        """Stop the Ray instance this executor started (a joined cluster is left running)."""
        if self._started_here:
            ray_module().shutdown()
            self._started_here = False

    @asynccontextmanager
    async def open_run(
        self, run_id: str, tools: Mapping[str, BaseTool]
    ) -> AsyncIterator[ToolRunner]:
        """A runner for one run, connecting to Ray first if need be.

        On exit the run's calls still running are cancelled and its sessions (actors)
        killed.
        """
        self.connect()
        runner = _RayRunner(self, tools)
        try:
            yield runner
        finally:
            runner.close()

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r})"


class _RayRunner:
    """The calls of one run: shipped tools, session actors, calls in flight."""

    def __init__(self, executor: RayExecutor, tools: Mapping[str, BaseTool]) -> None:
        self._ray = ray_module()
        self._executor = executor
        self._tools = tools
        self._shipped: dict[int, tuple[BaseTool, Any]] = {}
        self._tasks: dict[int, Any] = {}
        self._sessions: dict[int, Any] = {}
        self._in_flight: set[Any] = set()
        for tool in tools.values():  # unshippable tools fail the run's start, clearly
            options = options_of(tool)
            if not options.in_process and not options.stateful:
                self._ship(tool)

    async def run(self, tool: BaseTool, args: Mapping[str, Any]) -> Any:
        options = options_of(tool)
        if options.in_process:
            return await LOCAL_RUNNER.run(tool, args)
        if options.stateful:
            ref = self._session(tool, options).call.remote(tool.name, dict(args))
        else:
            ref = self._task(tool, options).remote(self._ship(tool), dict(args))
        self._in_flight.add(ref)
        try:
            return await await_remote(ref)
        finally:
            self._in_flight.discard(ref)

    def close(self) -> None:
        for ref in list(self._in_flight):
            self._ray.cancel(ref)
        for actor in self._sessions.values():
            self._ray.kill(actor, no_restart=True)
        self._sessions.clear()

    def _ship(self, tool: BaseTool) -> Any:
        found = self._shipped.get(id(tool))
        if found is not None:
            return found[1]
        try:
            ref = self._ray.put(tool)
        except Exception as exc:
            raise ConfigError(
                f"tool {tool.name!r} cannot be sent to Ray workers ({type(exc).__name__}:"
                f" {exc}); make it from importable code, or mark it in_process=True to run"
                " it in the team's process"
            ) from exc
        self._shipped[id(tool)] = (tool, ref)  # the tool is kept so its id stays its own
        return ref

    def _task(self, tool: BaseTool, options: ToolOptions) -> Any:
        """The remote function with ``tool``'s placement (made once per tool and run)."""
        found = self._tasks.get(id(tool))
        if found is None:
            found = _remote_call().options(name=tool.name, **self._task_options(options))
            self._tasks[id(tool)] = found
        return found

    def _task_options(self, options: ToolOptions) -> dict[str, Any]:
        executor = self._executor
        out: dict[str, Any] = {
            "num_cpus": executor.default_num_cpus if options.num_cpus is None else options.num_cpus,
            "max_retries": 0 if options.side_effects else executor.max_retries,
            "retry_exceptions": False,
        }
        if options.num_gpus:
            out["num_gpus"] = options.num_gpus
        if options.resources:
            out["resources"] = dict(options.resources)
        return out

    def _session(self, tool: BaseTool, options: ToolOptions) -> Any:
        """The actor serving ``tool`` in this run (made on first use)."""
        owner = _owner(tool)
        actor = self._sessions.get(id(owner))
        if actor is not None:
            return actor
        group = {
            t.name: t for t in self._tools.values() if options_of(t).stateful and _owner(t) is owner
        } or {tool.name: tool}
        group.setdefault(tool.name, tool)
        side_effects = any(options_of(t).side_effects for t in group.values())
        restarts = 0 if side_effects else self._executor.max_retries
        placement = {
            k: v
            for k, v in self._task_options(options).items()
            if k in ("num_cpus", "num_gpus", "resources")
        }
        actor = (
            _session_class()
            .options(
                **placement,
                max_concurrency=1,  # a session serves one call at a time
                max_restarts=restarts,
                max_task_retries=restarts,
            )
            .remote(group)
        )
        self._sessions[id(owner)] = actor
        return actor


async def await_remote(ref: Any) -> Any:
    """The result of a Ray task or actor call, as if it had run here.

    Cancelling the await cancels the remote work; an exception raised remotely comes back
    as itself (not wrapped in Ray's ``RayTaskError``), so retry rules by type still hold.
    """
    ray = ray_module()
    try:
        return await ref
    except asyncio.CancelledError:
        ray.cancel(ref)
        raise
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def _owner(tool: BaseTool) -> object:
    """What a stateful tool's state belongs to: a ``ToolSet`` instance, or the tool."""
    for attr in ("coroutine", "func"):
        bound_to = getattr(getattr(tool, attr, None), "__self__", None)
        if bound_to is not None:
            return bound_to
    return tool


def _call_tool(tool: BaseTool, args: dict[str, Any]) -> Any:
    """The body of a Ray task: one call of ``tool``.

    A sync tool runs right in the task's thread, so that Ray's cancellation (an interrupt
    of that thread) stops it; an async one runs on an event loop of its own.
    """
    if getattr(tool, "func", None) is not None:
        return tool.invoke(args)
    return asyncio.run(tool.ainvoke(args))


class _ToolSession:
    """The body of a session actor: the tools of one owner, kept between calls."""

    def __init__(self, tools: dict[str, BaseTool]) -> None:
        self._tools = tools

    async def call(self, name: str, args: dict[str, Any]) -> Any:
        return await self._tools[name].ainvoke(args)


@cache
def _remote_call() -> Any:
    return ray_module().remote(_call_tool)


@cache
def _session_class() -> Any:
    return ray_module().remote(_ToolSession)
