"""Each finished unit of work is checkpointed on its own, as soon as it finishes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from orchestra import Event, RunStatus, TaskFinished, tool
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import GUARD_S, make_team


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
    stopped = await team.aget_run("crashy")  # it read "failed": no node had ended the run
    assert stopped.status is RunStatus.INTERRUPTED and "resume goes on" in (stopped.reason or "")
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


async def test_a_run_that_crashes_after_dispatch_reads_interrupted_not_succeeded():
    # dispatch writes the run's status before synthesis: a crash there read "succeeded"
    # with no answer, and resume over HTTP was refused as "ended"
    crashes = {"left": 1}

    def synthesizer(call: ScriptedCall) -> str:
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("provider down")
        return "final"

    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": "a ok",
        "critic": verdict("pass"),
        "synthesizer": synthesizer,
    }
    team, _ = make_team(script)
    with pytest.raises(RuntimeError, match="provider down"):
        await team.arun("goal", run_id="late-crash")
    stopped = await team.aget_run("late-crash")
    assert stopped.status is RunStatus.INTERRUPTED and stopped.output is None
    assert stopped.missing == []  # not ended: nothing is given up
    done = await team.aresume("late-crash")
    assert done.status is RunStatus.SUCCEEDED and done.output == "final"


async def test_resume_finds_finished_jobs_by_name_whatever_order_they_start_in():
    """LangGraph matches a task call to its checkpointed result by position; a resumed
    run may start jobs in another order, so orchestra matches them by name first."""
    y_finished = asyncio.Event()
    crashes = {"left": 1}

    @tool
    async def wait_for_y() -> str:
        """Return once y is finished."""
        await asyncio.wait_for(y_finished.wait(), GUARD_S)
        return "y is done"

    def executor_x(call: ScriptedCall) -> str:
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("process died in x")
        return "x ok"

    script = {
        "planner": [
            plan(subtask("a"), subtask("b"), subtask("x", deps=["a"]), subtask("y", deps=["b"]))
        ],
        "role_designer": role_spec("worker", "Do the task.", ["wait_for_y"]),
        # a finishes only after y: first run order b, y, a, x; a resume starts a's
        # dependent x before y
        "executor@a": [tool_call("wait_for_y", {}), "a ok"],
        "executor@b": "b ok",
        "executor@x": executor_x,
        "executor@y": "y ok",
        "critic": verdict("pass"),
        "synthesizer": "final",
    }
    team, model = make_team(script, tools=[wait_for_y])

    def on_event(event: Event) -> None:
        if isinstance(event, TaskFinished) and event.task_id == "y":
            y_finished.set()

    with pytest.raises(RuntimeError, match="process died"):
        await team.arun("goal", run_id="reordered", on_event=on_event)
    assert len(model.calls_for("executor", "y")) == 1

    resumed = await team.aresume("reordered")
    assert resumed.status is RunStatus.SUCCEEDED
    assert {t: len(model.calls_for("executor", t)) for t in "abxy"} == {
        "a": 2,  # a tool call, then its answer: once
        "b": 1,
        "x": 2,  # the crash, then the resumed attempt
        "y": 1,  # not again, although it now starts after x
    }
    assert len(model.calls_for("critic", "y")) == 1


async def test_a_cancelled_run_leaves_a_checkpoint_it_resumes_from():
    holding = asyncio.Event()
    release = {"now": False}

    @tool
    async def slow(q: str) -> str:
        """Take a while."""
        if not release["now"]:
            holding.set()
            await asyncio.Event().wait()  # until cancelled
        return "slow done"

    script = {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer": role_spec("worker", "Do the task.", ["slow"]),
        "executor@a": "a ok",
        "executor@b": [tool_call("slow", {"q": "x"}), tool_call("slow", {"q": "x"}), "b ok"],
        "critic": verdict("pass"),
        "synthesizer": "final",
    }
    team, model = make_team(script, tools=[slow])
    running = asyncio.create_task(team.arun("goal", run_id="cancelled"))
    await asyncio.wait_for(holding.wait(), GUARD_S)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert team.history is not None
    assert team.history.get("cancelled").summary.status == "error"
    assert (await team.aget_run("cancelled")).status is RunStatus.INTERRUPTED

    release["now"] = True
    resumed = await team.aresume("cancelled")
    assert resumed.status is RunStatus.SUCCEEDED and resumed.output == "final"
    assert len(model.calls_for("executor", "a")) == 1  # a finished before the cancel
    assert team.history.get("cancelled").summary.status == "succeeded"


class _SlowSaver(InMemorySaver):
    """Saves checkpoints slowly and notes the order of checkpoints and job results."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: set[str] = set()
        self.early_writes: list[str] = []

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        for _ in range(200):  # a busy disk: the rest of the run gets every chance to go on
            await asyncio.sleep(0)
        stored = await super().aput(config, checkpoint, metadata, new_versions)
        self.saved.add(checkpoint["id"])
        return stored

    async def aput_writes(
        self, config: Any, writes: Any, task_id: str, task_path: str = ""
    ) -> None:
        channels = {channel for channel, _ in writes}
        work = channels & {"__return__", "tree"}  # a job's result, a node's output
        if work and config["configurable"]["checkpoint_id"] not in self.saved:
            self.early_writes.append(task_id)
        await super().aput_writes(config, writes, task_id, task_path)


async def test_a_step_starts_only_once_the_checkpoint_before_it_is_saved():
    """A result saved for a step whose own checkpoint is not saved yet is lost by a crash
    (resuming starts from the checkpoint before, and redoes the step and all in it)."""
    saver = _SlowSaver()
    script = {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["a", "b"]))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": "done",
        "critic": verdict("pass"),
        "synthesizer": "final",
    }
    team, _ = make_team(script, checkpointer=saver)
    result = await team.arun("goal", run_id="ordered")
    assert result.status is RunStatus.SUCCEEDED
    assert saver.saved and saver.early_writes == []
