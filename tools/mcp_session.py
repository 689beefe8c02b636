"""One MCP server's session, kept in a supervisor task of its own.

The SDK's ``Client`` runs its transport in anyio task groups: when the transport fails
(an HTTP server gone: ``ReadError``, ``ConnectError``), the group cancels the task that
entered the client and raises there. So no run enters a client itself. A
:class:`SupervisedSession` enters it in its own asyncio task, and tool calls, made from
the run's tasks, only borrow it. When the server goes away:

* the calls pending on it end as :class:`MCPServerUnavailable` (a tool error naming the
  server), and the session is dropped;
* the next call connects again (a new process for stdio), with bounded attempts and
  exponential backoff (tenacity); when that fails too, that call is a tool error, and the
  call after it tries again.

A call that was pending when the server went away is never sent again: it may have had
its effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
from tenacity import (
    AsyncRetrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)

__all__ = ["MCPServerUnavailable", "SupervisedSession"]

logger = logging.getLogger(__name__)


class MCPServerUnavailable(RuntimeError):
    """The MCP server could not be reached, or went away during the call."""


_FATAL_START = (FileNotFoundError, PermissionError, NotADirectoryError, ValueError)
"""Start-up failures that another attempt cannot mend (no such command, bad arguments)."""


def leaf_error(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    """``Type: message`` of the error that matters inside ``exc``."""
    inner = leaf_error(exc)
    text = str(inner).strip()
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection is gone (not that the server refused a call)."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    inner = leaf_error(exc)
    if isinstance(inner, MCPError):
        return inner.code == CONNECTION_CLOSED
    if isinstance(inner, (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError)):
        return True
    if isinstance(inner, anyio.EndOfStream):
        return True
    # the SDK's HTTP transport errors (httpx2) without importing it here
    return any(c.__name__ in ("TransportError", "HTTPError") for c in type(inner).__mro__)


def is_session_gone(exc: BaseException) -> bool:
    """Whether an HTTP server refused the call for a session it does not know (it restarted).

    A server answers such a request with HTTP 404 before running it: the SDK raises its
    JSON-RPC error (``Session not found`` from the Python SDK's server, code -32001 from
    others) or, without one, ``Session terminated``.
    """
    from mcp.shared.exceptions import MCPError

    inner = leaf_error(exc)
    if not isinstance(inner, MCPError):
        return False
    text = str(inner).lower()
    return "session" in text and ("not found" in text or "terminated" in text)


def _closed(client: Any) -> bool:
    """Whether the client's connection is known to be closed (a stdio server that exited).

    The SDK has no public flag for it; its JSON-RPC dispatcher's ``_closed`` is read
    defensively (False when absent), so a newer SDK only loses this shortcut: the call
    then fails as a connection failure, and the next one reconnects.
    """
    session = getattr(client, "_session", None)
    return getattr(getattr(session, "_dispatcher", None), "_closed", False) is True


class _SessionGone(Exception):
    """The server refused a call for an unknown session: it may be sent again."""


@dataclass(eq=False)
class _Connection:
    """One live client, and the calls borrowing it."""

    client: Any
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    cause: str = ""
    calls: set[anyio.CancelScope] = field(default_factory=set)

    def lose(self, cause: str) -> None:
        if self.lost.is_set():
            return
        self.cause = cause
        self.lost.set()
        for scope in self.calls:
            scope.cancel()


class SupervisedSession:
    """A server's client, connected and reconnected by a task of its own.

    Args:
        name: how errors name the server (e.g. ``MCP server 'time' (uvx mcp-server-time)``).
        open_client: makes a new, unentered ``mcp.Client`` (one per connection).
        attempts: connection attempts per round (a start-up, or a reconnect).
        backoff_s: first wait between attempts; it doubles, up to 30 s.
    """

    def __init__(
        self,
        name: str,
        open_client: Callable[[], Any],
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self.name = name
        self._open_client = open_client
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._connection: _Connection | None = None
        self._round: asyncio.Future[_Connection] | None = None
        self._wanted = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Any:
        """Start the supervisor and connect; the connected client.

        Raises:
            MCPServerUnavailable: no attempt connected (the message has the cause).
        """
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-session {self.name}")
        return (await self._connected()).client

    async def close(self) -> None:
        """Disconnect and stop the supervisor (pending calls end as unavailable)."""
        self._closing.set()
        self._wanted.set()
        if self._connection is not None:
            self._connection.lose("the run ended")
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), 30)
            except TimeoutError:
                task.cancel()
                await asyncio.wait([task])

    async def call(self, run: Callable[[Any], Any]) -> Any:
        """``await run(client)`` on a live connection; a lost connection ends it.

        Raises:
            MCPServerUnavailable: the server could not be reached, or went away while
                the call was pending (the call may or may not have had its effect).
        """
        connection = await self._connected()
        if _closed(connection.client):  # it died while idle: this call was not sent yet
            connection.lose("the connection had closed")
            connection = await self._connected()
        try:
            return await self._call_on(connection, run)
        except _SessionGone as gone:  # the server restarted: it refused the call unread
            connection.lose(str(gone))
        try:
            return await self._call_on(await self._connected(), run)
        except _SessionGone as again:
            raise MCPServerUnavailable(
                f"{self.name} refused the call on a new session too ({again})"
            ) from None

    async def _call_on(self, connection: _Connection, run: Callable[[Any], Any]) -> Any:
        with anyio.CancelScope() as scope:
            connection.calls.add(scope)
            try:
                return await run(connection.client)
            except Exception as exc:
                if is_session_gone(exc):
                    raise _SessionGone(describe(exc)) from exc
                if not is_connection_failure(exc):
                    raise
                connection.lose(describe(exc))
            finally:
                connection.calls.discard(scope)
        raise MCPServerUnavailable(
            f"{self.name} went away during the call ({connection.cause}); the call was not"
            " repeated and may or may not have had its effect; the next call reconnects"
        )

    async def _connected(self) -> _Connection:
        if self._closing.is_set():
            raise MCPServerUnavailable(f"{self.name} is closed: the run has ended")
        live = self._connection
        if live is not None and not live.lost.is_set():
            return live
        if self._round is None or self._round.done():
            self._round = asyncio.get_running_loop().create_future()
            self._round.add_done_callback(_retrieve)
            self._wanted.set()
        return await asyncio.shield(self._round)

    async def _supervise(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if self._closing.is_set():
                break
            round_ = self._round
            try:
                await self._connect_and_hold(round_)
            except Exception as exc:  # the transport failed: the connection is gone
                logger.info("%s: connection ended: %s", self.name, describe(exc))
                if round_ is not None and not round_.done():
                    round_.set_exception(
                        MCPServerUnavailable(f"{self.name} is unreachable: {describe(exc)}")
                    )
        if self._round is not None and not self._round.done():
            self._round.set_exception(MCPServerUnavailable(f"{self.name} is closed"))

    async def _connect_and_hold(self, round_: asyncio.Future[_Connection] | None) -> None:
        async with AsyncExitStack() as stack:
            client = await self._connect(stack)
            connection = _Connection(client)
            self._connection = connection
            if round_ is not None and not round_.done():
                round_.set_result(connection)
            try:
                closing = asyncio.ensure_future(self._closing.wait())
                lost = asyncio.ensure_future(connection.lost.wait())
                try:
                    await asyncio.wait({closing, lost}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    closing.cancel()
                    lost.cancel()
            finally:
                # the transport failing cancels this task: the calls on it end too
                connection.lose(connection.cause or "the connection closed")
                if self._connection is connection:
                    self._connection = None

    async def _connect(self, stack: AsyncExitStack) -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff_s, max=30),
            retry=retry_if_not_exception_type(_FATAL_START),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if self._closing.is_set():
                    raise MCPServerUnavailable(f"{self.name} is closed")
                try:
                    return await stack.enter_async_context(self._open_client())
                except BaseExceptionGroup as group:  # the SDK's task groups wrap the cause
                    raise leaf_error(group) from group
        raise AssertionError("unreachable: tenacity reraises the last error")


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a round's error as seen: a round nobody awaited must not warn at exit."""
    if not future.cancelled():
        future.exception()
