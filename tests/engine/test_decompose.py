"""Decomposition on demand: a task is broken down by its lead once it is ready."""

from __future__ import annotations

import pytest

from orchestra import RunStatus
from orchestra.core.tree import TaskStatus
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect


def _script(**overrides: object) -> dict[str, object]:
    script: dict[str, object] = {
        "planner": [plan(subtask("facts"), subtask("big", deps=["facts"], decompose=True))],
        "role_designer": role_spec("worker", "Do the task.", []),
        "executor": lambda call: f"result of {call.task_id}",
        # the lead of 'big': first its decomposition, later its integration
        "lead@big": [plan(subtask("x"), subtask("y", deps=["x"])), "big, integrated"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    script.update(overrides)
    return script


async def test_a_marked_task_is_decomposed_by_its_lead_when_its_prerequisites_are_done():
    team, model = make_team(_script())
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    tree = result.tree
    big = tree.get("big")
    assert big.decompose is False and big.executions == 0
    assert big.lead == "worker" and big.result == "big, integrated"
    assert [(c.id, c.depth, c.parent_id) for c in tree.children("big")] == [
        ("x", 2, "big"),
        ("y", 2, "big"),
    ]
    assert {t: len(model.calls_for("executor", t)) for t in ("facts", "x", "y")} == {
        "facts": 1,
        "x": 1,
        "y": 1,
    }
    # the lead broke it down seeing what its prerequisite found
    decomposition, _ = model.calls_for("lead", "big")
    assert "result of facts" in decomposition.prompt
    assert model.calls.index(decomposition) < model.calls.index(model.calls_for("executor", "x")[0])
    [record] = result.decompositions
    assert (record.task_id, record.new_task_ids) == ("big", ["x", "y"])
    assert result.to_record().decompositions[0].task_id == "big"
    [event] = [e for e in events if e.type == "decomposed"]
    assert event.new_task_ids == ["x", "y"]
    facts_done = next(i for i, e in enumerate(events) if e.type == "task_finished")
    assert events.index(event) > facts_done
    assert {t.id: t.kind for t in result.to_record().tasks}["big"] == "inner"


async def test_upfront_teams_run_marked_tasks_as_they_are():
    script = _script(**{"lead@big": [], "executor@big": ["big done directly"]})
    team, model = make_team(script, decompose="upfront")
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.tree.get("big").result == "big done directly"
    assert result.decompositions == []


async def test_a_decomposition_that_stays_invalid_runs_the_task_as_one():
    script = _script(**{"lead@big": ["not a plan"] * 3, "executor@big": ["big done as one"]})
    team, model = make_team(script)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    big = result.tree.get("big")
    assert big.result == "big done as one" and big.status is TaskStatus.DONE
    assert [n.kind for n in result.notices] == ["decomposition_failed"]


async def test_a_crashed_run_does_not_decompose_again_on_resume():
    crashes = {"left": 1}

    def executor(call: ScriptedCall) -> str:
        if call.task_id == "y" and crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("process died in y")
        return f"result of {call.task_id}"

    team, model = make_team(_script(executor=executor))
    with pytest.raises(RuntimeError, match="process died"):
        await team.arun("goal", run_id="decomposed-then-crashed")
    resumed = await team.aresume("decomposed-then-crashed")
    assert resumed.status is RunStatus.SUCCEEDED
    # one decomposition and one integration: the decomposition came back from the checkpoint
    assert len(model.calls_for("lead", "big")) == 2
    assert len(model.calls_for("executor", "x")) == 1
    assert [c.id for c in resumed.tree.children("big")] == ["x", "y"]
    assert [d.task_id for d in resumed.decompositions] == ["big"]
