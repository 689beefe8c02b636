"""Dispatch: tree shapes, dependency order, event-driven starts, the parallelism bound."""

from __future__ import annotations

import asyncio

import pytest

from orchestra import Event, InputError, Role, RunStatus, TaskStatus, tool
from orchestra.core.events import UsageRecorded
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import GUARD_S, gate, index_of, make_team, run_collect

WORKER = role_spec("worker", "Do the task.")


def answers(*ids: str) -> dict[str, list[str]]:
    return {f"executor@{i}": [f"result of {i}"] for i in ids}


async def test_three_level_tree_runs_leaves_in_dependency_order():
    script = {
        "planner": [
            plan(
                subtask(
                    "research",
                    subtasks=[
                        subtask("sources"),
                        subtask(
                            "analysis",
                            deps=["sources"],
                            subtasks=[subtask("numbers"), subtask("quotes")],
                        ),
                    ],
                ),
                subtask("write", deps=["research"]),
            )
        ],
        "role_designer": WORKER,
        **answers("sources", "numbers", "quotes", "write"),
        "lead@analysis": ["numbers and quotes, integrated"],
        "lead@research": ["the research, integrated"],
        "critic": verdict("pass"),
        "synthesizer": "the answer",
    }
    team, model = make_team(script, max_depth=3)
    result, events = await run_collect(team)
    model.assert_complete()

    tree = result.tree
    assert result.status is RunStatus.SUCCEEDED and result.output == "the answer"
    assert {n.id: n.depth for n in tree.live_nodes()} == {
        "research": 1,
        "sources": 2,
        "analysis": 2,
        "numbers": 3,
        "quotes": 3,
        "write": 1,
    }
    assert all(n.status is TaskStatus.DONE for n in tree.nodes.values())
    assert [n.id for n in tree.leaves()] == ["sources", "numbers", "quotes", "write"]
    assert all(n.executions == 1 for n in tree.leaves())
    assert tree.get("analysis").executions == 0  # inner nodes are led, not executed
    assert tree.get("analysis").result == "numbers and quotes, integrated"
    # a lead integrates once all its subtasks are done, inner levels first
    assert "result of numbers" in model.calls_for("lead", "analysis")[0].prompt
    assert "numbers and quotes, integrated" in model.calls_for("lead", "research")[0].prompt
    assert index_of(events, "task_finished", task_id="analysis") < index_of(
        events, "integrating", task_id="research"
    )
    # 'numbers' needs 'sources' through its parent; 'write' needs the whole research branch
    for leaf in ("numbers", "quotes"):
        assert index_of(events, "task_finished", task_id="sources") < index_of(
            events, "task_started", task_id=leaf
        )
    assert index_of(events, "task_finished", task_id="research") < index_of(
        events, "task_started", task_id="write"
    )
    assert tree.get("write").started_at >= tree.get("research").finished_at
    # the executor saw the ancestors' path and its inputs, not the whole history
    prompt = model.calls_for("executor", "write")[0].prompt
    assert "Result of 'Research' (research):\nthe research, integrated" in prompt
    numbers_prompt = model.calls_for("executor", "numbers")[0].prompt
    assert "Part of: Research > Analysis" in numbers_prompt
    assert "result of quotes" not in numbers_prompt


async def test_diamond_runs_the_middle_tasks_concurrently_and_the_join_after_both():
    barrier = asyncio.Barrier(2)

    @tool
    async def meet(name: str) -> str:
        """Wait until the other middle task is running too."""
        async with asyncio.timeout(GUARD_S):
            await barrier.wait()
        return f"{name} met"

    script = {
        "planner": [
            plan(
                subtask("a"),
                subtask("b", deps=["a"]),
                subtask("c", deps=["a"]),
                subtask("d", deps=["b", "c"]),
            )
        ],
        "role_designer": role_spec("worker", "Do the task.", ["meet"]),
        "executor@b": [tool_call("meet", {"name": "b"}), "b done"],
        "executor@c": [tool_call("meet", {"name": "c"}), "c done"],
        **answers("a", "d"),
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script, tools=[meet])
    result, events = await run_collect(team)
    model.assert_complete()

    assert result.succeeded
    meets = [e for e in events if e.type == "tool_called"]
    assert [e.ok for e in meets] == [True, True]  # neither timed out: both were running
    tree = result.tree
    b, c, d = tree.get("b"), tree.get("c"), tree.get("d")
    assert b.started_at < c.finished_at and c.started_at < b.finished_at
    assert d.started_at >= max(b.finished_at, c.finished_at)
    assert index_of(events, "task_finished", task_id="a") < index_of(
        events, "task_started", task_id="b"
    )


async def test_a_task_starts_before_an_unrelated_slower_sibling_finishes():
    """C depends only on B; A is slow and finishes only once C has started."""
    c_started, wait_for_c = gate()

    @tool
    async def slow(x: str) -> str:
        """A slow tool that finishes after task C has started."""
        await wait_for_c()
        return "slow done"

    @tool
    def mark(x: str) -> str:
        """Mark that task C runs."""
        c_started.set()
        return "marked"

    script = {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["b"]))],
        "role_designer": role_spec("worker", "Do the task.", ["slow", "mark"]),
        "executor@a": [tool_call("slow", {"x": "a"}), "a done"],
        "executor@b": ["b done"],
        "executor@c": [tool_call("mark", {"x": "c"}), "c done"],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script, tools=[slow, mark])
    result, events = await run_collect(team)
    model.assert_complete()

    assert result.succeeded
    a, c = result.tree.get("a"), result.tree.get("c")
    assert c.started_at < a.finished_at
    assert index_of(events, "task_started", task_id="c") < index_of(
        events, "task_finished", task_id="a"
    )
    assert all(e.ok for e in events if e.type == "tool_called")


