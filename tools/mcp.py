"""MCP servers as tool sources: stdio commands and streamable-HTTP URLs.

Built on the official ``mcp`` SDK (its high-level ``Client``) rather than
langchain-mcp-adapters: orchestra already turns tools into langchain tools with its own
options (timeouts, retries, the call log), and keeping one session open for a whole run
avoids the adapters' default of a new session (for stdio: a new process) per call.

A server is connected when a run starts and closed when it ends; its tools then behave
like any other tool (allowlists, argument validation against the server's JSON schema,
timeouts, the tool-call log). The session lives in a supervisor task of its own
(:mod:`orchestra.tools.mcp_session`): a server that dies makes the calls pending on it,
and calls while it stays down, tool errors naming the server, and the next call after it
is back reconnects. A stdio server's stderr goes to ``$ORCHESTRA_HOME/logs/mcp-<name>.log``.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from langchain_core.tools import BaseTool, StructuredTool

from orchestra.core.errors import ConfigError
from orchestra.core.home import orchestra_home
from orchestra.tools.content import MediaPart
from orchestra.tools.mcp_session import MCPServerUnavailable, SupervisedSession, describe
from orchestra.tools.options import ToolOptions, with_options
from orchestra.tools.progress import current_reporter

__all__ = [
    "MCPServerTools",
    "MCPServerUnavailable",
    "MCPToolError",
    "MCPTools",
    "mcp_server",
]


# The SDK logs a dying server's transport errors as warnings; with no logging set up,
# Python's last-resort handler would print them on the user's terminal. Like orchestra's
# own logger, the SDK's goes where the application sends logs, and nowhere otherwise: the
# tool errors already say what happened.
logging.getLogger("mcp").addHandler(logging.NullHandler())


class MCPToolError(RuntimeError):
    """The MCP server reported an error for a tool call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MCPTools:
    """A connected server's tools, and what could not be offered of it."""

    tools: list[BaseTool]
    skipped: list[str] = field(default_factory=list)
    """Why a tool of the server is not offered (one sentence each, naming the tool)."""
    log_path: Path | None = None
    """Where a stdio server's stderr goes."""


