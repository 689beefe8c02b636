"""Agents and the shared memory: recall in context, results written back, scopes enforced."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra import Role
from orchestra.memory import Memory, MemoryScope, MemorySource
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    return Memory.local(tmp_path / "memory")


def script(**extra: object) -> dict[str, object]:
    return {
        "planner": [plan(subtask("price", "Find the price", "Find what the premium plan costs."))],
        "role_designer": role_spec("researcher", "Find facts."),
        "critic": verdict("pass"),
        "synthesizer": "done",
        **extra,
    }


async def test_executors_get_relevant_memories_and_results_are_written_back(memory: Memory):
    memory.add(
        "The premium plan costs 30 euros a month.",
        team="sales",
        source="document",
        title="pricing sheet",
    )
    memory.add("Our office cat is called Pixel.", team="sales", source="document")
    team, model = make_team(
        script(**{"executor@price": ["It costs 30 euros a month."]}), memory=memory, name="sales"
    )
    assert team.memory is memory
    result = await team.arun("What does premium cost?", run_id="run-a")
    model.assert_complete()
    prompt = model.calls_for("executor", "price")[0].prompt
    assert "Relevant memories" in prompt
    assert "[document, 'pricing sheet'; score" in prompt and "30 euros a month." in prompt
    assert "Pixel" not in prompt  # below the relevance threshold
    [written] = [
        h.record
        for h in memory.search("premium price", team="sales", k=5)
        if h.record.source is MemorySource.TASK_RESULT
    ]
    assert (written.text, written.run_id, written.task_id, written.role) == (
        "It costs 30 euros a month.",
        "run-a",
        "price",
        "researcher",
    )
    assert written.scope is MemoryScope.TEAM and result.succeeded


async def test_a_later_run_uses_what_an_earlier_run_found(memory: Memory):
    first, _ = make_team(
        script(**{"executor@price": ["Premium is 30 euros monthly."]}), memory=memory, name="sales"
    )
    await first.arun("What does premium cost?", run_id="run-1")

    def answer(call: ScriptedCall) -> str:
        assert "Premium is 30 euros monthly." in call.prompt and "run run-1" in call.prompt
        return "As found before: 30 euros."

    second, model = make_team(script(**{"executor@price": [answer]}), memory=memory, name="sales")
    result = await second.arun("Remind me of the premium price", run_id="run-2")
    model.assert_complete()
    assert result.tree.get("price").result == "As found before: 30 euros."


async def test_remember_and_recall_tools_respect_the_role_scopes(memory: Memory):
    role = Role(
        name="clerk", instructions="Keep notes.", memory_read=("run",), memory_write=("run",)
    )
    memory.add("Team-wide secret: the launch is on Friday.", team="ops", scope="team")
    team, model = make_team(
        {
            "planner": [
                plan(subtask("note", "Take a note", "Note the meeting time.", role="clerk"))
            ],
            "executor@note": [
                tool_call("remember", {"text": "The meeting is at 10:00.", "scope": "run"}),
                tool_call("remember", {"text": "Leaked to everyone", "scope": "global"}),
                tool_call("recall", {"query": "launch day"}),
                tool_call("recall", {"query": "meeting time"}),
                "noted",
            ],
            "critic": verdict("pass"),
            "synthesizer": "done",
        },
        roles=[role],
        memory=memory,
        name="ops",
    )
    result, events = await run_collect(team)
    model.assert_complete()
    outcomes = [(e.tool, e.ok, e.output) for e in events if e.type == "tool_called"]
    assert outcomes[0][:2] == ("remember", True)
    assert outcomes[1][:2] == ("remember", False)
    assert "may not write 'global' memories" in outcomes[1][2]
    assert "Team-wide secret" not in outcomes[2][2]  # the role reads only its run's memories
    assert "The meeting is at 10:00." in outcomes[3][2] and "task note" in outcomes[3][2]
    assert "launch is on Friday" not in model.calls_for("executor", "note")[0].prompt
    notes = [h.record for h in memory.search("meeting", team="ops", run_id=result.run_id, k=5)]
    assert any(r.source is MemorySource.NOTE and r.role == "clerk" for r in notes)
    assert not memory.search("Leaked", team="other", k=5)
