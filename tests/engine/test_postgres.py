"""Checkpoints in a real PostgreSQL server (started by the test session on 127.0.0.1)."""

from __future__ import annotations

import pytest

from orchestra import ConfigError, RunStatus, tool
from orchestra.core.approval import Approve
from orchestra.engine.checkpoints import Checkpoints
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import free_port, make_team
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.slow

EMAILS: list[str] = []


@tool(side_effects=True)
def send_email(to: str) -> str:
    """Send an email."""
    EMAILS.append(to)
    return f"sent to {to}"


def _script(crash: dict[str, int]) -> dict:
    def executor_c(call: ScriptedCall) -> object:
        if not any(m.type == "tool" for m in call.messages):
            return tool_call("send_email", {"to": "c@example.org"})
        if crash["left"]:
            crash["left"] -= 1
            raise RuntimeError("process died in c, after its email")
        return "c done"

    return {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["a"]))],
        "role_designer": role_spec("worker", "Do the task.", ["send_email"]),
        "executor@a": "a done",
        "executor@b": "b done",
        "executor@c": executor_c,
        "critic": verdict("pass"),
        "synthesizer": "final",
    }


async def test_a_run_in_postgres_resumes_through_another_team_without_redoing_work(
    postgres: PostgresServer,
):
    EMAILS.clear()
    url = postgres.new_database()
    crash = {"left": 1}
    first, _ = make_team(_script(crash), tools=[send_email], checkpointer=url)
    with pytest.raises(RuntimeError, match="process died"):
        await first.arun("goal", run_id="pg-1")
    assert EMAILS == ["c@example.org"]

    # another Team object (as another worker process would build it) on the same database
    second, model = make_team(_script(crash), tools=[send_email], checkpointer=url)
    assert second.checkpoints.kind == "postgres"
    result = await second.aresume("pg-1")
    assert result.status is RunStatus.SUCCEEDED and result.output == "final"
    assert EMAILS == ["c@example.org"]  # the completed call came from the Postgres log
    [email] = [c for c in result.tool_calls if c.tool == "send_email"]
    assert email.replayed
    assert {t for t in "abc" if model.calls_for("executor", t)} == {"c"}


async def test_plan_approval_waits_in_postgres(postgres: PostgresServer, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_CHECKPOINTER", postgres.new_database())
    script = _script({"left": 0})
    team_a, _ = make_team(script, tools=[send_email], approve_plan=True)
    assert team_a.checkpoints.kind == "postgres"  # from the environment
    paused = await team_a.arun("goal", run_id="pg-2")
    assert paused.status is RunStatus.AWAITING_APPROVAL
    team_b, _ = make_team(script, tools=[send_email], approve_plan=True)
    assert (await team_b.aresume("pg-2", decisions=Approve())).status is RunStatus.SUCCEEDED


async def test_a_postgres_that_is_not_there_is_a_config_error():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?connect_timeout=5"
    team, _ = make_team(_script({"left": 0}), checkpointer=url)
    with pytest.raises(ConfigError, match="cannot use the Postgres checkpoints"):
        await team.arun("goal")


def test_urls_are_shown_without_their_password():
    where = repr(Checkpoints.parse("postgresql://orchestra:s3cret@db.internal:5432/runs"))
    assert "s3cret" not in where and "orchestra:***@db.internal" in where