class MCPServerTools:
    """The tools of one MCP server (see :func:`mcp_server`)."""

    def __init__(
        self,
        target: str,
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        prefix: str = "",
        options: ToolOptions | None = None,
        reconnect_attempts: int = 3,
        reconnect_backoff_s: float = 0.5,
        protocol: str = "auto",
    ) -> None:
        self.target = target.strip()
        if not self.target:
            raise ConfigError("mcp_server needs a command or a URL")
        if reconnect_attempts < 1:
            raise ConfigError("mcp_server reconnect_attempts must be at least 1")
        self.name = _safe_name(name) if name else _default_name(self.target)
        self.env = dict(env) if env else None
        self.cwd = cwd
        self.prefix = prefix
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_backoff_s = reconnect_backoff_s
        self.protocol = protocol
        # the server's session lives in this process: its tools cannot run elsewhere
        self.options = (options or ToolOptions()).model_copy(update={"in_process": True})

    @property
    def is_http(self) -> bool:
        """Whether the server is reached over streamable HTTP (else: a stdio command)."""
        return self.target.startswith(("http://", "https://"))

    @property
    def label(self) -> str:
        """How messages name the server: ``MCP server 'time' (uvx mcp-server-time)``."""
        return f"MCP server {self.name!r} ({self.target})"

    @property
    def log_path(self) -> Path | None:
        """Where a stdio server's stderr goes (None for an HTTP server)."""
        return None if self.is_http else orchestra_home() / "logs" / f"mcp-{self.name}.log"

    def _client(self, errlog: TextIO | None) -> Any:
        """A new, unentered SDK client for one connection."""
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters, stdio_client

        if self.is_http:
            return Client(self.target, mode=self.protocol)
        assert errlog is not None
        command, *args = shlex.split(self.target)
        params = StdioServerParameters(command=command, args=args, env=self.env, cwd=self.cwd)
        return Client(stdio_client(params, errlog=errlog), mode=self.protocol)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[MCPTools]:
        """Start or reach the server and yield its tools; they work until the block ends.

        Raises:
            ConfigError: the server could not be started or reached (the message names it,
                the cause, and for stdio the log with its stderr).
        """
        log = self._open_log()
        try:
            session = SupervisedSession(
                self.label,
                lambda: self._client(log),
                attempts=self.reconnect_attempts,
                backoff_s=self.reconnect_backoff_s,
            )
            try:
                client = await session.start()
                listed = await _list_tools(client)
            except Exception as exc:
                await session.close()
                raise ConfigError(self._start_failure(exc)) from None
            try:
                tools: list[BaseTool] = []
                skipped: list[str] = []
                for spec in listed:
                    if _needs_task(spec):
                        skipped.append(
                            f"tool {self.prefix}{spec.name!r} of {self.label} is not offered:"
                            " it requires MCP task-augmented execution, which orchestra does"
                            " not support"
                        )
                    else:
                        tools.append(self._as_tool(session, spec))
                yield MCPTools(tools=tools, skipped=skipped, log_path=self.log_path)
            finally:
                await session.close()
        finally:
            if log is not None:
                log.close()

    def _open_log(self) -> TextIO | None:
        path = self.log_path
        if path is None:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            log = path.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise ConfigError(
                f"{self.label}: cannot open its stderr log {path}: {exc}; point ORCHESTRA_HOME"
                " at a writable folder"
            ) from None
        log.write(f"--- {datetime.now(UTC).isoformat()} starting {self.target}\n")
        return log

    def _start_failure(self, exc: BaseException) -> str:
        cause = describe(exc).removeprefix("MCPServerUnavailable: ")
        cause = cause.removeprefix(f"{self.label} is unreachable: ")
        what = "reach" if self.is_http else "start"
        message = f"could not {what} {self.label}: {cause}"
        if self.log_path is not None:
            last = _last_line(self.log_path)
            message += f"; its stderr is in {self.log_path}"
            if last:
                message += f" (last line: {last!r})"
        return message

    def _as_tool(self, session: SupervisedSession, spec: Any) -> BaseTool:
        remote_name = spec.name
        label = self.label
        log_path = self.log_path

        async def call(**arguments: Any) -> list[str | MediaPart] | str:
            reporter = current_reporter()  # progress arrives in the session's own task

            async def progress(done: float, total: float | None, message: str | None) -> None:
                if reporter is not None:
                    reporter(done, total, message)

            async def run(client: Any) -> Any:
                return await client.call_tool(remote_name, arguments, progress_callback=progress)

            try:
                result = await session.call(run)
            except MCPServerUnavailable as exc:
                where = f" (its stderr is in {log_path})" if log_path is not None else ""
                raise MCPServerUnavailable(f"{exc}{where}") from None
            pieces = mcp_content(result)
            texts = [p for p in pieces if isinstance(p, str)]
            if result.is_error:
                raise MCPToolError("\n".join(texts) or f"{label}: tool error")
            return pieces if len(texts) < len(pieces) else "\n".join(texts)

        made = StructuredTool.from_function(
            coroutine=call,
            name=f"{self.prefix}{remote_name}",
            description=spec.description or f"MCP tool {remote_name}",
            args_schema=spec.input_schema or {"type": "object", "properties": {}},
        )
        return with_options(made, self.options)


async def _list_tools(client: Any) -> list[Any]:
    listed: list[Any] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        listed.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return listed


def _needs_task(spec: Any) -> bool:
    """Whether the tool can only be called with MCP task augmentation.

    The SDK defines the task types but does not drive ``tasks/*`` (tasks left the core
    spec in 2026-07-28), so such a tool would fail on every call: it is not offered.
    """
    execution = getattr(spec, "execution", None)
    return getattr(execution, "task_support", None) == "required"


def mcp_content(result: Any) -> list[str | MediaPart]:
    """An MCP tool result as text pieces and media parts (see :mod:`orchestra.tools.content`).

    Images and audio become media parts; an embedded resource is its text when it has
    text, else a reference naming its ``uri`` and ``mimeType``; a resource link is such a
    reference too. Structured content stands in when there is no other content.
    """
    pieces: list[str | MediaPart] = []
    for item in result.content or []:
        kind = getattr(item, "type", None)
        if kind == "text":
            pieces.append(item.text)
        elif kind in ("image", "audio"):
            pieces.append({"type": kind, "mimeType": item.mime_type, "data": item.data})
        elif kind == "resource":
            resource = item.resource
            text = getattr(resource, "text", None)
            pieces.append(text if isinstance(text, str) else _reference(resource))
        elif kind == "resource_link":
            pieces.append(_reference(item))
        else:
            pieces.append(json.dumps(item.model_dump(by_alias=True, mode="json"), default=str))
    if not pieces and result.structured_content is not None:
        pieces.append(json.dumps(result.structured_content, default=str))
    return pieces


