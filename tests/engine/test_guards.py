"""Loop and stall guards: deterministic stops with a reason, instead of a spent budget."""

from __future__ import annotations

from orchestra import RunStatus, TaskStatus
from orchestra.engine.graph import NODES, RECURSION_LIMIT, build_graph
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_cli, run_collect


async def test_the_same_tool_call_repeated_across_attempts_stops_the_task():
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do the task.", ["word_count"]),
        "executor@a": lambda call: (
            "one word"
            if call.messages[-1].type == "tool"
            else tool_call("word_count", {"text": "x"})
        ),
        "executor@b": "b done",
        "critic@a": verdict("retry", "Count again."),
        "critic@b": verdict("pass"),
        "synthesizer": "never",
    }
    team, model = make_team(script, max_attempts=10, max_identical_tool_calls=3, on_failure="stop")
    result, events = await run_collect(team)
    a = result.tree.get("a")
    assert result.status is RunStatus.FAILED
    assert a.status is TaskStatus.FAILED
    assert a.reason == (
        "loop stopped: word_count was called 3 times with the same arguments in this task"
        " (limit 3); the call was not made again"
    )
    assert a.attempts == 4  # three attempts made the call; the fourth was stopped
    assert [c.tool for c in result.tool_calls if c.task_id == "a"] == ["word_count"] * 3
    assert len(model.calls_for("critic", "a")) == 3  # the stopped attempt was not judged
    assert result.tree.get("b").status is TaskStatus.DONE  # finished work is kept
    [notice] = [n for n in result.notices if n.kind == "loop_stopped"]
    assert notice.task_id == "a"
    assert any(e.type == "notice" and e.kind == "loop_stopped" for e in events)


async def test_a_repeated_call_within_one_attempt_stops_at_the_limit():
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task.", ["word_count"]),
        "executor@a": lambda call: tool_call("word_count", {"text": "x"}),
        "critic": verdict("pass"),
        "synthesizer": "never",
    }
    team, model = make_team(script, max_identical_tool_calls=1)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.FAILED
    assert "word_count was called 1 times" in (result.tree.get("a").reason or "")
    assert len(model.calls_for("executor", "a")) == 2 and len(result.tool_calls) == 1


async def test_a_run_where_jobs_finish_and_no_task_does_is_stopped_as_stalled():
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"{call.task_id} again",
        "critic": verdict("retry", "Not yet."),
        "synthesizer": "never",
    }
    team, model = make_team(script, max_attempts=50, max_idle_jobs=6)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.FAILED
    assert result.reason == "stalled: 7 jobs finished in a row and no task did (limit 6)"
    assert [n.kind for n in result.notices] == ["loop_stopped"]
    # at most the attempts already running when the guard fired finish after it
    assert 7 <= len(model.calls_for("executor")) <= 8
    assert {n.status for n in result.tree.leaves()} == {TaskStatus.SKIPPED}


def test_the_recursion_limit_covers_every_node_twice():
    compiled = build_graph(checkpointer=None, name="t")
    assert set(compiled.get_graph().nodes) - {"__start__", "__end__"} == set(NODES)
    assert RECURSION_LIMIT > 2 * len(NODES)


def test_a_low_langgraph_default_recursion_limit_does_not_end_a_run():
    """LangGraph reads its default limit from the environment; orchestra sets its own."""
    done = run_cli(
        "run",
        "examples/replan_demo.py:team",
        "Write a launch note",
        "--json",
        env_extra={"LANGGRAPH_DEFAULT_RECURSION_LIMIT": "3"},
    )
    assert done.returncode == 0, done.stderr
