"""MCP servers as tool sources: stdio commands and streamable-HTTP URLs.

Built on the official ``mcp`` SDK (its high-level ``Client``) rather than
langchain-mcp-adapters: orchestra already turns tools into langchain tools with its own
options (timeouts, retries, the call log), and keeping one ``Client`` open for a whole run
avoids the adapters' default of a new session (for stdio: a new process) per call.

A server is connected when a run starts and closed when it ends; its tools then behave
like any other tool (allowlists, argument validation against the server's JSON schema,
timeouts, the tool-call log).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from orchestra.core.errors import ConfigError
from orchestra.tools.options import ToolOptions, with_options

__all__ = ["MCPServerTools", "MCPToolError", "mcp_server"]


class MCPToolError(RuntimeError):
    """The MCP server reported an error for a tool call."""


class MCPServerTools:
    """The tools of one MCP server (see :func:`mcp_server`)."""

    def __init__(
        self,
        target: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        prefix: str = "",
        options: ToolOptions | None = None,
    ) -> None:
        self.target = target.strip()
        if not self.target:
            raise ConfigError("mcp_server needs a command or a URL")
        self.env = dict(env) if env else None
        self.cwd = cwd
        self.prefix = prefix
        # the server's session lives in this process: its tools cannot run elsewhere
        self.options = (options or ToolOptions()).model_copy(update={"in_process": True})

    @property
    def is_http(self) -> bool:
        """Whether the server is reached over streamable HTTP (else: a stdio command)."""
        return self.target.startswith(("http://", "https://"))

    def _server(self) -> Any:
        if self.is_http:
            return self.target
        from mcp.client.stdio import StdioServerParameters

        command, *args = shlex.split(self.target)
        return StdioServerParameters(command=command, args=args, env=self.env, cwd=self.cwd)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[list[BaseTool]]:
        """Start or reach the server and yield its tools; they work until the block ends."""
        from mcp import Client

        async with Client(self._server()) as client:
            listed: list[Any] = []
            cursor: str | None = None
            while True:
                page = await client.list_tools(cursor=cursor)
                listed.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            yield [self._as_tool(client, spec) for spec in listed]

    def _as_tool(self, client: Any, spec: Any) -> BaseTool:
        remote_name = spec.name

        async def call(**arguments: Any) -> str:
            result = await client.call_tool(remote_name, arguments)
            text = _content_text(result)
            if result.is_error:
                raise MCPToolError(text)
            return text

        made = StructuredTool.from_function(
            coroutine=call,
            name=f"{self.prefix}{remote_name}",
            description=spec.description or f"MCP tool {remote_name}",
            args_schema=spec.input_schema or {"type": "object", "properties": {}},
        )
        return with_options(made, self.options)


def _content_text(result: Any) -> str:
    parts: list[str] = []
    for item in result.content or []:
        text = getattr(item, "text", None)
        parts.append(text if isinstance(text, str) else json.dumps(item.model_dump(), default=str))
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, default=str))
    return "\n".join(parts)


def mcp_server(
    target: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    prefix: str = "",
    side_effects: bool = False,
    timeout: float | None = 60.0,
    retries: int = 0,
) -> MCPServerTools:
    """An MCP server whose tools a team can use: ``Team(tools=[mcp_server(...)])``.

    Args:
        target: a command line started over stdio (``"python my_server.py"``), or the URL of
            a streamable-HTTP server (``"http://127.0.0.1:8000/mcp"``).
        env: extra environment variables for a stdio server.
        cwd: working directory of a stdio server.
        prefix: prepended to the server's tool names (to keep two servers apart).
        side_effects: whether the server's tools change the world (for the call log).
        timeout: seconds per call.
        retries: extra tries for calls failing with ``RetryableToolError``.
    """
    options = ToolOptions(side_effects=side_effects, timeout_s=timeout, retries=retries)
    return MCPServerTools(target, env=env, cwd=cwd, prefix=prefix, options=options)
