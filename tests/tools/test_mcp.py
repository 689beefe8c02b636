"""MCP servers as tool sources: a real server written here, over stdio and over HTTP."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra import ConfigError, Role, mcp_server
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import background_server, free_port, make_team, run_collect

SERVER = Path(__file__).resolve().parents[1] / "fixtures" / "mcp_server.py"
STDIO = f"{sys.executable} {SERVER}"


def script(executor: list[object], tools: list[str]) -> dict[str, object]:
    return {
        "planner": [plan(subtask("a", "Use MCP", "Add numbers with the MCP server."))],
        "role_designer": role_spec("mcp-user", "Use the tools.", tools),
        "executor@a": executor,
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }


async def test_an_executor_uses_stdio_mcp_tools_inside_a_team_run():
    team, model = make_team(
        script(
            [
                tool_call("add", {"a": 2, "b": 3}),
                tool_call("add", {"a": "two", "b": 3}),
                tool_call("remember", {"note": "first"}),
                tool_call("remember", {"note": "second"}),
                tool_call("recall", {}),
                tool_call("explode", {"reason": "testing"}),
                "2 + 3 = 5",
            ],
            ["add", "remember", "recall", "explode"],
        ),
        tools=[mcp_server(STDIO)],
    )
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.succeeded and result.tree.get("a").result == "2 + 3 = 5"
    calls = [(e.tool, e.ok, e.output) for e in events if e.type == "tool_called"]
    assert calls[0] == ("add", True, "5")
    assert calls[1][:2] == ("add", False) and calls[1][2].startswith(
        "invalid arguments for add: a:"
    )
    assert calls[2:5] == [
        ("remember", True, "1 note(s) kept"),
        ("remember", True, "2 note(s) kept"),  # one server session for the whole run
        ("recall", True, "first; second"),
    ]
    assert calls[5][:2] == ("explode", False) and "exploded: testing" in calls[5][2]
    # the planner and the role designer saw the server's tools like any other
    assert "- add: Add two integers." in model.calls_for("role_designer")[0].prompt


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    with background_server([sys.executable, str(SERVER), "http", str(port)], r"(?i)running on"):
        yield f"http://127.0.0.1:{port}/mcp"


async def test_an_executor_uses_mcp_tools_over_streamable_http(http_server: str):
    team, model = make_team(
        script([tool_call("add", {"a": 40, "b": 2}), "42"], ["add"]),
        tools=[mcp_server(http_server)],
    )
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.succeeded
    assert [(e.tool, e.output) for e in events if e.type == "tool_called"] == [("add", "42")]


async def test_roles_naming_mcp_tools_are_checked_once_the_server_is_connected():
    good = Role(name="adder", instructions="Add.", tools=["add"])
    team, _ = make_team(
        {
            "planner": [plan(subtask("a", role="adder"))],
            "executor@a": [tool_call("add", {"a": 1, "b": 1}), "2"],
            "critic": verdict("pass"),
            "synthesizer": "ok",
        },
        tools=[mcp_server(STDIO)],
        roles=[good],
    )
    result, _ = await run_collect(team)
    assert result.succeeded and result.tree.get("a").role == "adder"

    bad = Role(name="typo", instructions="Add.", tools=["ad"])
    team, _ = make_team({}, tools=[mcp_server(STDIO)], roles=[bad])
    with pytest.raises(ConfigError, match=r"unknown tool\(s\) \['ad'\]"):
        await team.arun("goal")


def test_prefixes_keep_two_servers_apart():
    server = mcp_server(STDIO, prefix="calc_")
    assert server.prefix == "calc_" and not server.is_http
    assert mcp_server("http://127.0.0.1:9/mcp").is_http
    with pytest.raises(ConfigError):
        mcp_server("  ")
