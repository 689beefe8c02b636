"""Where runs are checkpointed, and the log of completed side-effecting calls."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from orchestra import ConfigError, InputError, tool
from orchestra.engine.call_log import MemoryCallLog, SqliteCallLog
from orchestra.engine.checkpoints import Checkpoints
from orchestra.testing import plan, role_spec, subtask, verdict
from orchestra.tools.invoke import ToolOutcome, call_tool
from tests.conftest import make_team


def test_what_team_checkpointer_accepts(tmp_path: Path, _orchestra_home: Path):
    default = Checkpoints.parse(None)
    assert (default.kind, default.target) == ("sqlite", str(_orchestra_home / "runs.db"))
    assert default.durable
    assert Checkpoints.parse("memory").kind == "memory"
    assert not Checkpoints.parse("memory").durable
    assert Checkpoints.parse(tmp_path / "x.db").target == str(tmp_path / "x.db")
    assert Checkpoints.parse("sqlite:///tmp/y.db").target == "tmp/y.db"
    saver = InMemorySaver()
    assert Checkpoints.parse(saver)._saver is saver
    with pytest.raises(ConfigError, match="unknown checkpointer"):
        Checkpoints.parse("redis://localhost")


async def test_a_team_resumes_from_a_sqlite_file_in_another_team_object(tmp_path: Path):
    db = tmp_path / "runs.db"
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("w", "Do it.", []),
        "executor": "done",
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    first, _ = make_team(dict(script), checkpointer=db)
    await first.arun("goal", run_id="r1")
    second, model = make_team(dict(script), checkpointer=str(db))
    again = await second.aresume("r1")  # an ended run comes back as it is
    assert again.succeeded and again.output == "ok" and model.calls == []
    with pytest.raises(InputError, match="no checkpointed run"):
        await second.aresume("never-ran")


async def test_the_call_log_survives_and_answers_by_key(tmp_path: Path):
    log = SqliteCallLog(tmp_path / "log.db")
    assert await log.completed("k1") is None
    outcome = ToolOutcome(
        tool="send",
        args={"to": "x"},
        ok=True,
        output="sent",
        duration_s=0.1,
        key="k1",
        side_effects=True,
        started_at=datetime.now(UTC),
    )
    await log.record(outcome)
    assert await SqliteCallLog(tmp_path / "log.db").completed("k1") == outcome


async def test_only_completed_side_effecting_calls_are_answered_from_the_log():
    runs: list[str] = []

    @tool(side_effects=True)
    def send(to: str) -> str:
        """Send."""
        runs.append(to)
        if to == "bad":
            raise RuntimeError("smtp down")
        return f"sent {to}"

    @tool
    def read(q: str) -> str:
        """Read."""
        runs.append(q)
        return q

    tools = {"send": send, "read": read}
    log = MemoryCallLog()

    async def call(name: str, arg: dict, key: str) -> ToolOutcome:
        return await call_tool(
            name, arg, available=tools, allowed={"send", "read"}, role="r", key=key, log=log
        )

    first = await call("send", {"to": "x"}, "k1")
    again = await call("send", {"to": "x"}, "k1")
    assert first.ok and not first.replayed and again.replayed and again.output == "sent x"
    assert (await call("send", {"to": "x"}, "k2")).ok  # another key: another call
    await call("send", {"to": "bad"}, "k3")
    assert not (await call("send", {"to": "bad"}, "k3")).replayed  # failures are retried
    await call("read", {"q": "q"}, "k4")
    await call("read", {"q": "q"}, "k4")  # no side effects: not logged, runs again
    assert runs == ["x", "x", "bad", "bad", "q", "q"]
