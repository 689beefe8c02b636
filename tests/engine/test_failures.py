"""Retries, bad model output, failing tools: each ends in a defined state, nothing lost."""

from __future__ import annotations

import pytest

from orchestra import (
    ConfigError,
    PlanningError,
    Role,
    RoleDesignError,
    RunStatus,
    ScriptError,
    TaskStatus,
    tool,
)
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect, word_count

ONE_TASK = plan(subtask("a", criteria=["mentions apples"]))


async def test_retry_passes_the_critique_back_to_the_executor():
    script = {
        "planner": [ONE_TASK],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": ["pears", "apples"],
        "critic@a": [verdict("retry", "No apples mentioned."), verdict("pass")],
        "critic@root": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script)
    result, events = await run_collect(team)
    model.assert_complete()
    a = result.tree.get("a")
    assert result.succeeded and a.result == "apples"
    assert a.attempts == 2 and a.executions == 2
    assert [v.verdict for v in a.verdicts] == ["retry", "pass"]
    second = model.calls_for("executor", "a")[1].prompt
    assert "Your previous attempt was rejected: No apples mentioned." in second
    assert [e.attempt for e in events if e.type == "task_started"] == [1, 2]


async def test_retry_exhaustion_fails_the_task_and_skips_its_dependents():
    script = {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]), subtask("c"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"try of {call.task_id}",
        "critic@a": verdict("retry", "Still wrong."),
        "critic": verdict("pass"),
    }
    team, model = make_team(script, max_attempts=3, on_failure="stop")
    result, _ = await run_collect(team)
    model.assert_complete()
    tree = result.tree
    assert result.status is RunStatus.FAILED
    assert result.reason == "task 'a' failed: no accepted result after 3 attempt(s): Still wrong."
    assert tree.get("a").status is TaskStatus.FAILED and tree.get("a").executions == 3
    assert tree.get("a").result == "try of a"  # the last attempt is kept
    assert tree.get("b").status is TaskStatus.SKIPPED and tree.get("b").executions == 0
    assert tree.get("c").status is TaskStatus.DONE  # unrelated work finished and kept
    assert model.calls_for("synthesizer") == []


async def test_an_executor_that_never_answers_is_bounded_by_max_steps():
    script = {
        "planner": [ONE_TASK],
        "role_designer": role_spec("worker", "Do the task.", ["word_count"]),
        "executor@a": tool_call("word_count", {"text": "again"}),
    }
    # (the repeated-call guard is set high: this test is about the max_steps bound)
    team, model = make_team(script, max_steps=3, max_attempts=2, max_identical_tool_calls=10)
    result, events = await run_collect(team)
    assert result.status is RunStatus.FAILED
    assert "no final result after 3 model calls" in (result.reason or "")
    calls = model.calls_for("executor", "a")
    assert len(calls) == 6
    # the second call repeats the first exactly, so the third is answer-only: no tools
    # bound, and what it answers (another tool call) is neither run nor taken as a result
    assert [c.tools for c in calls[:3]] == [["word_count"], ["word_count"], []]
    assert [e.ok for e in events if e.type == "tool_called"] == [True, True] * 2
    assert "Stop calling tools now." in calls[2].last


