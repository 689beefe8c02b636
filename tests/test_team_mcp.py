"""``orchestra mcp``: a team as an MCP server, called by the SDK's client and by a team."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from orchestra import RunStatus, Team
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict
from orchestra.tools.mcp import mcp_server
from tests.test_examples import ROOT


def _params(target: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "orchestra.cli", "mcp", target], cwd=str(ROOT)
    )


async def test_the_run_tool_reports_progress_and_returns_the_typed_answer_and_its_record():
    async with Client(stdio_client(_params("tests/cli/teams.py:typed"))) as client:
        [run] = (await client.list_tools()).tools
        assert run.name == "run" and "goal" in run.input_schema["properties"]
        assert run.output_schema is not None and "run_id" in run.output_schema["properties"]
        progress: list[tuple[float, float | None, str | None]] = []

        async def heard(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total, message))

        called = await client.call_tool("run", {"goal": "pick one"}, progress_callback=heard)
        assert not called.is_error
        answer: dict[str, Any] = called.structured_content or {}
        assert answer["status"] == "succeeded"
        assert answer["output"] == {
            "best": "heat pump",
            "scores": {"heat pump": 0.9, "boiler": 0.4},
        }
        assert json.loads(answer["answer"]) == answer["output"]
        assert progress == [(1.0, 1.0, "collect done")]
        read = await client.read_resource(answer["record"])
        record = json.loads(read.contents[0].text)  # type: ignore[union-attr]
        assert record["run_id"] == answer["run_id"] and record["typed_output"] == answer["output"]


async def test_a_run_without_an_answer_is_a_tool_error_naming_the_run():
    async with Client(stdio_client(_params("tests/cli/teams.py:failing"))) as client:
        called = await client.call_tool("run", {"goal": "try it"})
        assert called.is_error
        text = called.content[0].text  # type: ignore[union-attr]
        assert "ended failed without an answer" in text and "orchestra://runs/" in text
        with pytest.raises(Exception, match="no checkpointed run"):
            await client.read_resource("orchestra://runs/nope")


async def test_another_team_uses_the_served_team_as_a_tool():
    server = mcp_server(f"{sys.executable} -m orchestra.cli mcp tests/cli/teams.py:typed", cwd=ROOT)
    script = {
        "planner": [plan(subtask("ask", "Ask the experts"))],
        "role_designer": role_spec("asker", "Ask.", ["run"]),
        "executor@ask": lambda call: (
            "the experts picked the heat pump"
            if any(m.type == "tool" for m in call.messages)
            else tool_call("run", {"goal": "pick a heater"})
        ),
        "critic": verdict("pass"),
        "synthesizer": "heat pump",
    }
    team = Team(ScriptedChatModel(script), tools=[server], checkpointer="memory", history=False)
    result = await team.arun("which heater?")
    assert result.status is RunStatus.SUCCEEDED
    [call] = [c for c in result.tool_calls if c.tool == "run"]
    assert call.ok and '"best": "heat pump"' in call.result


async def test_the_team_is_served_over_streamable_http_on_loopback():
    from tests.conftest import background_server, free_port

    port = free_port()
    command = [sys.executable, "-m", "orchestra.cli", "mcp", "tests/cli/teams.py:typed"]
    with background_server([*command, "--http", str(port)], r"(?i)running on"):
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            called = await client.call_tool("run", {"goal": "pick one"})
    assert not called.is_error
    assert (called.structured_content or {})["output"]["best"] == "heat pump"


def test_mcp_over_http_binds_loopback_only():
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "orchestra.cli", "mcp", "tests/cli/teams.py:plain"]
        + ["--http", "8999", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "loopback only" in proc.stderr


async def test_the_answer_and_the_record_reach_the_client_redacted():
    from orchestra.team_mcp import team_mcp_server
    from tests.test_serve_redteam import KEY, MARKED, secret_team

    async with Client(team_mcp_server(secret_team())) as client:
        called = await client.call_tool("run", {"goal": "look up"})
        assert not called.is_error
        answer: dict[str, Any] = called.structured_content or {}
        assert "[REDACTED]" in answer["answer"] and KEY not in answer["answer"]
        read = await client.read_resource(answer["record"])
        record = read.contents[0].text  # type: ignore[union-attr]
        assert json.loads(record)["run_id"] == answer["run_id"]
        assert "[REDACTED]" in record and KEY not in record and MARKED not in record


async def test_the_runs_of_the_history_are_listed_newest_first(tmp_path: Any):
    from orchestra.observability.history import RunHistory
    from orchestra.team_mcp import team_mcp_server
    from tests.test_team_tool import _analysts

    team, _ = _analysts()
    team.history = RunHistory(tmp_path / "runs.db")
    async with Client(team_mcp_server(team)) as client:
        assert (await client.list_resources()).resources == []
        first = (await client.call_tool("run", {"goal": "first"})).structured_content or {}
        second = (await client.call_tool("run", {"goal": "second"})).structured_content or {}
        listed = (await client.list_resources()).resources
        assert [str(r.uri) for r in listed] == [second["record"], first["record"]]
        assert "second" in (listed[0].description or "") and listed[0].mime_type == (
            "application/json"
        )
        read = await client.read_resource(listed[1].uri)
        assert json.loads(read.contents[0].text)["run_id"] == first["run_id"]  # type: ignore[union-attr]
