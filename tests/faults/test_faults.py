"""Fault injection: each failure ends in a defined state, with a clear error, nothing lost.

Every test runs a whole team on the scripted model with one fault injected, and checks
where the run ends: what failed, why (in the record), and that unrelated finished work is
kept. docs/reliability.md lists them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchestra import ConfigError, PlanningError, RunStatus, TaskStatus, tool
from orchestra.memory import Memory
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import GUARD_S, make_team


def _script(**overrides: object) -> dict[str, object]:
    script: dict[str, object] = {
        "planner": [plan(subtask("ok"), subtask("faulty"))],
        "role_designer": role_spec("worker", "Do the task.", ["flaky"]),
        "executor@ok": "fine result",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    script.update(overrides)
    return script


@tool
def flaky(q: str) -> str:
    """A tool the tests break in various ways (replaced per test)."""
    return q


def _team(script: dict[str, object], **kwargs: object):  # type: ignore[no-untyped-def]
    kwargs.setdefault("tools", [flaky])
    return make_team(script, **kwargs)


# -- the model misbehaves --------------------------------------------------------------


async def test_model_returns_empty_text_forever():
    team, _ = _team(_script(**{"executor@faulty": [""] * 20}), max_attempts=1, max_replans=0)
    result = await team.arun("goal")
    assert result.status is RunStatus.PARTIAL  # the faulty branch is lost, the other is not
    faulty = result.tree.get("faulty")
    assert faulty.status is TaskStatus.FAILED and "no final result after 8 model calls" in (
        faulty.reason or ""
    )
    assert [m.task_id for m in result.missing] == ["faulty"]
    assert result.tree.get("ok").status is TaskStatus.DONE  # unrelated work kept
    assert result.tree.get("ok").result == "fine result"


@pytest.mark.parametrize(
    "replies",
    [
        ["this is not json", "still not json", "nope"],
        ['{"steps": ["wrong shape"]}', '{"tasks": "not a list"}', '{"tasks": [{"id": 3}]}'],
    ],
    ids=["non-json", "wrong-shape-json"],
)
async def test_planner_output_that_stays_invalid(replies: list[str]):
    team, _ = _team(_script(planner=replies))
    with pytest.raises(PlanningError) as caught:
        await team.arun("goal", run_id="bad-plan")
    assert caught.value.raw_outputs == replies  # every raw reply kept for the user
    assert team.history is not None
    assert team.history.get("bad-plan").summary.status == "error"


async def test_model_returns_a_100k_character_reply():
    huge = "word " * 20_000
    team, _ = _team(_script(**{"executor@faulty": huge}))
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    assert result.tree.get("faulty").result == huge.strip()  # kept whole


async def test_model_calls_a_tool_that_does_not_exist():
    team, _ = _team(
        _script(**{"executor@faulty": [tool_call("launch_rockets", {"n": 3}), "did without"]}),
        tools=[flaky],
    )
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    [call] = result.tool_calls
    assert call.tool == "launch_rockets" and not call.ok and "refused" in (call.error or "")


# -- a tool misbehaves -------------------------------------------------------------------


async def test_a_tool_raises():
    @tool
    def flaky(q: str) -> str:  # noqa: F811 (the broken twin)
        """Always breaks."""
        raise ConnectionResetError("peer went away")

    team, _ = _team(
        _script(**{"executor@faulty": [tool_call("flaky", {"q": "x"}), "worked around"]}),
        tools=[flaky],
    )
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    [call] = result.tool_calls
    assert not call.ok and call.error == "error: ConnectionResetError: peer went away"


async def test_a_tool_hangs_past_its_timeout():
    @tool(timeout=0.2)
    async def flaky(q: str) -> str:  # noqa: F811
        """Never answers."""
        await asyncio.Event().wait()
        return "unreachable"

    team, _ = _team(
        _script(**{"executor@faulty": [tool_call("flaky", {"q": "x"}), "gave up on it"]}),
        tools=[flaky],
    )
    result = await asyncio.wait_for(team.arun("goal"), GUARD_S)
    assert result.status is RunStatus.SUCCEEDED
    [call] = result.tool_calls
    assert not call.ok and "timed out after 0.2 s" in (call.error or "")


async def test_a_tool_returns_data_that_is_not_json():
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque handle 7>"

    @tool
    def flaky(q: str) -> object:  # noqa: F811
        """Returns an object no JSON encoder knows."""
        return {"handle": Opaque(), "raw": b"\x00\x01"}

    team, _ = _team(
        _script(**{"executor@faulty": [tool_call("flaky", {"q": "x"}), "used it"]}),
        tools=[flaky],
    )
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    [call] = result.tool_calls
    assert call.ok and "<Opaque handle 7>" in (call.result or "")


# -- the memory store is unavailable -------------------------------------------------------


async def test_memory_that_goes_down_mid_run_degrades_to_no_memory(tmp_path: Path):
    memory = Memory.local(tmp_path / "mem")

    def down(*args: object, **kwargs: object) -> object:
        raise ConnectionError("chromadb server unreachable")

    memory.search = down  # type: ignore[method-assign]
    memory.add = down  # type: ignore[method-assign]
    team, _ = _team(_script(**{"executor@faulty": "done anyway"}), memory=memory)
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    kinds = [n.kind for n in result.notices]
    assert kinds.count("memory_unavailable") == 4  # read and write, for each of two tasks
    assert all("chromadb server unreachable" in n.message for n in result.notices)


def test_a_memory_server_that_is_not_there_is_a_config_error():
    with pytest.raises(ConfigError, match="no chromadb server answers"):
        Memory.connect("http://127.0.0.1:9")
