"""Regressions from a red-team pass over the hierarchy: sub-teams, escalation, the guards."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from orchestra import Role, RunStatus, Team, tool
from orchestra.core.budget import Budget
from orchestra.core.tree import TaskStatus
from orchestra.engine.hierarchy import Hierarchy
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    fan_out,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)
from tests.conftest import GUARD_S, make_team, run_collect

SENT: Counter[str] = Counter()


@tool(side_effects=True)
def send(name: str) -> str:
    """Send something that must go out once."""
    SENT[name] += 1
    return "sent"


@pytest.fixture(autouse=True)
def _nothing_sent() -> None:
    SENT.clear()


def _legal_team(script: dict[str, Any], **kwargs: Any) -> tuple[Team, ScriptedChatModel]:
    """A sub-team named ``legal`` on its own scripted model."""
    model = ScriptedChatModel(
        {
            "role_designer": role_spec("lawyer", "Know the law.", []),
            "executor": lambda call: f"{call.task_id}: ok",
            "critic": verdict("pass"),
            "synthesizer": "EU rule 2026/1 applies.",
            **script,
        }
    )
    return Team(model, name="legal", history=False, **kwargs), model


def _delegating_team(sub: Team, **kwargs: Any) -> tuple[Team, ScriptedChatModel]:
    """A team whose task ``law`` is delegated to ``sub``; ``report`` needs it."""
    script = {
        "planner": [
            plan(
                subtask("prices"),
                subtask("law", role="legal"),
                subtask("report", deps=["prices", "law"]),
            )
        ],
        "role_designer": role_spec("analyst", "Analyse.", []),
        "executor": lambda call: f"{call.task_id} done",
        "critic": verdict("pass"),
        "synthesizer": "final report",
    }
    return make_team(
        script, roles=[Role(name="legal", team=sub, description="legal questions")], **kwargs
    )


# -- 1. a sub-team under a per-subtree budget ----------------------------------------


async def test_a_sub_team_under_a_subtree_budget_ends_at_that_budget_and_resumes():
    """The sub-run spends the delegating run's subtree meter: its stop ends the sub-run
    (it used to restart the stopped job forever), and the delegating run ends
    ``budget_exceeded`` naming the subtree; a larger budget finishes it."""
    sub, sub_model = _legal_team(
        {"planner": plan(subtask("find"), subtask("check", deps=["find"]), subtask("extra"))}
    )
    team, model = _delegating_team(sub, max_parallel=1)
    budget = Budget(model_calls=100, subtree=Budget(model_calls=4))
    result = await asyncio.wait_for(
        team.arun("goal", run_id="rt-subtree", budget=budget), GUARD_S * 3
    )
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert result.reason == "budget exceeded: subtree 'law': 4 model calls spent of 4"
    assert result.tree.get("law").status is not TaskStatus.DONE
    assert len(sub_model.calls) == 4  # the sub-run stopped at the subtree's budget
    assert not any(n.kind == "loop_stopped" for n in result.notices)

    more = Budget(model_calls=100, subtree=Budget(model_calls=40))
    done = await asyncio.wait_for(team.aresume("rt-subtree", budget=more), GUARD_S * 3)
    assert done.status is RunStatus.SUCCEEDED
    assert done.tree.get("law").status is TaskStatus.DONE
    assert len(sub_model.calls_for("planner")) == 1  # the sub-run went on, not over


# -- 2. an escalation re-plan holds the subtree it re-plans ---------------------------


def _send_once(call: ScriptedCall) -> Any:
    """Send the task's own message, then answer."""
    if not any(m.type == "tool" for m in call.messages):
        return tool_call("send", {"name": call.task_id})
    return f"result of {call.task_id}"


