"""Budgets: checked before every call, a clean stop, and a resume with more budget."""

from __future__ import annotations

import pytest

from orchestra import RunStatus, TaskStatus, tool
from orchestra.core.budget import Budget
from orchestra.core.errors import BudgetExceeded
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team

CHAIN = {
    "planner": [plan(subtask("a"), subtask("b", deps=["a"]), subtask("c", deps=["b"]))],
    "role_designer": role_spec("worker", "Do the task.", []),
    "executor": "result",
    "critic": verdict("pass"),
    "synthesizer": "answer",
}


async def test_a_run_stops_cleanly_at_its_model_call_budget_and_resumes_with_more():
    # planner 1 + designs 3 + a (executor, critic) 2 = 6 calls; the 7th does not start
    team, model = make_team(dict(CHAIN), budget=Budget(model_calls=6))
    result = await team.arun("goal", run_id="thrifty")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert "6 model calls spent of 6" in (result.reason or "")
    assert len(model.calls) == 6 and result.usage.model_calls == 6
    tree = result.tree
    assert tree.get("a").status is TaskStatus.DONE and tree.get("a").result == "result"
    assert tree.get("b").status is TaskStatus.SKIPPED and tree.get("c").status is TaskStatus.SKIPPED
    assert team.history is not None
    assert team.history.get("thrifty").summary.status == "budget_exceeded"

    # the spent 6 count against the new budget: 6 + (b, c: 2 each) + synthesis = 11
    done = await team.aresume("thrifty", budget=Budget(model_calls=11))
    assert done.status is RunStatus.SUCCEEDED and done.output == "answer"
    assert len(model.calls_for("executor", "a")) == 1  # finished work was kept
    assert {n.id: n.executions for n in done.tree.leaves()} == {"a": 1, "b": 1, "c": 1}
    assert len(model.calls) == 11


async def test_tool_call_budget_stops_the_call_that_would_exceed_it():
    runs: list[str] = []

    @tool
    def fetch(q: str) -> str:
        """Fetch."""
        runs.append(q)
        return q

    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("worker", "Do the task.", ["fetch"]),
        "executor": [tool_call("fetch", {"q": "1"}), tool_call("fetch", {"q": "2"}), "done"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, _ = make_team(script, tools=[fetch], budget=Budget(tool_calls=1))
    result = await team.arun("goal")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert runs == ["1"]  # the second call never started
    assert "1 tool calls spent of 1" in (result.reason or "")


async def test_token_budget_and_a_budget_spent_while_planning():
    team, model = make_team(dict(CHAIN), budget=Budget(tokens=1))
    with pytest.raises(BudgetExceeded, match="tokens spent of 1"):
        await team.arun("goal", run_id="broke")
    assert len(model.calls) == 1  # the planner's call went over; nothing after it started


def test_budgets_reject_negative_limits():
    with pytest.raises(ValueError):
        Budget(tokens=-1)


async def test_a_subtree_budget_stops_only_its_subtree_and_a_resume_goes_on():
    script = {
        "planner": [
            plan(
                subtask("a", subtasks=[subtask("a1"), subtask("a2", deps=["a1"])]),
                subtask("b"),
            )
        ],
        "role_designer": role_spec("worker", "Do the task.", []),
        "executor": lambda call: f"{call.task_id} done",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    # subtree a: designs of a1 and a2 (2) + a1's executor and critic (2) = 4 calls;
    # a2's executor would be the 5th and does not start. b needs 3 and finishes.
    team, model = make_team(script, budget=Budget(subtree=Budget(model_calls=4)))
    result = await team.arun("goal", run_id="branchy")
    tree = result.tree
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert tree.get("a1").status is TaskStatus.DONE and tree.get("b").status is TaskStatus.DONE
    assert tree.get("a2").status is TaskStatus.SKIPPED
    assert "budget exceeded: subtree 'a': 4 model calls spent of 4" in (tree.get("a2").reason or "")
    assert not model.calls_for("executor", "a2") and not model.calls_for("synthesizer")
    assert sum(n.usage.model_calls for n in tree.subtree("a")) == 4

    done = await team.aresume("branchy", budget=Budget(subtree=Budget(model_calls=6)))
    assert done.status is RunStatus.SUCCEEDED and done.output == "answer"
    assert {n.id: n.executions for n in done.tree.leaves()} == {"a1": 1, "a2": 1, "b": 1}
    assert sum(n.usage.model_calls for n in done.tree.subtree("a")) == 6


async def test_a_subtree_budget_counts_inside_the_run_budget():
    script = dict(CHAIN) | {"planner": [plan(subtask("a"), subtask("b"))]}
    # the run's 4 calls (planner, 2 designs, a's executor) end it before any subtree's 10
    team, model = make_team(script, budget=Budget(model_calls=4, subtree=Budget(model_calls=10)))
    result = await team.arun("goal")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert len(model.calls) == 4
    assert "subtree" not in (result.reason or "")
