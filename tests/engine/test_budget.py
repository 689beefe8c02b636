"""Budgets: checked before every call, a clean stop, and a resume with more budget."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestra import Event, RoleAssigned, RunStatus, TaskStatus, tool
from orchestra.core.approval import Approve
from orchestra.core.budget import Budget
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
    # planner 1 + one design for the plan 1 + a (executor, critic) 2 = 4 calls; the 5th
    # does not start
    team, model = make_team(dict(CHAIN), budget=Budget(model_calls=4))
    result = await team.arun("goal", run_id="thrifty")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert "4 model calls spent of 4" in (result.reason or "")
    assert len(model.calls) == 4 and result.usage.model_calls == 4
    tree = result.tree
    assert tree.get("a").status is TaskStatus.DONE and tree.get("a").result == "result"
    assert tree.get("b").status is TaskStatus.SKIPPED and tree.get("c").status is TaskStatus.SKIPPED
    assert team.history is not None
    assert team.history.get("thrifty").summary.status == "budget_exceeded"

    # the spent 4 count against the new budget: 4 + (b, c: 2 each) + synthesis = 9
    done = await team.aresume("thrifty", budget=Budget(model_calls=9))
    assert done.status is RunStatus.SUCCEEDED and done.output == "answer"
    assert len(model.calls_for("executor", "a")) == 1  # finished work was kept
    assert {n.id: n.executions for n in done.tree.leaves()} == {"a": 1, "b": 1, "c": 1}
    assert len(model.calls) == 9


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


async def test_a_budget_spent_by_the_planners_reply_ends_the_run_in_role_design_and_resumes():
    # the planner's one call passes the token limit: no role can be designed (issue 19.17:
    # this raised BudgetExceeded, and every resume raised it again from the checkpoint)
    team, model = make_team(dict(CHAIN), budget=Budget(tokens=1))
    result = await team.arun("goal", run_id="broke")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert "tokens spent of 1" in (result.reason or "")
    assert len(model.calls) == 1  # the planner's call went over; nothing after it started
    assert result.usage.model_calls == 1 and result.usage.total_tokens > 1
    leaves = result.tree.leaves()
    assert [n.status for n in leaves] == [TaskStatus.SKIPPED] * 3
    assert all("budget exceeded" in (n.reason or "") for n in leaves)
    assert team.history is not None
    assert team.history.get("broke").summary.status == "budget_exceeded"

    again = await team.aresume("broke", budget=Budget(tokens=2))  # still spent: ends again
    assert again.status is RunStatus.BUDGET_EXCEEDED and len(model.calls) == 1

    done = await team.aresume("broke", budget=Budget(tokens=1_000_000))
    assert done.status is RunStatus.SUCCEEDED and done.output == "answer"
    assert len(model.calls_for("planner")) == 1  # the plan was kept; the roles were designed
    assert len(model.calls_for("role_designer")) == 1  # in one call for the plan
    assert {n.id: n.executions for n in done.tree.leaves()} == {"a": 1, "b": 1, "c": 1}
    assert done.usage.model_calls == len(model.calls)


async def test_a_budget_spent_in_a_design_repair_stops_the_plans_design_cleanly():
    # c's entry names an unknown tool: its repair call (the 3rd call) is past the budget
    bad = role_spec("checker", "Check it.", ["delete_everything"])
    script = dict(CHAIN) | {"role_designer@c": [bad, role_spec("checker", "Check it.", [])]}
    team, model = make_team(script, budget=Budget(model_calls=2))
    assigned: list[str] = []

    def note(event: Event) -> None:
        if isinstance(event, RoleAssigned):
            assigned.append(event.task_id)

    result = await team.arun("goal", run_id="half-designed", on_event=note)
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert assigned == ["a", "b"]
    # a's and b's entries were valid before the stop: they keep their role
    assert {n.id: n.role for n in result.tree.leaves()} == {"a": "worker", "b": "worker", "c": None}
    assert result.usage.model_calls == 2 == len(model.calls)
    assert result.tree.root.usage.model_calls == 2  # the plan's and its design's

    done = await team.aresume("half-designed", budget=Budget(model_calls=20), on_event=note)
    assert done.status is RunStatus.SUCCEEDED
    assert assigned == ["a", "b", "c"]  # a's and b's roles are not announced again
    roles = {n.id: n.role for n in done.tree.leaves()}
    assert roles == {"a": "worker", "b": "worker", "c": "checker"}
    # only c, whose entry was still wrong at the stop, is designed again (its reply is good now)
    designs = model.calls_for("role_designer")
    assert [c.task_ids for c in designs] == [("a", "b", "c"), ("c",)]
    model.assert_complete()


async def test_a_budget_spent_while_planning_ends_the_run_budget_exceeded_and_resumes():
    # the planner's first reply is invalid and its repair call is past the budget (19.15)
    script = dict(CHAIN) | {"planner": ["not a plan", *CHAIN["planner"]]}
    team, model = make_team(script, budget=Budget(model_calls=1))
    result = await team.arun("goal", run_id="unplanned")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert "1 model calls spent of 1" in (result.reason or "")
    assert result.usage.model_calls == 1 and len(model.calls) == 1
    assert team.history is not None
    assert team.history.get("unplanned").summary.status == "budget_exceeded"

    done = await team.aresume("unplanned", budget=Budget(model_calls=20))
    assert done.status is RunStatus.SUCCEEDED and done.output == "answer"
    # planner twice, one design for the plan, 3 x (executor, critic), synthesis, its critic
    assert done.usage.model_calls == len(model.calls) == 1 + 1 + 1 + 6 + 1 + 1


async def test_a_budget_spent_while_refining_the_goal_ends_the_run_and_resumes():
    statement = {
        "objective": "Do the goal.",
        "constraints": [],
        "deliverables": ["an answer"],
        "acceptance_criteria": ["it answers"],
    }
    script = dict(CHAIN) | {"refiner": statement}
    team, model = make_team(script, refine_goal=True, budget=Budget(model_calls=0))
    result = await team.arun("goal", run_id="unrefined")
    assert result.status is RunStatus.BUDGET_EXCEEDED and not model.calls
    assert team.history is not None
    assert team.history.get("unrefined").summary.status == "budget_exceeded"

    done = await team.aresume("unrefined", budget=Budget(model_calls=20))
    assert done.status is RunStatus.SUCCEEDED
    assert done.tree.statement is not None and done.tree.statement.objective == "Do the goal."
    assert len(model.calls_for("refiner")) == 1


async def test_a_budget_spent_while_sampling_plans_ends_the_run_and_resumes():
    script = dict(CHAIN) | {"planner": CHAIN["planner"][0]}  # the same plan every sample
    team, model = make_team(script, plan_samples=3, budget=Budget(model_calls=2))
    result = await team.arun("goal", run_id="sampled")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert result.usage.model_calls == len(model.calls) == 2  # the third sample never started

    done = await team.aresume("sampled", budget=Budget(model_calls=30))
    assert done.status is RunStatus.SUCCEEDED
    assert done.usage.model_calls == len(model.calls)


async def test_a_budget_spent_at_synthesis_keeps_every_result_and_a_resume_synthesizes():
    # planner 1 + one design for the plan 1 + (executor, critic) x 3 = 8: the synthesizer's
    # call does not start (19.17: this raised, and the history said error)
    team, model = make_team(dict(CHAIN), budget=Budget(model_calls=8))
    result = await team.arun("goal", run_id="unsaid")
    assert result.status is RunStatus.BUDGET_EXCEEDED and result.output is None
    assert "8 model calls spent of 8" in (result.reason or "")
    assert all(n.status is TaskStatus.DONE for n in result.tree.leaves())
    assert team.history is not None
    assert team.history.get("unsaid").summary.status == "budget_exceeded"

    done = await team.aresume("unsaid", budget=Budget(model_calls=9))
    assert done.status is RunStatus.SUCCEEDED and done.output == "answer"
    assert len(model.calls_for("executor")) == 3  # nothing ran again but the synthesis
    assert len(model.calls) == 9 and done.usage.model_calls == 9


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
        "lead@a": "a1 and a2, integrated",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    # subtree a: a1's executor and critic = 2 calls (the plan's role design, one call, is
    # the root's); a2's executor would be the 3rd and does not start. b needs 2 and
    # finishes. Resumed: a2's executor and critic, then a's lead: design, integration,
    # critic (7).
    team, model = make_team(script, budget=Budget(subtree=Budget(model_calls=2)))
    result = await team.arun("goal", run_id="branchy")
    tree = result.tree
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert tree.get("a1").status is TaskStatus.DONE and tree.get("b").status is TaskStatus.DONE
    assert tree.get("a2").status is TaskStatus.SKIPPED
    assert "budget exceeded: subtree 'a': 2 model calls spent of 2" in (tree.get("a2").reason or "")
    assert not model.calls_for("executor", "a2") and not model.calls_for("synthesizer")
    assert sum(n.usage.model_calls for n in tree.subtree("a")) == 2

    done = await team.aresume("branchy", budget=Budget(subtree=Budget(model_calls=7)))
    assert done.status is RunStatus.SUCCEEDED and done.output == "answer"
    assert {n.id: n.executions for n in done.tree.leaves()} == {"a1": 1, "a2": 1, "b": 1}
    assert sum(n.usage.model_calls for n in done.tree.subtree("a")) == 7
    assert done.tree.get("a").result == "a1 and a2, integrated"


async def test_a_subtree_budget_counts_inside_the_run_budget():
    script = dict(CHAIN) | {"planner": [plan(subtask("a"), subtask("b"))]}
    # the run's 4 calls (planner, 2 designs, a's executor) end it before any subtree's 10
    team, model = make_team(script, budget=Budget(model_calls=4, subtree=Budget(model_calls=10)))
    result = await team.arun("goal")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert len(model.calls) == 4
    assert "subtree" not in (result.reason or "")


def test_a_misspelt_limit_is_refused_not_ignored():
    with pytest.raises(ValidationError, match="max_model_calls"):
        Budget(max_model_calls=1)  # type: ignore[call-arg]  # the field is model_calls


async def test_a_graft_whose_design_the_budget_stopped_is_designed_in_one_call_on_resume():
    # planner, design (a, b, c), a's executor and critic (replan), a's re-plan: 5 calls;
    # the design of the re-plan's two tasks would be the 6th
    script = dict(CHAIN) | {
        "critic@a": [verdict("replan", "wrong way")],
        "planner@a": [plan(subtask("x"), subtask("y", deps=["x"]))],
    }
    team, model = make_team(script, budget=Budget(model_calls=5))
    result = await team.arun("goal", run_id="grafted")
    assert result.status is RunStatus.BUDGET_EXCEEDED and len(model.calls) == 5
    assert {result.tree.get(t).role for t in ("x", "y")} == {None}

    done = await team.aresume("grafted", budget=Budget(model_calls=30))
    assert done.status is RunStatus.SUCCEEDED
    designs = [c.task_ids for c in model.calls_for("role_designer")]
    assert designs == [("a", "b", "c"), ("x", "y")]  # the graft's leaves together
    assert done.tree.get("a").usage.model_calls >= 3  # its attempt, re-plan and design


@tool(requires_approval=True, side_effects=True)
def post(text: str) -> str:
    """Post a message."""
    return "posted"


async def test_a_budget_given_to_a_run_holds_on_every_resume_that_gives_none():
    # a new user's trial: the run's own cap was dropped on resume and on approve (the
    # team's, here none, applied instead), over HTTP too, where approve takes no budget
    team, model = make_team(dict(CHAIN))
    stopped = await team.arun("goal", run_id="capped", budget=Budget(model_calls=4))
    assert stopped.status is RunStatus.BUDGET_EXCEEDED and len(model.calls) == 4
    again = await team.aresume("capped")
    assert again.status is RunStatus.BUDGET_EXCEEDED and len(model.calls) == 4
    done = await team.aresume("capped", budget=Budget(model_calls=100))
    assert done.status is RunStatus.SUCCEEDED

    script = dict(CHAIN) | {
        "role_designer": role_spec("poster", "Post it.", ["post"]),
        "executor@a": [tool_call("post", {"text": "hi"}), "a posted"],
    }
    team, model = make_team(script, tools=[post])
    paused = await team.arun("goal", run_id="paused", budget=Budget(model_calls=3))
    assert paused.status is RunStatus.AWAITING_APPROVAL
    approved = await team.aresume("paused", decisions=Approve())
    assert approved.status is RunStatus.BUDGET_EXCEEDED
    assert approved.usage.model_calls == 3 == len(model.calls)