async def test_max_parallel_bounds_running_attempts():
    active = peak = 0
    release, wait_release = gate()

    @tool
    async def work(x: str) -> str:
        """Work for a while."""
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if peak == 2:
            release.set()
        await wait_release()
        for _ in range(5):  # give a third task every chance to sneak in
            await asyncio.sleep(0)
        active -= 1
        return "worked"

    ids = ["t1", "t2", "t3", "t4", "t5"]
    script = {
        "planner": [plan(*(subtask(i) for i in ids))],
        "role_designer": role_spec("worker", "Do the task.", ["work"]),
        **{f"executor@{i}": [tool_call("work", {"x": i}), f"{i} done"] for i in ids},
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script, tools=[work], max_parallel=2)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.succeeded
    assert peak == 2


async def test_user_roles_are_reused_and_equal_designed_specs_are_shared():
    script = {
        "planner": [plan(subtask("a", role="writer"), subtask("b"), subtask("c"), subtask("d"))],
        "role_designer@b": [role_spec("analyst", "Analyse things.", ["word_count"])],
        "role_designer@c": [role_spec("number-cruncher", "Analyse things.", ["word_count"])],
        "role_designer@d": [role_spec("writer")],  # a name alone reuses the existing role
        **answers("a", "b", "c", "d"),
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    writer = Role(name="writer", instructions="Write well.", tools=["word_count"])
    team, model = make_team(script, roles=[writer])
    result, events = await run_collect(team)
    model.assert_complete()

    assert {n.id: n.role for n in result.tree.leaves()} == {
        "a": "writer",
        "b": "analyst",
        "c": "analyst",
        "d": "writer",
    }
    assert sorted(result.roles) == ["analyst", "writer"]
    assert model.calls_for("role_designer", "a") == []  # the planner's hint was enough
    designed = {e.task_id: e.designed for e in events if e.type == "role_assigned"}
    assert designed == {"a": False, "b": True, "c": False, "d": False}


async def test_events_are_typed_and_the_run_is_checkpointed():
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": WORKER,
        **answers("a"),
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(script)
    events: list[Event] = [e async for e in team.astream("goal", run_id="run-1")]
    kinds = [e.type for e in events]
    assert kinds == [
        "run_started",
        "task_planned",
        "usage",  # planning, on the root
        "usage",  # the role design of the plan's leaves (a), on the root
        "role_assigned",
        "task_started",
        "usage",  # a's attempt and critique
        "verdict",
        "task_finished",
        "verdict",  # the critic on the answer (the synthesizer is the goal's lead)
        "usage",  # synthesis and its critique, on the root
        "run_finished",
    ]
    usage = [e for e in events if isinstance(e, UsageRecorded)]
    assert [e.task_id for e in usage] == ["root", "root", "a", "root"]
    assert (
        sum(e.usage.input_tokens for e in usage)
        == (await team.aget_run("run-1")).usage.input_tokens
    )
    assert {e.run_id for e in events} == {"run-1"}
    stored = await team.aget_run("run-1")
    assert stored.status is RunStatus.SUCCEEDED and stored.output == "ok"
    async with team.checkpoints.open() as saver:
        history = [c async for c in saver.alist({"configurable": {"thread_id": "run-1"}})]
    assert len(history) >= 5
    with pytest.raises(InputError):
        await team.aget_run("no-such-run")


def test_sync_run_and_its_guard_inside_an_event_loop():
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": WORKER,
        **answers("a"),
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script)
    result = team.run("goal")
    model.assert_complete()
    assert result.succeeded and result.output == "ok"

    async def inside() -> None:
        with pytest.raises(RuntimeError, match="use arun"):
            team.run("goal")

    asyncio.run(inside())


async def test_bad_goals_are_refused():
    team, _ = make_team({})
    for goal in ["", "   ", "x" * 20_001]:
        with pytest.raises(InputError):
            await team.arun(goal)


def test_graph_is_inspectable_as_mermaid():
    team, _ = make_team({})
    mermaid = team.graph.get_graph().draw_mermaid()
    for node in ("plan", "design_roles", "dispatch", "synthesize", "finish"):
        assert f"{node}(" in mermaid


async def test_ready_tasks_with_more_work_waiting_on_them_start_first():
    # 'lone' comes first in the plan, but two tasks wait on 'head' one after the other:
    # with one slot, 'head' starts first (when tasks finish together, the one more work
    # waits on is handled first)
    script = {
        "planner": [
            plan(
                subtask("lone"),
                subtask("head"),
                subtask("middle", deps=["head"]),
                subtask("tail", deps=["middle"]),
            )
        ],
        "role_designer": WORKER,
        "executor": lambda call: f"result of {call.task_id}",
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, _ = make_team(script, max_parallel=1)
    result, events = await run_collect(team)
    assert result.succeeded
    started = [e.task_id for e in events if e.type == "task_started"]
    assert started.index("head") < started.index("lone")
