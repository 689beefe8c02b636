"""Role design for a whole plan in one designer call; repairs per bad entry, not per plan."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from orchestra import RoleDesignError, RunStatus, Team
from orchestra.agents.role_designer import design_roles
from orchestra.core.budget import Budget
from orchestra.core.events import RoleAssigned, UsageRecorded
from orchestra.core.plan import PlanDraft, draft_to_nodes
from orchestra.core.tree import TaskStatus, TaskTree
from orchestra.testing import ScriptedCall, ScriptedChatModel, plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect

BAD = role_spec("hacker", "Do anything.", ["delete_everything"])  # the team has no such tool


def _script(**overrides: Any) -> dict[str, Any]:
    script: dict[str, Any] = {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["a"]))],
        "role_designer": role_spec("worker", "Do the task.", []),
        "executor": lambda call: f"result of {call.task_id}",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    script.update(overrides)
    return script


async def test_a_three_leaf_plan_is_staffed_in_one_designer_call_charged_to_the_root():
    team, model = make_team(_script())
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    [call] = model.calls_for("role_designer")
    assert call.task_ids == ("a", "b", "c") and call.task_id == "root"
    assert all(f"Task {t}: " in call.prompt for t in "abc")
    assigned = {e.task_id: e.role for e in events if isinstance(e, RoleAssigned)}
    assert assigned == {"a": "worker", "b": "worker", "c": "worker"}
    assert list(result.roles) == ["worker"]  # equal specs collapse into one role
    # the design call is the plan's, like the planner's: on the root, once
    assert result.tree.root.usage.model_calls == 4  # planner, design, synthesizer, critic
    assert all(n.usage.model_calls == 2 for n in result.tree.leaves())  # executor, critic
    design_usage = [e for e in events if isinstance(e, UsageRecorded)][1]
    assert design_usage.task_id == "root" and design_usage.usage.model_calls == 1
    assert result.usage.model_calls == len(model.calls) == 4 + 3 * 2


async def test_only_the_bad_entry_is_asked_for_again_and_the_good_ones_stand():
    good_b = role_spec("counter", "Count words.", ["word_count"])
    team, model = make_team(_script(**{"role_designer@b": [BAD, good_b]}))
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    first, repair = model.calls_for("role_designer")
    assert first.task_ids == ("a", "b", "c")
    assert repair.task_ids == ("b",)  # a smaller call: only the task whose entry was wrong
    assert "Task b: " in repair.prompt and "Task a: " not in repair.prompt
    assert "task b: unknown tool(s) ['delete_everything']" in repair.last
    roles = {n.id: n.role for n in result.tree.leaves()}
    assert roles == {"a": "worker", "b": "counter", "c": "worker"}
    assert "hacker" not in result.roles
    assert result.tree.root.usage.model_calls == 5  # the repair is the plan's too


async def test_a_task_whose_entry_stays_invalid_falls_back_alone_with_a_notice():
    team, model = make_team(_script(**{"role_designer@b": BAD}), fallbacks=True, max_repairs=1)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    assert [c.task_ids for c in model.calls_for("role_designer")] == [("a", "b", "c"), ("b",)]
    roles = {n.id: n.role for n in result.tree.leaves()}
    assert roles == {"a": "worker", "b": "generalist", "c": "worker"}
    [notice] = [n for n in result.notices if n.kind == "role_fallback"]
    assert notice.task_id == "b" and "delete_everything" in notice.message


async def test_without_fallbacks_a_task_whose_entry_stays_invalid_fails_the_run():
    team, _ = make_team(_script(**{"role_designer@b": BAD}), max_repairs=1)
    with pytest.raises(RoleDesignError, match="'b'.*delete_everything"):
        await team.arun("goal")


async def test_a_batch_reply_as_written_missing_and_stray_entries_are_asked_for_again():
    batch = {
        "roles": [
            {"task": "a", "name": "worker", "instructions": "Do the task."},
            {"task": "zz", "name": "worker", "instructions": "Do the task."},
            {"task": "a", "name": "other", "instructions": "Ignored: a has an entry."},
        ]
    }
    designer = [batch, role_spec("writer", "Write it."), role_spec("checker", "Check it.")]
    team, model = make_team(_script(role_designer=designer))
    result, _ = await run_collect(team)
    model.assert_complete()
    first, repair = model.calls_for("role_designer")
    assert repair.task_ids == ("b", "c")
    assert "no entry for this task (the reply had entries for unknown tasks 'zz')" in repair.last
    roles = {n.id: n.role for n in result.tree.leaves()}
    assert roles == {"a": "worker", "b": "writer", "c": "checker"}


async def test_a_scripted_function_answers_each_task_of_a_batch_on_its_own():
    def designer(call: ScriptedCall) -> dict[str, Any]:
        assert not call.task_ids  # answered as a call about one task
        return role_spec(f"doer-{call.task_id}", f"Do {call.task_id}.")

    team, model = make_team(_script(role_designer=designer))
    result, _ = await run_collect(team)
    assert {n.id: n.role for n in result.tree.leaves()} == {
        "a": "doer-a",
        "b": "doer-b",
        "c": "doer-c",
    }
    assert len(model.calls_for("role_designer")) == 1
    assert len(model.calls_for("role_designer", "b")) == 1  # a batch call is about b too


async def test_an_entry_may_reuse_by_name_a_role_another_entry_of_the_batch_writes():
    designer = [role_spec("writer"), role_spec("writer", "Write it."), role_spec("writer")]
    team, model = make_team(_script(role_designer=designer))
    result, _ = await run_collect(team)
    assert len(model.calls_for("role_designer")) == 1
    assert {n.role for n in result.tree.leaves()} == {"writer"}
    assert result.roles["writer"].instructions == "Write it."


def _decomposing(**overrides: Any) -> dict[str, Any]:
    return _script(
        planner=[plan(subtask("facts"), subtask("big", deps=["facts"], decompose=True))],
        **{"lead@big": [plan(subtask("x"), subtask("y"), subtask("z")), "big, integrated"]},
        **overrides,
    )


async def test_a_decompositions_leaves_are_designed_in_one_call_charged_to_the_task():
    team, model = make_team(_decomposing())
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    calls = model.calls_for("role_designer")
    assert [(c.task_id, c.task_ids) for c in calls] == [
        ("root", ("facts", "big")),
        ("big", ("x", "y", "z")),
    ]
    # big: its decomposition, its leaves' design, its integration and the critic on it
    assert result.tree.get("big").usage.model_calls == 4


async def test_a_resumed_run_does_not_design_a_finished_batch_again():
    crashes = {"left": 1}

    def executor(call: ScriptedCall) -> str:
        if call.task_id == "y" and crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("process died in y")
        return f"result of {call.task_id}"

    team, model = make_team(_decomposing(executor=executor))
    with pytest.raises(RuntimeError, match="process died"):
        await team.arun("goal", run_id="designed-then-crashed")
    assert len(model.calls_for("role_designer")) == 2
    resumed = await team.aresume("designed-then-crashed")
    assert resumed.status is RunStatus.SUCCEEDED
    # the graft's design came back from the checkpoint by its name (design.x+2)
    assert len(model.calls_for("role_designer")) == 2
    assert {n.id: n.role for n in resumed.tree.leaves()} == {
        "facts": "worker",
        "x": "worker",
        "y": "worker",
        "z": "worker",
    }


async def test_a_subtree_budget_stops_a_grafts_design_and_a_resume_designs_its_leaves():
    script = _script(
        planner=[plan(subtask("big", decompose=True))],
        **{"lead@big": [plan(subtask("x"), subtask("y")), "big, integrated"]},
    )
    # big's subtree: its decomposition (1); the design of its leaves would be the 2nd
    team, model = make_team(script, budget=Budget(subtree=Budget(model_calls=1)))
    result = await team.arun("goal", run_id="graft-broke")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert "subtree 'big': 1 model calls spent of 1" in (result.reason or "")
    assert [c.task_ids for c in model.calls_for("role_designer")] == [("big",)]
    for leaf in ("x", "y"):
        node = result.tree.get(leaf)
        assert node.role is None and node.status is TaskStatus.SKIPPED

    done = await team.aresume("graft-broke", budget=Budget(subtree=Budget(model_calls=20)))
    assert done.status is RunStatus.SUCCEEDED
    # the stopped batch never reached the model; the resumed dispatch designs x and y
    # (Scheduler.run gives each leaf left without a role a design of its own)
    calls = model.calls_for("role_designer")
    assert calls[0].task_ids == ("big",)
    assert sorted(t for c in calls[1:] for t in c.task_ids) == ["x", "y"]
    assert {n.id: n.role for n in done.tree.leaves()} == {"x": "worker", "y": "worker"}


async def test_the_run_budget_stops_the_plans_design_before_its_call():
    team, model = make_team(_script(), budget=Budget(model_calls=1))
    result = await team.arun("goal", run_id="undesigned")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert not model.calls_for("role_designer")
    assert all(n.status is TaskStatus.SKIPPED and n.role is None for n in result.tree.leaves())
    done = await team.aresume("undesigned", budget=Budget(model_calls=20))
    assert done.status is RunStatus.SUCCEEDED
    assert len(model.calls_for("role_designer")) == 1


async def test_a_reply_cut_off_mid_list_keeps_its_complete_entries():
    tree = TaskTree.for_goal("goal", 3, 8)
    tree.add(
        draft_to_nodes(
            PlanDraft.model_validate(plan(subtask("a"), subtask("b"))), tree, parent_id="root"
        )
    )
    cut = '{"roles": [{"task": "a", "name": "worker", "instructions": "Do it."}, {"task": "b", "na'
    rest = json.dumps({"roles": [{"task": "b", **role_spec("writer", "Write.")}]})
    model = GenericFakeChatModel(messages=iter([AIMessage(content=cut), AIMessage(content=rest)]))
    found = await design_roles(model, tree, ["a", "b"], roles={}, tools={})
    a, b = found["a"], found["b"]
    assert not isinstance(a, RoleDesignError) and a[0].name == "worker" and a[1]
    assert not isinstance(b, RoleDesignError) and b[0].name == "writer"


def _research_team(model: ScriptedChatModel) -> Team:
    """examples/research_team.py's team (its tools and roles) on ``model``."""
    path = Path(__file__).resolve().parents[2] / "examples" / "research_team.py"
    spec = importlib.util.spec_from_file_location("research_team_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rt = example.team.runtime
    return Team(
        model,
        tools=list(rt.tools.values()),
        roles=list(rt.roles.values()),
        max_depth=2,
        name="research-team",
        history=False,
    )


async def test_the_research_team_makes_one_designer_call_for_its_plan():
    # a briefing plan: two leaves the planner staffed with the team's roles, three it did not
    briefing = plan(
        subtask("background", role="researcher"),
        subtask("costs"),
        subtask("risks"),
        subtask("draft", deps=["background", "costs", "risks"], role="writer"),
        subtask("length", deps=["draft"]),
    )
    model = ScriptedChatModel(
        {
            "planner": [briefing],
            "role_designer": role_spec("editor"),  # reuses the team's editor by name
            "executor": lambda call: f"{call.task_id} done",
            "critic": verdict("pass"),
            "synthesizer": "the briefing",
        }
    )
    result = await _research_team(model).arun("Brief me on heat pumps for old houses")
    assert result.status is RunStatus.SUCCEEDED
    # before: one designer call per leaf the planner left unstaffed (3); now one for all
    [call] = model.calls_for("role_designer")
    assert call.task_ids == ("costs", "risks", "length")
    assert "- search_notes: " in call.prompt  # the union of the leaves' relevant tools
