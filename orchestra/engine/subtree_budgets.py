"""Budgets of the plan's top-level subtrees (``Budget(subtree=...)``).

Each top-level task's subtree (re-plans followed back to the task they replaced) gets a
meter of its own inside the run's, made on first use with what the subtree has spent so
far (earlier invocations of the run included). A subtree whose budget is spent starts
nothing new; the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestra.core.budget import BudgetMeter, current_meter
from orchestra.core.tree import ROOT_ID, TaskTree
from orchestra.core.usage import Usage

__all__ = ["SubtreeBudgets"]


@dataclass(slots=True)
class SubtreeBudgets:
    """The subtree meters of one dispatch, and which subtrees are spent."""

    tree: TaskTree
    tool_calls: Callable[[], Iterable[dict[str, Any]]]
    """The run's tool-call log so far (state data)."""
    spent: set[str] = field(default_factory=set)
    """Subtrees whose budget is spent, by their top-level task: nothing more starts there."""
    _meters: dict[str, BudgetMeter] = field(default_factory=dict)

    def top_of(self, task_id: str) -> str:
        """The top-level task whose subtree ``task_id`` is in (re-plans followed back)."""
        node = self.tree.get(task_id)
        while node.parent_id not in (None, ROOT_ID):
            node = self.tree.get(node.parent_id)
        while node.replaces is not None and node.replaces in self.tree.nodes:
            node = self.tree.get(node.replaces)
        return node.id

    def stopped(self, task_id: str) -> bool:
        """Whether ``task_id`` is in a subtree whose budget is spent."""
        return bool(self.spent) and self.top_of(task_id) in self.spent

    def owns(self, scope: str) -> bool:
        """Whether ``scope`` is a subtree this dispatch meters (not an enclosing run's)."""
        return scope in self._meters

    def meter_for(self, task_id: str) -> BudgetMeter | None:
        """The meter of ``task_id``'s subtree when the run's budget limits subtrees."""
        run = current_meter()
        if run is None or run.budget.subtree is None or task_id == ROOT_ID:
            return None
        top = self.top_of(task_id)
        if top not in self._meters:
            members = {
                n.id
                for n in self.tree.nodes.values()
                if n.id != ROOT_ID and self.top_of(n.id) == top
            }
            spent = Usage()
            for member in members:
                node = self.tree.get(member)
                spent += node.usage
                if node.subtree is not None:
                    spent += node.subtree.usage()
            calls = sum(
                1
                for record in self.tool_calls()
                if record["task_id"] in members and not record.get("replayed")
            )
            self._meters[top] = BudgetMeter(
                run.budget.subtree, spent=spent, tool_calls=calls, parent=run, scope=top
            )
        return self._meters[top]
