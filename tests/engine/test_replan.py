"""Critic-triggered re-planning replaces only the failed branch and keeps finished work."""

from __future__ import annotations

from orchestra import RunStatus, TaskStatus, tool
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import gate, index_of, make_team, run_collect


async def test_replan_replaces_one_branch_while_an_unrelated_one_keeps_running():
    replanning, wait_for_replan = gate()

    @tool
    async def slow_lookup(q: str) -> str:
        """Look something up slowly: returns only once the re-plan has begun."""
        await wait_for_replan()
        return "facts"

    def replacement(call: ScriptedCall) -> dict:
        replanning.set()
        assert "Why it failed: wrong approach" in call.prompt
        assert "Last result: bad draft" in call.prompt
        return plan(subtask("outline"), subtask("write", deps=["outline"]))

    script = {
        "planner": [
            plan(
                subtask("collect"),
                subtask("draft"),
                subtask("done", deps=["collect", "draft"]),
                subtask("other"),
            )
        ],
        "planner@draft": [replacement],
        "role_designer": role_spec("worker", "Do the task.", ["slow_lookup"]),
        "executor@collect": [tool_call("slow_lookup", {"q": "x"}), "collected"],
        "executor@draft": ["bad draft"],
        "executor@outline": ["outline"],
        "executor@write": ["written"],
        "executor@done": ["finished"],
        "executor@other": ["other result"],
        "critic@draft": [verdict("replan", "wrong approach")],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script, tools=[slow_lookup])
    result, events = await run_collect(team)
    model.assert_complete()

    assert result.status is RunStatus.SUCCEEDED
    tree = result.tree
    # the failed leaf stays in the tree, marked and linked to its replacements
    draft = tree.get("draft")
    assert draft.status is TaskStatus.FAILED and draft.replaced_by == ["outline", "write"]
    assert tree.get("outline").replaces == "draft" and tree.get("write").replaces == "draft"
    # dependents now wait for the replacement's last task
    assert tree.get("done").depends_on == ["collect", "write"]
    assert tree.get("done").started_at >= tree.get("write").finished_at
    # finished and unrelated work ran exactly once
    for task_id in ("collect", "other", "outline", "write", "done", "draft"):
        assert tree.get(task_id).executions == 1, task_id
        assert len(model.calls_for("executor", task_id)) == (2 if task_id == "collect" else 1)
    # 'collect' was still running while the planner re-planned: its tool returned only
    # once the planner had been asked (the gate), and it finished after the verdict
    assert index_of(events, "verdict", task_id="draft") < index_of(
        events, "task_finished", task_id="collect"
    )
    assert [e.ok for e in events if e.type == "tool_called"] == [True]
    assert [(r.task_id, r.new_task_ids) for r in result.replans] == [
        ("draft", ["outline", "write"])
    ]
    record = result.to_record()
    assert [t.id for t in record.tasks] == ["collect", "draft", "done", "other", "outline", "write"]


async def test_replan_of_a_nested_leaf_keeps_its_finished_siblings():
    script = {
        "planner": [
            plan(
                subtask(
                    "part",
                    subtasks=[
                        subtask("p1"),
                        subtask("p2", deps=["p1"]),
                        subtask("p3", deps=["p2"]),
                    ],
                ),
                subtask("final", deps=["part"]),
            )
        ],
        "planner@p2": [plan(subtask("p2", title="Retry P2"))],  # the same id is renamed
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"result of {call.task_id}",
        "critic@p2": [verdict("replan", "off topic")],
        "lead@part": ["the part, integrated"],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script)
    result, _ = await run_collect(team)
    model.assert_complete()

    tree = result.tree
    assert result.succeeded
    assert tree.get("p2").replaced_by == ["p2-2"]
    new = tree.get("p2-2")
    assert new.parent_id == "part" and new.depth == 2 and new.depends_on == ["p1"]
    assert tree.get("p3").depends_on == ["p2-2"]
    assert tree.get("p1").executions == 1 and tree.get("p3").executions == 1
    assert tree.get("part").status is TaskStatus.DONE
    assert tree.get("part").result == "the part, integrated"
    # the lead integrates the live subtasks: the replacement, not the task it replaced
    [lead] = model.calls_for("lead", "part")
    assert "### Retry P2 (p2-2)\nresult of p2-2" in lead.prompt
    assert "(p2)" not in lead.prompt


async def test_exhausted_replan_budget_fails_the_run_with_the_partial_tree():
    script = {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["b"]))],
        "planner@b": [plan(subtask("b2"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"result of {call.task_id}",
        "critic@b": [verdict("replan", "hopeless")],
        "critic@b2": [verdict("replan", "still hopeless")],
        "critic": verdict("pass"),
    }
    team, model = make_team(script, max_replans_per_node=1, on_failure="stop")
    result, events = await run_collect(team)
    model.assert_complete()

    assert result.status is RunStatus.FAILED
    assert result.output is None
    assert "re-plan budget for this task is spent" in (result.reason or "")
    assert "still hopeless" in (result.reason or "")
    tree = result.tree
    assert tree.get("a").status is TaskStatus.DONE and tree.get("a").result == "result of a"
    assert tree.get("b2").status is TaskStatus.FAILED
    assert tree.get("c").status is TaskStatus.SKIPPED
    assert tree.root.status is TaskStatus.FAILED
    assert events[-1].type == "run_finished" and events[-1].status == "failed"


async def test_run_wide_replan_budget():
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"result of {call.task_id}",
        "critic": verdict("replan", "no"),
    }
    team, _ = make_team(script, max_replans=0)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.FAILED
    assert "re-plan budget of the run is spent (0)" in (result.reason or "")


async def test_a_replan_that_repeats_the_failed_task_is_stopped_not_retried():
    script = {
        "planner": [plan(subtask("draft"), subtask("other"))],
        # the same task under a new id, wording changed only in case and spacing
        "planner@draft": [plan(subtask("again", "DRAFT", "Do   draft."))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor": "result",
        "critic@draft": [verdict("replan", "wrong approach")],
        "critic": verdict("pass"),
    }
    team, model = make_team(script, max_replans=5, max_replans_per_node=5, on_failure="stop")
    result, events = await run_collect(team)
    assert result.status is RunStatus.FAILED
    draft = result.tree.get("draft")
    assert draft.status is TaskStatus.FAILED and "already tried" in (draft.reason or "")
    assert "again" not in result.tree.nodes  # the repeat never entered the tree
    assert any(n.kind == "replan_failed" and "already tried" in n.message for n in result.notices)
    assert result.tree.get("other").status is TaskStatus.DONE


async def test_a_nested_replan_that_repeats_an_earlier_replacement_plan_is_stopped():
    replacement = plan(subtask("outline"), subtask("write", deps=["outline"]))
    same_again = plan(
        subtask("outline2", "Outline", "Do outline."),
        subtask("write2", "Write", "Do write.", deps=["outline2"]),
    )
    script = {
        "planner": [plan(subtask("draft"))],
        "planner@draft": [replacement],
        "planner@write": [same_again],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor": "result",
        "critic@draft": [verdict("replan", "wrong approach")],
        "critic@write": [verdict("replan", "still wrong")],
        "critic": verdict("pass"),
    }
    team, model = make_team(script, max_replans=5, max_replans_per_node=5, on_failure="stop")
    result, _ = await run_collect(team)
    assert result.status is RunStatus.FAILED
    write = result.tree.get("write")
    assert write.status is TaskStatus.FAILED and "already tried" in (write.reason or "")
    assert len(model.calls_for("planner", "write")) == 1  # stopped, not asked again
