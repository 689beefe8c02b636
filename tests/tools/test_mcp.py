"""MCP servers as tool sources: a real server written here, over stdio and over HTTP."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestra import ConfigError, Role, Team, Tracing, mcp_server, tool
from orchestra.core.events import ToolProgress
from orchestra.testing import (
    MULTIMODAL_PROFILE,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)
from orchestra.tools import Image, ToolOutcome, call_tool
from orchestra.tools.content import Modalities, model_modalities
from tests.conftest import background_server, free_port, make_team, run_collect, wait_for_line
from tests.fixtures.mcp_server import PNG, WAV

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


# -- a server that dies mid-run and comes back ---------------------------------------------


class RestartableServer:
    """The test server over streamable HTTP on one port: killed and started again at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "http", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        assert wait_for_line(self.proc.stdout, r"(?i)running on"), "server did not start"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no goodbye to the client
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def outage_script(tools: list[str]) -> dict[str, object]:
    """hold (killed while pending), add (server down), bring_back, add (server back)."""
    return script(
        [
            tool_call("hold", {}),
            tool_call("add", {"a": 1, "b": 2}),
            tool_call("bring_back", {}),
            tool_call("add", {"a": 2, "b": 2}),
            "2 + 2 = 4",
        ],
        tools,
    )


def assert_outage_calls(events: list[Any], server: str) -> None:
    calls = [(e.tool, e.ok, e.output) for e in events if e.type == "tool_called"]
    assert [c[:2] for c in calls] == [  # noqa: PT018
        ("hold", False),
        ("add", False),
        ("bring_back", True),
        ("add", True),
    ], calls
    assert f"MCP server {server!r}" in calls[0][2] and "went away during the call" in calls[0][2]
    assert f"MCP server {server!r}" in calls[1][2] and "unreachable" in calls[1][2]
    assert calls[3][2] == "4"


async def test_an_http_server_killed_mid_run_is_a_tool_error_and_calls_after_its_restart_work():
    server = RestartableServer(free_port())
    server.start()

    @tool
    def bring_back() -> str:
        """Start the MCP server again."""
        server.start()
        return "started"

    def on_event(event: Any) -> None:
        if event.type == "tool_progress" and event.tool == "hold":
            server.kill()  # the hold call is pending on the server now

    team, model = make_team(
        outage_script(["hold", "add", "bring_back"]),
        tools=[mcp_server(server.url, name="calc", reconnect_backoff_s=0.01), bring_back],
    )
    events: list[Any] = []
    try:
        result = await team.arun("goal", on_event=lambda e: (events.append(e), on_event(e)))
    finally:
        server.stop()
    model.assert_complete()
    assert result.succeeded
    assert_outage_calls(events, "calc")


@pytest.mark.parametrize("protocol", ["auto", "legacy"])
async def test_an_http_server_restarted_between_calls_serves_the_next_call(protocol: str):
    server = RestartableServer(free_port())
    server.start()

    @tool
    def restart() -> str:
        """Restart the MCP server (a new process: the old session is gone)."""
        server.kill()
        server.start()
        return "restarted"

    team, model = make_team(
        script(
            [
                tool_call("remember", {"note": "before"}),
                tool_call("restart", {}),
                tool_call("remember", {"note": "after"}),
                "done",
            ],
            ["remember", "restart"],
        ),
        tools=[mcp_server(server.url, reconnect_backoff_s=0.01, protocol=protocol), restart],
    )
    try:
        result, events = await run_collect(team)
    finally:
        server.stop()
    assert result.succeeded
    calls = [(e.tool, e.ok, e.output) for e in events if e.type == "tool_called"]
    # legacy: the new server refuses the old session id unread, so the call goes again on a
    # new session (it failed with "Session not found" before); auto: the modern protocol
    # has no session to lose
    assert calls == [
        ("remember", True, "1 note(s) kept"),
        ("restart", True, "restarted"),
        ("remember", True, "1 note(s) kept"),
    ]


async def test_a_stdio_server_killed_mid_run_is_a_tool_error_and_calls_after_its_restart_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("ORCHESTRA_HOME", str(tmp_path / "home"))
    down = tmp_path / "down"  # while it exists, the server exits as soon as it starts

    @tool
    def bring_back() -> str:
        """Let the MCP server start again."""
        down.unlink()
        return "started"

    def on_event(event: Any) -> None:
        if event.type == "tool_progress" and event.tool == "hold":
            down.touch()
            os.kill(int(str(event.message).split()[1]), signal.SIGKILL)

    team, model = make_team(
        outage_script(["hold", "add", "bring_back"]),
        tools=[
            mcp_server(
                STDIO,
                name="calc",
                env={"MCP_TEST_DOWN_FILE": str(down)},
                reconnect_backoff_s=0.01,
            ),
            bring_back,
        ],
    )
    events: list[Any] = []
    result = await team.arun("goal", on_event=lambda e: (events.append(e), on_event(e)))
    model.assert_complete()
    assert result.succeeded
    assert_outage_calls(events, "calc")
    log = tmp_path / "home" / "logs" / "mcp-calc.log"
    assert f"its stderr is in {log}" in next(e.output for e in events if e.type == "tool_called")
    # stderr of every start went to the log, none to the terminal
    text = log.read_text()
    assert text.count("server starting") == 2
    assert text.count("server is down for this test") == 3  # three bounded reconnect attempts
    assert "server starting" not in capfd.readouterr().err


