"""Tree surgery: how re-plans and completions change the task tree.

Plain functions of the tree, no event loop and no model: the scheduler decides *when* a
task is re-planned or done, and these decide *what* that does to the tree, so each rule
can be tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestra.core.plan import DraftTask, PlanDraft, draft_to_nodes, plan_signature
from orchestra.core.tree import TaskNode, TaskStatus, TaskTree

__all__ = [
    "Completion",
    "SubtreeReplan",
    "as_draft",
    "joined_result",
    "complete",
    "live_split",
    "mark_started",
    "repeats_dropped",
    "replace_task",
    "replan_subtree",
    "sinks",
    "tried_before",
]


class _Dependent(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def depends_on(self) -> list[str]: ...


def sinks(tasks: Iterable[_Dependent]) -> list[str]:
    """The ids of ``tasks`` that none of them depends on: what stands in for the group.

    When a group of tasks replaces one, the tasks that waited for the one wait for these.
    """
    group = list(tasks)
    needed = {d for task in group for d in task.depends_on}
    return [task.id for task in group if task.id not in needed]


def as_draft(tree: TaskTree, node: TaskNode) -> DraftTask:
    """A tree node (and its subtree) as the planner would have written it."""
    return DraftTask.model_construct(
        id=node.id,
        title=node.title,
        description=node.description,
        depends_on=node.depends_on,
        subtasks=[as_draft(tree, c) for c in tree.children(node.id)],
    )


def tried_before(tree: TaskTree, failed: TaskNode, draft: PlanDraft) -> bool:
    """Whether ``draft`` equals a plan already tried in ``failed``'s line of re-plans.

    Tried plans, read off the tree (so a resumed run knows them too): the task the line
    started from, as a plan of one task, and each replacement plan since.
    """
    origin = failed
    while origin.replaces is not None and origin.replaces in tree.nodes:
        origin = tree.get(origin.replaces)
    tried = {plan_signature([as_draft(tree, origin)])}
    line = [origin]
    while line:
        replaced = line.pop()
        replacements = [n for n in tree.nodes.values() if n.replaces == replaced.id]
        if replacements:
            tried.add(plan_signature([as_draft(tree, n) for n in replacements]))
            line.extend(replacements)
    return plan_signature(draft.tasks) in tried


def replace_task(
    tree: TaskTree, failed: TaskNode, draft: PlanDraft, reason: str, at: datetime
) -> list[TaskNode]:
    """Put ``draft`` in place of the failed leaf ``failed``; the new nodes, added to ``tree``.

    The replacements need what the failed task needed, and its dependents now need the
    replacements that nothing else in the draft depends on (the draft's sinks).
    """
    parent_id = failed.parent_id or tree.root.id
    nodes = draft_to_nodes(
        draft,
        tree,
        parent_id=parent_id,
        replaces=failed.id,
        replan_generation=failed.replan_generation + 1,
    )
    top = [n for n in nodes if n.parent_id == parent_id]
    last = sinks(top)
    for node in top:
        node.depends_on = list(dict.fromkeys([*failed.depends_on, *node.depends_on]))
    for sibling in tree.dependents(failed.id):
        sibling.depends_on = [*(d for d in sibling.depends_on if d != failed.id), *last]
    tree.add(nodes)
    failed.status = TaskStatus.FAILED
    failed.finished_at = at
    failed.reason = f"replaced after critique: {reason}"
    failed.replaced_by = [n.id for n in top]
    return nodes


@dataclass(frozen=True, slots=True)
class SubtreeReplan:
    """What a subtree re-plan did."""

    nodes: list[TaskNode]
    """The new tasks, added to the tree."""
    kept: list[TaskNode]
    """Finished subtasks kept as they are."""
    dropped: list[TaskNode]
    """Subtasks replaced by the new ones (finished ones keep their result on record)."""
    stopped: list[TaskNode]
    """Unfinished tasks below the dropped ones, now failed (to announce)."""


def live_split(
    tree: TaskTree, scope_id: str, keep: list[str] | None
) -> tuple[list[TaskNode], list[TaskNode]]:
    """``scope_id``'s live subtasks as (kept, dropped).

    Finished ones listed in ``keep`` (all finished ones when it is None) are kept.
    """
    live = tree.children(scope_id, live_only=True)
    wanted = set(keep) if keep is not None else None
    kept = [c for c in live if c.status is TaskStatus.DONE and (wanted is None or c.id in wanted)]
    return kept, [c for c in live if c not in kept]


def repeats_dropped(tree: TaskTree, draft: PlanDraft, dropped: list[TaskNode]) -> bool:
    """Whether the re-plan only writes again the subtasks it drops (a loop)."""
    return plan_signature(draft.tasks) == plan_signature([as_draft(tree, c) for c in dropped])


def replan_subtree(
    tree: TaskTree, scope: TaskNode, draft: PlanDraft, at: datetime
) -> SubtreeReplan:
    """Plan ``scope``'s subtree again with ``draft``: keep, drop, add.

    Finished subtasks in ``draft.keep`` (all of them when it is None) stay; every new
    top-level task depends on them (so it sees their results); the other subtasks are
    replaced by the new top-level tasks, and what was unfinished below them ends: skipped
    when it never started (pending or ready), failed when it had.
    """
    kept, dropped = live_split(tree, scope.id, draft.keep)
    nodes = draft_to_nodes(
        draft, tree, parent_id=scope.id, replan_generation=scope.replan_generation + 1
    )
    top = [n for n in nodes if n.parent_id == scope.id]
    for node in top:
        node.depends_on = list(dict.fromkeys([*(k.id for k in kept), *node.depends_on]))
    stopped: list[TaskNode] = []
    for child in dropped:
        for gone in tree.subtree(child.id):
            gone.replaced_by = gone.replaced_by or [n.id for n in top]
            if not gone.status.is_final:
                never_started = gone.status in (TaskStatus.PENDING, TaskStatus.READY)
                gone.status = TaskStatus.SKIPPED if never_started else TaskStatus.FAILED
                gone.reason = f"dropped by the re-plan of {scope.id!r}"
                gone.finished_at = at
                stopped.append(gone)
    tree.add(nodes)
    return SubtreeReplan(nodes=nodes, kept=kept, dropped=dropped, stopped=stopped)


def joined_result(children: list[TaskNode]) -> str:
    """An inner task's result without a lead: its subtasks' results, titled, in order."""
    return "\n\n".join(f"{k.title}: {k.result}" for k in children)


def mark_started(tree: TaskTree, node: TaskNode, at: datetime) -> None:
    """``node`` starts (an attempt, a decomposition): it runs, and so do its ancestors."""
    node.status = TaskStatus.RUNNING
    node.started_at = node.started_at or at
    for ancestor in tree.ancestors(node.id):
        if ancestor.status in (TaskStatus.PENDING, TaskStatus.READY):
            ancestor.status = TaskStatus.RUNNING
            ancestor.started_at = ancestor.started_at or at


@dataclass(frozen=True, slots=True)
class Completion:
    """What finishing a task did above it."""

    joined: list[TaskNode]
    """Ancestors finished with their subtasks' results joined (no lead), lowest first."""
    to_integrate: TaskNode | None
    """The ancestor whose subtasks are now all done and whose lead must integrate them."""


def complete(tree: TaskTree, node: TaskNode, at: datetime, *, leads: bool) -> Completion:
    """Mark ``node`` done and see what that finishes above it.

    Going up while every live subtask of a parent is done: with ``leads`` the first such
    parent (not the goal) is left to its lead; without, each is finished with its
    subtasks' results joined, the goal included (its answer is the synthesizer's later).
    """
    node.status = TaskStatus.DONE
    node.finished_at = at
    node.reason = None
    joined: list[TaskNode] = []
    parent_id = node.parent_id
    while parent_id is not None:
        parent = tree.get(parent_id)
        kids = tree.children(parent_id, live_only=True)
        if not all(k.status is TaskStatus.DONE for k in kids):
            break
        if leads and parent.parent_id is not None:
            return Completion(joined, parent)
        parent.status = TaskStatus.DONE
        parent.finished_at = at
        parent.result = joined_result(kids)
        joined.append(parent)
        parent_id = parent.parent_id
    return Completion(joined, None)