def _reference(resource: Any) -> str:
    ref = {"uri": str(resource.uri), "mimeType": getattr(resource, "mime_type", None)}
    return f"[resource {json.dumps({k: v for k, v in ref.items() if v is not None})}]"


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    real = [line.strip() for line in lines if line.strip() and not line.startswith("--- ")]
    return real[-1][:200] if real else ""


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    if not cleaned:
        raise ConfigError(f"mcp_server name {name!r} has no letters or digits")
    return cleaned


_LAUNCHERS = frozenset(
    {"python", "python3", "node", "npx", "uvx", "uv", "pipx", "bun", "bunx", "deno", "docker"}
)
_GENERIC_STEMS = frozenset({"index", "main", "__main__", "cli", "server"})
_BUILD_DIRS = frozenset({"dist", "build", "src", "lib", "bin", "out"})


def _default_name(target: str) -> str:
    """A name for logs and messages: the script or package a command runs, or host-port.

    ``uvx mcp-server-time --local-timezone UTC`` is ``mcp-server-time``, ``python
    my_server.py`` is ``my_server``, ``node .../server-everything/dist/index.js`` is
    ``server-everything``.
    """
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return _safe_name(f"{parts.hostname or 'server'}-{parts.port or parts.scheme}")
    words = shlex.split(target)
    chosen = words[0]
    if Path(chosen).name.split(".")[0].rstrip("0123456789.") in _LAUNCHERS:
        rest = [w for w in words[1:] if not w.startswith("-") and w not in ("run", "x", "exec")]
        chosen = rest[0] if rest else chosen
    path = Path(chosen.rstrip("/"))
    stem = path.name
    for suffix in (".py", ".js", ".mjs", ".cjs", ".ts"):
        stem = stem.removesuffix(suffix)
    if stem in _GENERIC_STEMS:
        named = [p for p in path.parent.parts if p not in _BUILD_DIRS and p not in ("/", ".")]
        stem = named[-1] if named else stem
    return _safe_name(stem.split("@")[0] or stem.lstrip("@") or "server")  # drop @version


def mcp_server(
    target: str,
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    prefix: str = "",
    side_effects: bool = False,
    timeout: float | None = 60.0,
    retries: int = 0,
    reconnect_attempts: int = 3,
    reconnect_backoff_s: float = 0.5,
    protocol: str = "auto",
) -> MCPServerTools:
    """An MCP server whose tools a team can use: ``Team(tools=[mcp_server(...)])``.

    Args:
        target: a command line started over stdio (``"python my_server.py"``), or the URL of
            a streamable-HTTP server (``"http://127.0.0.1:8000/mcp"``).
        name: how messages and the stderr log name the server (default: the script or
            package a command runs, ``host-port`` for a URL).
        env: extra environment variables for a stdio server.
        cwd: working directory of a stdio server.
        prefix: prepended to the server's tool names (to keep two servers apart).
        side_effects: whether the server's tools change the world (for the call log).
        timeout: seconds per call.
        retries: extra tries for calls failing with ``RetryableToolError``.
        reconnect_attempts: connection attempts at start-up and each time a call finds the
            server gone.
        reconnect_backoff_s: first wait between those attempts (it doubles).
        protocol: the SDK's connect mode: ``"auto"`` (discover, else the initialize
            handshake) or ``"legacy"`` (the initialize handshake only).
    """
    options = ToolOptions(side_effects=side_effects, timeout_s=timeout, retries=retries)
    return MCPServerTools(
        target,
        name=name,
        env=env,
        cwd=cwd,
        prefix=prefix,
        options=options,
        reconnect_attempts=reconnect_attempts,
        reconnect_backoff_s=reconnect_backoff_s,
        protocol=protocol,
    )