# -- start-up failures ---------------------------------------------------------------------


async def start_failure(server: Any) -> str:
    team, _ = make_team({}, tools=[server])
    with pytest.raises(ConfigError) as caught:
        await team.arun("goal")
    return str(caught.value)


async def test_a_missing_command_is_one_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ORCHESTRA_HOME", str(tmp_path))
    message = await start_failure(mcp_server("/nonexistent --flag"))
    log = tmp_path / "logs" / "mcp-nonexistent.log"
    assert message.startswith(
        "could not start MCP server 'nonexistent' (/nonexistent --flag): FileNotFoundError:"
    )
    assert "No such file or directory" in message and f"its stderr is in {log}" in message


async def test_a_command_that_exits_at_once_is_one_config_error_with_its_last_stderr_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("ORCHESTRA_HOME", str(tmp_path))
    command = f"{sys.executable} -c \"import sys; sys.exit('no API key set')\""
    message = await start_failure(mcp_server(command, name="quitter", reconnect_backoff_s=0.01))
    log = tmp_path / "logs" / "mcp-quitter.log"
    assert message == (
        f"could not start MCP server 'quitter' ({command}): MCPError: Connection closed;"
        f" its stderr is in {log} (last line: 'no API key set')"
    )
    # three bounded attempts, then the error
    assert log.read_text().splitlines().count("no API key set") == 3
    assert "no API key set" not in capfd.readouterr().err


async def test_an_unreachable_url_is_one_config_error_naming_it():
    url = f"http://127.0.0.1:{free_port()}/mcp"
    message = await start_failure(mcp_server(url, reconnect_attempts=1))
    assert message.startswith(f"could not reach MCP server '127.0.0.1-{url.split(':')[2][:-4]}'")
    assert f"({url}): ConnectError:" in message


def test_server_names_come_from_the_command_or_the_url():
    assert mcp_server("uvx mcp-server-time --local-timezone UTC").name == "mcp-server-time"
    everything = "/x/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    assert mcp_server(f"node {everything} stdio").name == "server-everything"
    assert mcp_server("npx -y @scope/server-x@1.2").name == "server-x"
    assert mcp_server("uvx mcp-server-time").name == "mcp-server-time"
    assert mcp_server("npx -y @modelcontextprotocol/server-everything").name == (
        "server-everything"
    )
    assert mcp_server(STDIO).name == "mcp_server"
    assert mcp_server("https://example.com/mcp").name == "example.com-https"
    assert mcp_server("x", name="my server/1").name == "my-server-1"
    with pytest.raises(ConfigError, match="reconnect_attempts"):
        mcp_server("x", reconnect_attempts=0)
    with pytest.raises(ConfigError, match="two MCP servers are named 'mcp_server'"):
        make_team({}, tools=[mcp_server(STDIO), mcp_server(STDIO, prefix="b_")])


# -- non-text content ----------------------------------------------------------------------

PNG_B64 = base64.b64encode(PNG).decode()


def message_blocks(model: ScriptedChatModel, kind: str) -> list[dict[str, Any]]:
    """The content blocks of ``kind`` in the last executor call's messages."""
    last = model.calls_for("executor")[-1]
    return [
        b
        for m in last.messages
        if isinstance(m.content, list)
        for b in m.content
        if isinstance(b, dict) and b.get("type") == kind
    ]


async def test_an_mcp_image_reaches_a_multimodal_model_as_a_content_block():
    model = ScriptedChatModel(
        script(
            [tool_call("picture", {}), tool_call("sound", {}), "a red dot"], ["picture", "sound"]
        ),
        profile=MULTIMODAL_PROFILE,
    )
    team = Team(model, tools=[mcp_server(STDIO)])
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.succeeded
    outputs = [e.output for e in events if e.type == "tool_called"]
    assert outputs == ["a red dot\n[image/png, 70 B]", "[audio/wav, 44 B]"]
    last = model.calls_for("executor")[-1].messages
    picture = next(m for m in last if isinstance(m, ToolMessage) and m.name == "picture")
    assert isinstance(picture.content, list)
    assert picture.content[1] == {"type": "image", "base64": PNG_B64, "mime_type": "image/png"}
    # audio has no place in a tool message: it follows the tool messages as user content
    sound = message_blocks(model, "audio")
    assert sound == [
        {"type": "audio", "base64": base64.b64encode(WAV).decode(), "mime_type": "audio/wav"}
    ]


