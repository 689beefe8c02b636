"""``orchestra dashboard``'s Phoenix, for real: spans found by task id through its client."""

from __future__ import annotations

import importlib.util
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.observability.dashboard import running_dashboard, start_phoenix
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import GUARD_S, free_port, make_team, run_collect

pytestmark = pytest.mark.slow

INGEST_S = 30.0
"""Phoenix ingests spans in the background; how long to keep asking for them."""


@pytest.fixture(scope="module")
def shared_phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """One Phoenix for this module's tests, with the home it is recorded in.

    Starting Phoenix takes about 15 s; no test here depends on a Phoenix of its own.
    """
    if importlib.util.find_spec("phoenix.client") is None:
        pytest.fail("Arize Phoenix is not installed: pip install -e '.[dev,dashboard]'")
    home = tmp_path_factory.mktemp("phoenix-home")
    with pytest.MonkeyPatch.context() as patch:  # start and stop it in that home
        patch.setenv("ORCHESTRA_HOME", str(home))
        server = start_phoenix(free_port(), home / "phoenix")
        try:
            yield server, home
        finally:
            server.stop()


@pytest.fixture
def phoenix(
    shared_phoenix: tuple[Any, Path], _orchestra_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The module's Phoenix, with this test in the home that records it (as a user's is)."""
    server, home = shared_phoenix
    monkeypatch.setenv("ORCHESTRA_HOME", str(home))
    return server


def _spans(client: Any, project: str, expected: int) -> list[dict[str, Any]]:
    """Every span of ``project`` once at least ``expected`` have been ingested."""
    deadline = time.monotonic() + INGEST_S
    while True:
        try:
            spans = client.spans.get_spans(project_identifier=project, limit=1000)
        except httpx.HTTPStatusError as exc:  # 404: the project is not there yet
            if exc.response.status_code != 404:
                raise
            spans = []
        if len(spans) >= expected or time.monotonic() > deadline:
            return spans
        time.sleep(0.25)  # polling another process: it tells no one when it has ingested


async def test_runs_reach_the_dashboard_and_are_found_by_task_id(phoenix: Any):
    from phoenix.client import Client

    info = running_dashboard()
    assert info == phoenix.info  # teams in this home find it without configuration
    script = {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer": role_spec("analyst", "Analyse.", ["word_count"]),
        "executor@a": [tool_call("word_count", {"text": "one two"}), "two words"],
        "executor@b": ["done"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, model = make_team(script, name="phoenix-e2e")
    result, _ = await run_collect(team)
    assert result.succeeded
    assert team.tracing.flush()

    client = Client(base_url=info.url)
    # run, planner, synthesizer, the critic on the answer, a span per task, one role
    # designer for the plan, per task executor + critic, chats, tool
    expected = 3 + 1 + 2 + 1 + 2 * 2 + len(model.calls) + 1
    spans = _spans(client, "phoenix-e2e", expected)
    assert len(spans) == expected, [s["name"] for s in spans]
    by_id = {s["context"]["span_id"]: s for s in spans}
    [run] = [s for s in spans if s["name"] == "invoke_workflow phoenix-e2e"]
    assert run["parent_id"] is None and run["span_kind"] == "CHAIN"

    found = client.spans.get_spans(
        project_identifier="phoenix-e2e", attributes={"orchestra.task.id": "a"}, limit=100
    )
    kinds = {(s["name"], s["span_kind"]) for s in found}
    assert ("invoke_agent analyst", "AGENT") in kinds
    assert ("invoke_agent critic", "AGENT") in kinds
    assert any(kind == "LLM" for _, kind in kinds)
    assert ("task a", "CHAIN") in kinds  # the task's own span, found by its id too
    assert ("execute_tool word_count", "TOOL") in kinds
    on_goal = client.spans.get_spans(
        project_identifier="phoenix-e2e", attributes={"orchestra.task.id": "root"}, limit=100
    )
    # the plan's leaves are staffed in one role-designer call, on the goal
    assert ("invoke_agent role_designer", "AGENT") in {(s["name"], s["span_kind"]) for s in on_goal}
    executor = next(s for s in found if s["name"] == "invoke_agent analyst")
    task = by_id[executor["parent_id"]]  # the trace tree reads like the task tree
    assert task["name"] == "task a"
    assert by_id[task["parent_id"]]["name"] == "invoke_workflow phoenix-e2e"
    assert executor["attributes"]["orchestra.task.parent_id"] == "root"
    [tool] = [s for s in spans if s["name"] == "execute_tool word_count"]
    assert tool["span_kind"] == "TOOL" and tool["parent_id"] == executor["context"]["span_id"]


def test_the_dashboard_listens_on_loopback_only(phoenix: Any):
    port = int(phoenix.info.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_S):
        pass
    # Phoenix's gRPC receiver (default 4317, all interfaces) stays closed
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", 4317), timeout=2):
        pass
    for conn in (
        Path("/proc/net/tcp6").read_text().splitlines()[1:]
        + Path("/proc/net/tcp").read_text().splitlines()[1:]
    ):
        fields = conn.split()
        local, state = fields[1], fields[3]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == 4317:
            pytest.fail("something listens on port 4317")