async def test_the_answer_only_step_takes_a_final_answer():
    script = {
        "planner": [ONE_TASK],
        "role_designer": role_spec("worker", "Do the task.", ["word_count"]),
        "executor@a": [
            tool_call("word_count", {"text": "x y"}),
            tool_call("word_count", {"text": "x y"}),
            '{"final": "two words"}',
        ],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.succeeded and result.tree.get("a").result == "two words"


async def test_malformed_planner_json_is_repaired_with_the_errors_fed_back():
    script = {
        "planner": [
            "Sure! Here is the plan: {tasks: [oops",
            plan(subtask("a", deps=["ghost"])),
            "```json\n"
            + '{"tasks": [{"id": "a", "title": "A", "description": "Do a."}]}'
            + "\n```",
        ],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": ["done"],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.succeeded
    calls = model.calls_for("planner")
    assert "invalid JSON" in calls[1].last
    assert "depends on 'ghost', which is not one of its siblings" in calls[2].last


async def test_unrepairable_planner_output_raises_planning_error_with_the_raw_output():
    junk = ['{"tasks": []}', "no idea", '{"tasks": [{"id": "a"}]}']
    team, model = make_team({"planner": list(junk)}, max_repairs=2)
    with pytest.raises(PlanningError) as caught:
        await team.arun("goal")
    model.assert_complete()
    err = caught.value
    assert err.raw_outputs == junk and err.raw_output == junk[-1]
    assert any("title" in e for e in err.errors)


async def test_a_role_spec_with_an_unknown_tool_is_rejected_and_repaired():
    script = {
        "planner": [ONE_TASK],
        "role_designer": [
            role_spec("hacker", "Do anything.", ["word_count", "delete_everything"]),
            role_spec("counter", "Count words.", ["word_count"]),
        ],
        "executor@a": ["done"],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert "unknown tool(s) ['delete_everything']" in model.calls_for("role_designer")[1].last
    assert result.roles["counter"].tools == ("word_count",)
    assert "hacker" not in result.roles


async def test_a_role_spec_that_stays_invalid_raises_role_design_error():
    bad = role_spec("hacker", "Do anything.", ["delete_everything"])
    team, _ = make_team({"planner": [ONE_TASK], "role_designer": [bad, bad]}, max_repairs=1)
    with pytest.raises(RoleDesignError, match="delete_everything"):
        await team.arun("goal")


def test_team_config_errors_are_typed():
    with pytest.raises(ConfigError, match="unknown tool"):
        make_team({}, roles=[Role(name="x", instructions="y", tools=["nope"])])
    with pytest.raises(ConfigError, match="two roles"):
        make_team({}, roles=[Role(name="x", instructions="y")] * 2)
    with pytest.raises(ConfigError, match="max_parallel"):
        make_team({}, max_parallel=0)
    from orchestra import Team

    with pytest.raises(ConfigError, match="use 'provider:model'"):
        Team("not a model")
    with pytest.raises(ConfigError, match="not int"):
        Team(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no GGUF model file"):
        Team("/nowhere/model.gguf")


async def test_tool_errors_invalid_args_and_refusals_become_observations():
    @tool
    def explode(x: int) -> int:
        """A tool that always fails."""
        raise ValueError("boom")

    @tool
    def delete_everything() -> str:
        """Dangerous; no role here may call it."""
        raise AssertionError("must never run")

    script = {
        "planner": [ONE_TASK],
        "role_designer": role_spec("worker", "Do the task.", ["explode", "word_count"]),
        "executor@a": [
            tool_call("explode", {"x": 1}),
            tool_call("word_count", {"text": 5}),
            tool_call("delete_everything", {}),
            tool_call("no_such_tool", {}),
            "recovered",
        ],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script, tools=[explode, delete_everything, word_count])
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.succeeded and result.tree.get("a").result == "recovered"
    outputs = [(e.tool, e.ok, e.output) for e in events if e.type == "tool_called"]
    assert outputs[0][:2] == ("explode", False) and "ValueError: boom" in outputs[0][2]
    assert outputs[1][:2] == ("word_count", False) and "invalid arguments" in outputs[1][2]
    assert outputs[2][:2] == ("delete_everything", False) and outputs[2][2].startswith("refused")
    assert outputs[3][:2] == ("no_such_tool", False) and outputs[3][2].startswith("refused")
    # the model saw each problem as a tool result
    last_prompt = model.calls_for("executor", "a")[-1].messages
    tool_messages = [m for m in last_prompt if m.type == "tool"]
    assert len(tool_messages) == 4 and all(m.status == "error" for m in tool_messages)


async def test_json_action_fallback_for_models_without_native_tools():
    script = {
        "planner": [ONE_TASK],
        "role_designer": role_spec("worker", "Count things.", ["word_count"]),
        "executor@a": [
            '{"tool": "word_count", "args": {"text": "one two three"}}',
            '{"final": "three words"}',
        ],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script, native_tools=False)
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.tree.get("a").result == "three words"
    assert [(e.tool, e.ok, e.output) for e in events if e.type == "tool_called"] == [
        ("word_count", True, "3")
    ]
    first = model.calls_for("executor", "a")[0]
    assert first.tools == [] and '{"tool": "<name>"' in first.prompt


async def test_a_script_that_runs_out_fails_the_run_loudly():
    team, model = make_team({"planner": [ONE_TASK], "role_designer": role_spec("w", "Do it.")})
    with pytest.raises(ScriptError, match="executor"):
        await team.arun("goal")
    with pytest.raises(AssertionError, match="no reply for agent='executor'"):
        model.assert_complete()


async def test_native_tool_calls_with_unparsable_arguments_go_back_as_errors():
    from langchain_core.messages import AIMessage, InvalidToolCall

    broken = AIMessage(
        content="",
        invalid_tool_calls=[
            InvalidToolCall(name="word_count", args='{"text": ', id="c1", error="bad JSON")
        ],
    )
    script = {
        "planner": [ONE_TASK],
        "role_designer": role_spec("worker", "Count.", ["word_count"]),
        "executor@a": [broken, "done anyway"],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script)
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.succeeded
    [called] = [e for e in events if e.type == "tool_called"]
    assert not called.ok and "could not be read (bad JSON)" in called.output
    second = model.calls_for("executor", "a")[1].messages
    assert second[-1].type == "tool" and second[-1].tool_call_id == "c1"


async def test_an_empty_synthesis_falls_back_to_the_results_and_says_so():
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do it."),
        "executor": lambda call: f"result of {call.task_id}",
        "critic": verdict("pass"),
        "synthesizer": ["", "  ", ""],
    }
    team, model = make_team(script, max_repairs=2)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.succeeded
    assert result.output == "## A (a)\nresult of a\n\n## B (b)\nresult of b"
    assert result.reason is None
    [notice] = result.notices
    assert notice.kind == "synthesis_fallback" and notice.task_id == "root"


async def test_a_branch_given_up_leaves_independent_work_and_the_run_is_partial():
    script = {
        "planner": [
            plan(
                subtask("a"),
                subtask("b", deps=["a"]),
                subtask("d", deps=["b"]),
                subtask("c"),
                subtask("g", subtasks=[subtask("g1"), subtask("g2", deps=["g1"])], deps=["c"]),
            )
        ],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"result of {call.task_id}",
        "critic@a": verdict("retry", "Still wrong."),
        "lead@g": "g1 and g2, integrated",
        "critic": verdict("pass"),
        "synthesizer": "what we found: c and g",
    }
    team, model = make_team(script, max_attempts=2, max_replans_per_node=0)
    result, events = await run_collect(team)
    model.assert_complete()
    tree = result.tree
    assert result.status is RunStatus.PARTIAL
    assert not result.succeeded
    assert tree.get("a").status is TaskStatus.FAILED
    # b needs a, d needs b: skipped with the reason, never run
    for task_id, needs in (("b", "a"), ("d", "b")):
        node = tree.get(task_id)
        assert node.status is TaskStatus.SKIPPED and node.executions == 0
        assert node.reason.startswith(f"depends on {needs!r}, which ")
    # the independent branch ran to the end, its nested tasks included
    for task_id in ("c", "g", "g1", "g2"):
        assert tree.get(task_id).status is TaskStatus.DONE
    assert [(m.task_id, m.title) for m in result.missing] == [("a", "A"), ("b", "B"), ("d", "D")]
    assert "Still wrong." in result.missing[0].reason
    # the answer is built from what succeeded and says what is missing and why
    [synth] = model.calls_for("synthesizer")
    assert "result of c" in synth.prompt and "Not done" in synth.prompt
    assert result.output.startswith("what we found: c and g")
    assert "Not done (this answer is partial)" in result.output
    assert "- A (a): no accepted result after 2 attempt(s): Still wrong." in result.output
    assert [n.kind for n in result.notices] == ["branch_given_up"]
    record = result.to_record()
    assert record.status == "partial"
    assert [m.task_id for m in record.missing] == ["a", "b", "d"]
    assert not [e for e in events if e.type == "task_failed" and "cancelled" in e.reason]


async def test_a_run_where_every_branch_fails_is_failed_not_partial():
    script = {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"try of {call.task_id}",
        "critic": verdict("retry", "Still wrong."),
    }
    team, model = make_team(script, max_attempts=1, max_replans_per_node=0)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.FAILED
    assert result.reason == "task 'a' failed: no accepted result after 1 attempt(s): Still wrong."
    assert [m.task_id for m in result.missing] == ["a", "b"]
    assert model.calls_for("synthesizer") == []
