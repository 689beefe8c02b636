"""Tool calls on a real local Ray: same results as in-process, cancellation, sessions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from orchestra import RunStatus, TaskStatus
from orchestra.executors import LocalExecutor, RayExecutor
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, tool_call, verdict
from orchestra.tools.options import options_of, with_options
from tests.conftest import make_team
from tests.executors.ray_tools import (
    Tally,
    idempotent_lookup,
    send_once,
    sleepy,
    slow_step,
    square,
    whereami,
)

pytestmark = [pytest.mark.slow, pytest.mark.ray]

WIDTH = 50


def _last_tool_text(call: ScriptedCall) -> str | None:
    results = [m for m in call.messages if m.type == "tool"]
    return str(results[-1].content) if results else None


def _fan_out_script(tool: str, args: Any, failing: str | None = None) -> dict[str, Any]:
    """``WIDTH`` sibling tasks ``s0..``: each calls ``tool`` with ``args(i)`` and reports it."""

    def executor(call: ScriptedCall) -> object:
        if call.task_id == failing:
            return "I could not do it."
        result = _last_tool_text(call)
        if result is not None:
            return result
        return tool_call(tool, args(int(str(call.task_id)[1:])))

    def critic(call: ScriptedCall) -> object:
        if call.task_id == failing:
            return verdict("retry", "no result")
        return verdict("pass")

    return {
        "planner": [plan(*(subtask(f"s{i}") for i in range(WIDTH)))],
        "role_designer": role_spec("worker", "Do the task.", [tool]),
        "executor": executor,
        "critic": critic,
        "synthesizer": "all done",
    }


def _team(script: dict[str, Any], executor: Any, tools: list[Any], **kw: Any) -> Any:
    team, _ = make_team(
        script,
        tools=tools,
        executor=executor,
        checkpointer="memory",
        history=False,
        max_parallel=WIDTH,
        max_tasks_per_level=64,
        **kw,
    )
    return team


async def test_a_50_wide_fan_out_through_ray_equals_the_in_process_run(
    ray_executor: RayExecutor,
):
    script = _fan_out_script("square", lambda i: {"n": i})
    local = await _team(script, LocalExecutor(), [square]).arun("fifty squares")
    on_ray = await _team(script, ray_executor, [square]).arun("fifty squares")
    assert local.status is on_ray.status is RunStatus.SUCCEEDED
    assert on_ray.output == local.output
    results = {n.id: n.result for n in on_ray.tree.leaves()}
    assert results == {n.id: n.result for n in local.tree.leaves()}
    assert len(results) == WIDTH and f"{WIDTH - 1}^2 = {(WIDTH - 1) ** 2}" in results["s49"]
    assert sorted((c.tool, c.args["n"]) for c in on_ray.tool_calls) == [
        ("square", i) for i in range(WIDTH)
    ]


async def test_calls_run_in_ray_workers_not_in_this_process(ray_executor: RayExecutor):
    script = {
        "planner": [plan(subtask("where"))],
        "role_designer": role_spec("worker", "Do the task.", ["whereami"]),
        "executor": lambda call: _last_tool_text(call) or tool_call("whereami", {}),
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    result = await _team(script, ray_executor, [whereami]).arun("where do tools run?")
    [call] = result.tool_calls
    assert call.ok and int(str(call.result)) != os.getpid()


async def test_a_failing_branch_cancels_its_siblings_ray_tasks(
    ray_executor: RayExecutor, tmp_path: Path
):
    log = tmp_path / "steps.log"
    script = _fan_out_script("slow_step", lambda i: {"n": i, "log": str(log)}, failing="s0")
    team = _team(
        script, ray_executor, [slow_step], max_attempts=1, max_replans=0, on_failure="stop"
    )
    result = await team.arun("fifty slow steps, one of them fails")

    assert result.status is RunStatus.FAILED and "'s0' failed" in str(result.reason)
    lines = log.read_text().splitlines() if log.exists() else []
    started = [line for line in lines if line.startswith("start")]
    # two CPUs, half a CPU a step: at most four ran when s0 failed; the other 45 never
    # started, and none of the started ones ran to its end
    assert len(started) <= 4, lines
    assert not [line for line in lines if line.startswith("end")], lines
    cancelled = [n for n in result.tree.leaves() if n.id != "s0"]
    assert all(n.status is TaskStatus.SKIPPED for n in cancelled)
    assert any(str(n.reason).startswith("cancelled:") for n in cancelled)


async def test_a_stateful_tool_set_keeps_its_session_in_one_actor_per_run(
    ray_executor: RayExecutor,
):
    tally = Tally()
    steps = {"a": ("add", {"k": 1}), "b": ("add", {"k": 2}), "c": ("read", {})}
    script = {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]), subtask("c", deps=["b"]))],
        "role_designer": role_spec("keeper", "Keep the tally.", ["add", "read"]),
        "executor": lambda call: _last_tool_text(call) or tool_call(*steps[str(call.task_id)]),
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    first = await _team(script, ray_executor, [tally]).arun("tally up")
    outputs = [str(c.result) for c in first.tool_calls]
    assert [o.split(" in ")[0] for o in outputs] == ["total 1", "total 3", "total 3"]
    pids = {o.split(" in ")[1] for o in outputs}
    assert len(pids) == 1 and pids != {str(os.getpid())}  # one actor, not this process
    assert tally.total == 0  # the session lived in the actor, not in this process' object

    script["planner"] = [plan(subtask("c"))]
    again = await _team(script, ray_executor, [tally]).arun("read the tally")
    assert str(again.tool_calls[0].result).startswith("total 0 ")  # a new run, a new session


def _one_call_script(tool: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "planner": [plan(subtask("t"))],
        "role_designer": role_spec("worker", "Do the task.", [tool]),
        "executor": lambda call: _last_tool_text(call) or tool_call(tool, args),
        "critic": verdict("pass"),
        "synthesizer": "done",
    }


@pytest.mark.parametrize(
    ("tool", "rerun"), [(idempotent_lookup, True), (send_once, False)], ids=lambda p: str(p)
)
async def test_ray_runs_a_call_again_after_a_worker_died_only_without_side_effects(
    ray_executor: RayExecutor, tmp_path: Path, tool: Any, rerun: bool
):
    marker = tmp_path / "crashed"
    script = _one_call_script(tool.name, {"marker": str(marker)})
    result = await _team(script, ray_executor, [tool]).arun("a call whose worker dies")
    [call] = result.tool_calls
    assert marker.exists()  # the first worker did die
    if rerun:
        assert call.ok and str(call.result).startswith("ok in ")
    else:  # never run twice: the model is told the call failed
        assert not call.ok and "WorkerCrashedError" in str(call.error)


async def test_a_timeout_cancels_a_sync_tool_where_it_runs(
    ray_executor: RayExecutor, tmp_path: Path
):
    log = tmp_path / "sleep.log"
    # a worker that is up already: on a loaded machine starting one can take longer than
    # the 1 s timeout below, which would then stop the call before it ever started
    warm = _one_call_script("sleepy", {"seconds": 0, "log": str(tmp_path / "warm.log")})
    assert (await _team(warm, ray_executor, [sleepy]).arun("warm up")).tool_calls[0].ok
    timed = with_options(
        sleepy.model_copy(), options_of(sleepy).model_copy(update={"timeout_s": 1})
    )
    script = _one_call_script("sleepy", {"seconds": 30, "log": str(log)})
    result = await _team(script, ray_executor, [timed]).arun("sleep too long")
    [call] = result.tool_calls
    assert not call.ok and "timed out" in str(call.error)
    # the worker was interrupted: nothing runs on; the next call gets a free CPU at once
    again = await _team(
        _one_call_script("sleepy", {"seconds": 0, "log": str(log)}), ray_executor, [sleepy]
    ).arun("sleep briefly")
    assert again.tool_calls[0].ok
    assert log.read_text().splitlines() == ["start", "start", "end"]
