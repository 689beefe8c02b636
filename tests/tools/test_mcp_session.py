"""The MCP session supervisor with stand-in clients: what a call does when the session is
gone before it is sent, and when a restarted HTTP server refuses an unknown session."""

from __future__ import annotations

from types import SimpleNamespace, TracebackType
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INVALID_REQUEST

from orchestra.tools.mcp_session import MCPServerUnavailable, SupervisedSession


class FakeClient:
    """Enters like ``mcp.Client``; ``answers`` are what its calls return or raise, in turn."""

    def __init__(self, answers: list[object]) -> None:
        self.answers = answers
        self._session = SimpleNamespace(_dispatcher=SimpleNamespace(_closed=False))

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def call(self) -> object:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def factory(*clients: FakeClient) -> tuple[list[FakeClient], Any]:
    opened: list[FakeClient] = []
    pending = list(clients)

    def open_client() -> FakeClient:
        opened.append(pending.pop(0))
        return opened[-1]

    return opened, open_client


async def test_a_call_after_the_connection_closed_while_idle_goes_on_a_new_connection():
    first, second = FakeClient([]), FakeClient(["fresh"])
    opened, open_client = factory(first, second)
    session = SupervisedSession("MCP server 'x'", open_client, backoff_s=0)
    await session.start()
    first._session._dispatcher._closed = True  # the server exited between calls
    try:
        assert await session.call(lambda c: c.call()) == "fresh"
    finally:
        await session.close()
    assert opened == [first, second]


async def test_a_restarted_server_refusing_the_old_session_gets_the_call_on_a_new_one():
    gone = MCPError(code=INVALID_REQUEST, message="Session terminated")
    unknown = MCPError(code=-32001, message="Session not found")
    first, second = FakeClient([unknown]), FakeClient(["done", gone, gone])
    opened, open_client = factory(first, second, FakeClient([gone]))
    session = SupervisedSession("MCP server 'x'", open_client, backoff_s=0)
    await session.start()
    try:
        assert await session.call(lambda c: c.call()) == "done"
        assert opened == [first, second]
        with pytest.raises(MCPServerUnavailable, match="refused the call on a new session too"):
            await session.call(lambda c: c.call())
    finally:
        await session.close()


async def test_a_connection_failure_during_a_call_is_unavailable_and_the_next_call_reconnects():
    closed = MCPError(code=CONNECTION_CLOSED, message="Connection closed")
    first, second = FakeClient([closed]), FakeClient(["back"])
    opened, open_client = factory(first, second)
    session = SupervisedSession("MCP server 'x'", open_client, backoff_s=0)
    await session.start()
    try:
        with pytest.raises(MCPServerUnavailable, match="MCP server 'x' went away during the call"):
            await session.call(lambda c: c.call())
        assert await session.call(lambda c: c.call()) == "back"
    finally:
        await session.close()
    # other server errors are the tool's: they pass through and keep the session
    refused = MCPError(code=INVALID_REQUEST, message="unknown tool")
    opened, open_client = factory(FakeClient([refused, "still here"]))
    session = SupervisedSession("MCP server 'x'", open_client, backoff_s=0)
    await session.start()
    try:
        with pytest.raises(MCPError, match="unknown tool"):
            await session.call(lambda c: c.call())
        assert await session.call(lambda c: c.call()) == "still here"
    finally:
        await session.close()
    assert len(opened) == 1
