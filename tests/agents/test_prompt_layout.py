"""Prompts: stable part first (for provider caches), the active path only, inputs cut visibly."""

from __future__ import annotations

import pytest

from orchestra import ConfigError, Team, tool
from orchestra.agents.context import clip_result, describe_task, goal_context, task_context
from orchestra.core.messages import message_text
from orchestra.core.tree import TaskNode
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect, word_count

LONG = "x" * 15_000


def _script(**extra: object) -> dict[str, object]:
    return {
        "planner": [
            plan(
                subtask("a", "Gather"),
                subtask("b", "Other branch"),
                subtask("c", "Use it", deps=["a"]),
            )
        ],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": LONG,
        "executor": "short result",
        "critic": verdict("pass"),
        "synthesizer": "done",
        **extra,
    }


async def test_executor_and_critic_prompts_put_the_shared_part_first():
    team, model = make_team(_script())
    await run_collect(team, "the goal")
    executors = model.calls_for("executor")
    systems = {message_text(c.messages[0]) for c in executors}
    assert len(systems) == 1  # every attempt of the role: the same system prompt
    [system] = systems
    assert "Overall goal: the goal" in system and system.rstrip().endswith("Do the task.")
    for call in executors:
        task = message_text(call.messages[1])
        own = task.index(f"Your task ({call.task_id})")
        assert own == 0 or task[own - 2 : own] == "\n\n"
        assert "Result of '" not in task[own:]  # the inputs come before the task
        assert "\n\nNow do your task: " in task[own:]  # restated last
    critics = model.calls_for("critic")
    assert len({message_text(c.messages[0]) for c in critics}) == 1
    assert "Overall goal: the goal" in message_text(critics[0].messages[0])
    for call in critics:
        judged = message_text(call.messages[1])
        if call.task_id != "root":
            assert judged.startswith(f"Your task ({call.task_id})")


async def test_an_executor_sees_its_path_and_inputs_not_its_siblings():
    team, model = make_team(_script())
    await run_collect(team)
    [c] = model.calls_for("executor", "c")
    prompt = c.prompt
    assert "Result of 'Gather' (a)" in prompt
    assert "Other branch" not in prompt and "short result" not in prompt


async def test_a_long_input_is_cut_with_a_marker_by_default():
    team, model = make_team(_script())
    result, _ = await run_collect(team)
    [c] = model.calls_for("executor", "c")
    task = message_text(c.messages[1])
    assert "[... 7,000 more characters of this result not shown (15,000 in all);" in task
    assert "the full text is task a's result in the run record]" in task
    assert len(task) < 8000 + 1000
    assert result.tree.get("a").result == LONG  # the record keeps the whole


async def test_the_team_setting_is_honoured():
    team, model = make_team(_script(), max_dependency_chars=500)
    await run_collect(team)
    [c] = model.calls_for("executor", "c")
    assert "[... 14,500 more characters of this result not shown" in c.prompt
    team, model = make_team(_script(), max_dependency_chars=None)
    await run_collect(team)
    [c] = model.calls_for("executor", "c")
    assert "not shown" not in c.prompt and LONG in c.prompt
    with pytest.raises(ConfigError):
        Team(ScriptedChatModel({}), max_dependency_chars=5)


def test_short_results_are_untouched():
    node = TaskNode(id="a", parent_id="root", title="A", description="", result="a short result")
    assert clip_result(node, 100) == "a short result"
    assert clip_result(node, len("a short result")) == "a short result"
    assert clip_result(node, None) == "a short result"
    cut = clip_result(node, 7)
    assert cut.startswith("a short\n[... 7 more characters of this result not shown (14 in all)")


async def test_describe_task_is_the_goal_then_the_task():
    team, model = make_team(_script())
    result, _ = await run_collect(team, "the goal")
    tree = result.tree
    task = tree.get("c")
    whole = describe_task(tree, task)
    assert whole == f"{goal_context(tree)}\n\n{task_context(tree, task)}"
    assert whole.startswith("Overall goal: the goal")


async def test_a_lead_sees_its_inputs_cut_by_the_team_setting_too():
    script = {
        "planner": [
            plan(
                subtask("a", "Gather"),
                subtask("g", "Group", deps=["a"], subtasks=[subtask("g1"), subtask("g2")]),
            )
        ],
        "role_designer": role_spec("worker", "Do the task."),
        "executor@a": LONG,
        "executor": "short result",
        "lead": "integrated",
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, model = make_team(script, max_dependency_chars=500)
    result, _ = await run_collect(team)
    assert result.succeeded
    [integration] = model.calls_for("lead", "g")
    assert "[... 14,500 more characters of this result not shown" in integration.prompt
    assert LONG not in integration.prompt


async def test_a_retry_re_sends_the_first_attempts_opening_unchanged():
    script = {
        "planner": [plan(subtask("a", "Gather"), subtask("c", "Use it", deps=["a"]))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": "a result",
        "critic@c": [verdict("retry", "Say more."), verdict("pass")],
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, model = make_team(script)
    result, _ = await run_collect(team)
    assert result.succeeded
    first, second = model.calls_for("executor", "c")
    assert len(first.messages) == 2
    # the system prompt and the task message are the same; the feedback comes after them
    assert [message_text(m) for m in second.messages[:2]] == [
        message_text(m) for m in first.messages
    ]
    feedback = second.messages[2]
    assert feedback.type == "human" and len(second.messages) == 3
    assert message_text(feedback).startswith("Your previous attempt was rejected: Say more.")


async def test_inputs_come_before_the_task_the_outermost_first():
    script = {
        "planner": [
            plan(
                subtask("a", "Gather"),
                subtask(
                    "g",
                    "Group",
                    deps=["a"],
                    subtasks=[subtask("g1", "First"), subtask("g2", "Second", deps=["g1"])],
                ),
            )
        ],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"result of {call.task_id}",
        "lead": "integrated",
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, model = make_team(script)
    result, _ = await run_collect(team)
    assert result.succeeded
    [g2] = model.calls_for("executor", "g2")
    task = message_text(g2.messages[1])
    # the path, the group's input (shared by g1 and g2), g2's own input, then g2
    order = ["Part of: Group", "Result of 'Gather' (a)", "Result of 'First' (g1)", "Your task (g2)"]
    assert [task.index(part) for part in order] == sorted(task.index(part) for part in order)
    [g1] = model.calls_for("executor", "g1")
    shared = "Part of: Group\n\nResult of 'Gather' (a):\nresult of a\n\n"
    assert message_text(g1.messages[1]).startswith(shared) and task.startswith(shared)
    # the lead, the critic and the planner keep their layout: the task before its inputs
    tree = result.tree
    kept = task_context(tree, tree.get("g2"))
    assert kept.index("Your task (g2)") < kept.index("Result of 'First' (g1)")


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@pytest.mark.parametrize("native", [True, False])
async def test_tools_are_bound_and_described_in_the_order_of_their_names(native: bool):
    script = {
        "planner": [plan(subtask("a", "Count"))],
        "role_designer": role_spec("worker", "Do the task.", ["word_count", "add"]),
        "executor": "3" if not native else [tool_call("add", {"a": 1, "b": 2}), "3"],
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, model = make_team(script, tools=[word_count, add], native_tools=native)
    result, _ = await run_collect(team)
    assert result.succeeded
    call = model.calls_for("executor", "a")[0]
    if native:
        assert call.tools == ["add", "word_count"]  # not the role's order
    else:
        system = message_text(call.messages[0])
        assert system.index("- add:") < system.index("- word_count:")