async def test_an_escalation_re_plan_holds_its_subtree_and_side_effects_happen_once():
    """P's pending ``b`` used to start while P's re-plan ran; the re-plan dropped it, its
    attempt then made it ``done`` and ``b2`` sent b's work a second time."""
    script = {
        "planner": [plan(subtask("P", subtasks=[subtask("a"), subtask("b")]), subtask("other"))],
        "role_designer": role_spec("worker", "Do it.", ["send"]),
        "executor": _send_once,
        "critic@a": verdict("retry", "a is wrong"),
        "planner@P": [
            {"tasks": [subtask("a2", "A another way"), subtask("b2", "B again")], "keep": None}
        ],
        "lead": "integrated",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, model = make_team(script, tools=[send], max_parallel=1, max_attempts=1)
    result, events = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    b = result.tree.get("b")
    assert b.status is TaskStatus.SKIPPED and b.replaced_by == ["a2", "b2"]  # never started
    assert b.executions == 0
    started = [e.task_id for e in events if e.type == "task_started"]
    assert "b" not in started
    assert SENT == Counter({"a": 1, "other": 1, "a2": 1, "b2": 1})
    assert not model.calls_for("executor", "b")


async def test_an_attempt_that_returns_for_a_task_a_re_plan_dropped_leaves_it_dropped(
    monkeypatch: pytest.MonkeyPatch,
):
    """Should an attempt still run when the re-plan drops its task (here the hold is taken
    away to make one), its outcome is counted and the task stays dropped, never done."""
    monkeypatch.setattr(Hierarchy, "holds", lambda self, leaf: False)
    script = {
        "planner": [plan(subtask("P", subtasks=[subtask("a"), subtask("b")]), subtask("other"))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor": lambda call: f"result of {call.task_id}",
        "critic@a": verdict("retry", "a is wrong"),
        "planner@P": [
            {"tasks": [subtask("a2", "A another way"), subtask("b2", "B again")], "keep": None}
        ],
        "lead": "integrated",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, model = make_team(script, max_parallel=1, max_attempts=1)
    result, events = await run_collect(team)
    assert model.calls_for("executor", "b")  # it did run while P was re-planned
    b = result.tree.get("b")
    assert b.status is TaskStatus.FAILED and b.replaced_by == ["a2", "b2"]
    assert b.executions == 1
    assert not [e for e in events if e.type == "task_finished" and e.task_id == "b"]
    assert result.status is RunStatus.SUCCEEDED


# -- 3. the stall guard scales with parallelism ---------------------------------------


def _retry_first_draft() -> Any:
    """A critic that sends every leaf's first result back once, then passes."""
    seen: Counter[str] = Counter()

    def critic(call: ScriptedCall) -> str:
        if call.task_id.startswith("t"):
            seen[call.task_id] += 1
            if seen[call.task_id] == 1:
                return verdict("retry", "tighten it")
        return verdict("pass")

    return critic


async def test_a_wide_healthy_run_wider_than_max_idle_jobs_is_not_stalled():
    """40 leaves at once, each sent back once: 40 jobs in a row finish before any task
    does, past ``max_idle_jobs`` (30), and the run is healthy."""
    leaves = [f"t{i}" for i in range(40)]
    script = {
        "planner": [fan_out(leaves)],
        "role_designer": role_spec("w", "Do it.", []),
        "executor": lambda call: f"result of {call.task_id}",
        "critic": _retry_first_draft(),
        "lead": "integrated",
        "synthesizer": "answer",
    }
    team, _ = make_team(script, decompose="upfront", max_parallel=40)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert all(result.tree.get(t).status is TaskStatus.DONE for t in leaves)
    assert not result.notices


async def test_a_wide_run_that_goes_nowhere_is_still_stopped_at_twice_its_width():
    """The scaled guard still stops a real stall: 10 leaves at once, every verdict a
    retry, ``max_idle_jobs=6``: the limit is 2 x 10 jobs."""
    script = {
        "planner": [fan_out([f"t{i}" for i in range(10)])],
        "role_designer": role_spec("w", "Do it.", []),
        "executor": lambda call: f"{call.task_id} again",
        "critic": verdict("retry", "Not yet."),
        "synthesizer": "never",
    }
    team, _ = make_team(
        script, decompose="upfront", max_parallel=10, max_attempts=50, max_idle_jobs=6
    )
    result, _ = await run_collect(team)
    assert result.status is RunStatus.FAILED
    assert result.reason == "stalled: 21 jobs finished in a row and no task did (limit 20)"


# -- 4. a sub-team that ends partial ---------------------------------------------------


async def test_a_partial_sub_run_keeps_the_delegated_task_unverified_naming_what_is_missing():
    sub, _ = _legal_team(
        {
            "planner": plan(subtask("find"), subtask("check"), subtask("extra")),
            "critic@check": verdict("retry", "wrong rule"),
        },
        max_attempts=1,
        max_replans=0,
    )
    team, _ = _delegating_team(sub)
    result, _ = await run_collect(team)
    law = result.tree.get("law")
    assert law.subtree is not None and law.subtree.get("check").status is TaskStatus.FAILED
    assert not result.verified
    [entry] = result.unverified
    assert entry.task_id == "law" and entry.kind == "unverified_result"
    assert "ended partial" in entry.reason and "law/check (" in entry.reason
    assert result.to_record().unverified == result.unverified


async def test_a_sub_run_that_succeeds_leaves_the_delegated_task_verified():
    sub, _ = _legal_team({"planner": plan(subtask("find"), subtask("check"))})
    team, _ = _delegating_team(sub)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    assert result.verified and result.unverified == []
