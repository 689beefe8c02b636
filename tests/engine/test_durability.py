"""Each finished unit of work is checkpointed on its own, as soon as it finishes."""

from __future__ import annotations

import pytest

from orchestra import RunStatus
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, verdict
from tests.conftest import make_team


async def test_a_crash_keeps_finished_tasks_and_langgraph_resumes_only_the_rest():
    crashes = {"left": 1}

    def executor(call: ScriptedCall) -> str:
        if call.task_id == "c" and crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("process died in c")
        return f"{call.task_id} ok"

    script = {
        "planner": [
            plan(subtask("a"), subtask("b"), subtask("c", deps=["a"]), subtask("d", deps=["c"]))
        ],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": executor,
        "critic": verdict("pass"),
        "synthesizer": "final",
    }
    team, model = make_team(script)
    with pytest.raises(RuntimeError, match="process died"):
        await team.arun("goal", run_id="crashy")
    # resume: the dispatch node runs again; finished jobs come back from the checkpoint
    # (SQLite, the default) instead of running again.
    resumed = await team.aresume("crashy")
    assert resumed.status is RunStatus.SUCCEEDED
    result = await team.aget_run("crashy")
    assert result.status is RunStatus.SUCCEEDED and result.output == "final"
    calls = {t: len(model.calls_for("executor", t)) for t in "abcd"}
    assert calls == {"a": 1, "b": 1, "c": 2, "d": 1}
    assert len(model.calls_for("planner")) == 1
    assert len(model.calls_for("critic", "a")) == 1
    assert {n.id: n.executions for n in result.tree.leaves()} == {"a": 1, "b": 1, "c": 1, "d": 1}