async def test_a_text_only_model_gets_placeholders_and_no_base64_anywhere():
    model = ScriptedChatModel(
        script(
            [tool_call("picture", {}), tool_call("document", {}), "done"], ["picture", "document"]
        )
    )
    team = Team(model, tools=[mcp_server(STDIO)])
    result, events = await run_collect(team)
    assert result.succeeded
    prompts = "\n".join(str(m.content) for c in model.calls for m in c.messages)
    assert PNG_B64 not in prompts and PNG_B64[:40] not in prompts
    assert "[image/png, 70 B]" in prompts
    # a text resource is its text; a binary one is a reference with MCP's field names
    document = next(e.output for e in events if e.type == "tool_called" and e.tool == "document")
    assert document == 'hi\n[resource {"uri": "file:///report.pdf", "mimeType": "application/pdf"}]'
    assert not message_blocks(model, "image")


async def test_a_tool_function_returning_an_image_is_content_too_and_the_log_keeps_it_whole():
    @tool
    def snapshot() -> list[object]:
        """A picture of the screen."""
        return ["the screen", Image(data=PNG)]

    model = ScriptedChatModel(
        script([tool_call("snapshot", {}), "seen"], ["snapshot"]),
        profile=MULTIMODAL_PROFILE,
        native_tools=False,  # JSON actions: the observation is a user message
    )
    team = Team(model, tools=[snapshot])
    result, events = await run_collect(team)
    assert result.succeeded
    assert [e.output for e in events if e.type == "tool_called"] == [
        "the screen\n[image/png, 70 B]"
    ]
    assert message_blocks(model, "image") == [
        {"type": "image", "base64": PNG_B64, "mime_type": "image/png"}
    ]
    outcome = await call_tool(
        "snapshot", {}, available={"snapshot": snapshot}, allowed={"snapshot"}, role="r"
    )
    assert outcome.media == [{"type": "image", "mimeType": "image/png", "data": PNG_B64}]
    again = ToolOutcome(
        **json.loads(json.dumps(asdict(outcome), default=str)) | {"started_at": None}
    )
    assert again.media == outcome.media  # the call log's JSON keeps it whole


def test_model_modalities_come_from_the_model_profile():
    assert model_modalities(ScriptedChatModel({})) == Modalities()
    assert model_modalities(ScriptedChatModel({}, profile={"image_inputs": True})) == Modalities(
        image=True
    )
    assert model_modalities(ScriptedChatModel({}, profile=MULTIMODAL_PROFILE)) == Modalities(
        image=True, audio=True, image_in_tool_message=True
    )


# -- progress and task augmentation --------------------------------------------------------


async def test_mcp_progress_notifications_are_tool_progress_events_and_span_events():
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    team, _ = make_team(
        script([tool_call("count", {"steps": 3}), "counted"], ["count"]),
        tools=[mcp_server(STDIO)],
        tracing=Tracing(provider=provider),
    )
    result, events = await run_collect(team)
    assert result.succeeded
    kinds = [e.type for e in events if e.type.startswith("tool_")]
    assert kinds == [
        "tool_started",
        "tool_progress",
        "tool_progress",
        "tool_progress",
        "tool_called",
    ]
    progress = [e for e in events if isinstance(e, ToolProgress)]
    called = next(e for e in events if e.type == "tool_called")
    assert [(p.tool, p.key, p.progress, p.total, p.message) for p in progress] == [
        ("count", called.key, float(i), 3.0, f"step {i}") for i in (1, 2, 3)
    ]
    span = next(s for s in spans.get_finished_spans() if s.name == "execute_tool count")
    marks = [e for e in span.events if e.name == "orchestra.tool.progress"]
    assert [e.attributes["orchestra.tool.progress"] for e in marks] == [1.0, 2.0, 3.0]


async def test_a_tool_requiring_task_augmentation_is_not_offered_and_a_notice_says_why():
    team, model = make_team(
        script(["no tools needed"], ["add"]),
        tools=[mcp_server(STDIO, name="calc", protocol="legacy")],
    )
    result, events = await run_collect(team)
    assert result.succeeded
    notices = [e for e in events if e.type == "notice" and e.kind == "tool_skipped"]
    assert [n.message for n in notices] == [
        f"tool 'render_later' of MCP server 'calc' ({STDIO}) is not offered: it requires MCP"
        " task-augmented execution, which orchestra does not support"
    ]
    assert "render_later" not in model.calls_for("role_designer")[0].prompt
    assert "- add: Add two integers." in model.calls_for("role_designer")[0].prompt


def test_the_sdks_warnings_about_a_dying_server_stay_off_an_unconfigured_terminal():
    warn = "import logging; logging.getLogger('mcp.client.streamable_http').warning('boom')"
    plain = subprocess.run([sys.executable, "-c", warn], capture_output=True, text=True)
    assert "boom" in plain.stderr  # Python's last-resort handler prints it
    ours = subprocess.run(
        [sys.executable, "-c", f"import orchestra; {warn}"], capture_output=True, text=True
    )
    assert ours.returncode == 0 and "boom" not in ours.stderr
