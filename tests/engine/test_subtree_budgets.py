"""Subtree budgets' bookkeeping without a run: which subtree a task is in, which are spent."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestra.core.budget import Budget, BudgetMeter, metering
from orchestra.core.plan import PlanDraft, draft_to_nodes
from orchestra.core.surgery import replace_task
from orchestra.core.tree import ROOT_ID, TaskTree
from orchestra.core.usage import Usage
from orchestra.engine.subtree_budgets import SubtreeBudgets
from orchestra.testing import plan, subtask


def _tree() -> TaskTree:
    tree = TaskTree.for_goal("goal", max_depth=3)
    draft = plan(subtask("top", subtasks=[subtask("a"), subtask("b")]), subtask("other"))
    tree.add(draft_to_nodes(PlanDraft.model_validate(draft), tree, parent_id=ROOT_ID))
    return tree


def test_a_replacement_of_a_top_level_task_stays_in_its_subtree():
    tree = _tree()
    now = datetime(2026, 12, 4, tzinfo=UTC)
    replace_task(tree, tree.get("other"), PlanDraft.model_validate(plan(subtask("o2"))), "r", now)
    budgets = SubtreeBudgets(tree, list)
    assert budgets.top_of("a") == "top" and budgets.top_of("o2") == "other"
    budgets.spent.add("top")
    assert budgets.stopped("b") and not budgets.stopped("o2")


def test_a_subtree_meter_starts_from_what_the_subtree_already_spent():
    tree = _tree()
    tree.get("a").usage = Usage(input_tokens=40, output_tokens=10, model_calls=1)
    calls = [{"task_id": "b", "replayed": False}, {"task_id": "other", "replayed": False}]
    budgets = SubtreeBudgets(tree, lambda: calls)
    assert budgets.meter_for("a") is None  # no run budget with subtree limits in force
    run = BudgetMeter(Budget(subtree=Budget(tool_calls=5)))
    with metering(run):
        meter = budgets.meter_for("b")
        assert meter is not None and meter is budgets.meter_for("a")  # one per subtree
        assert meter.spent.total_tokens == 50 and meter.tool_calls == 1
