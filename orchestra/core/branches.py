"""Branches given up for good: what they block, what is missing, what is still usable.

Plain functions of the task tree (no event loop, no model), used by the dispatcher when a
task fails for good and the team isolates the failure (``Team(on_failure="continue")``):
independent branches run on, tasks that need the failed one are skipped, and the run
ends ``partial`` with an answer built from what succeeded.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchestra.core.record import MissingTask
from orchestra.core.tree import ROOT_ID, TaskNode, TaskStatus, TaskTree

__all__ = [
    "blocker_of",
    "given_up",
    "missing_note",
    "missing_tasks",
    "partial_digest",
    "skip_blocked",
    "usable_results",
]

_GIVEN_UP = (TaskStatus.FAILED, TaskStatus.SKIPPED)


def given_up(node: TaskNode) -> bool:
    """Whether ``node`` ended without a result and nothing took its place."""
    return node.status in _GIVEN_UP and not node.replaced_by


def blocker_of(tree: TaskTree, task_id: str) -> TaskNode | None:
    """A prerequisite of ``task_id`` (its own or an ancestor's) that was given up, if any."""
    for prerequisite in tree.prerequisites(task_id):
        if given_up(prerequisite):
            return prerequisite
    return None


def skip_blocked(tree: TaskTree) -> list[TaskNode]:
    """Skip every task that can never start because a prerequisite was given up.

    Follows chains (a task skipped here blocks its own dependents) until nothing changes;
    tasks that are running or waiting for a person are left alone (their prerequisites
    were done when they started). Returns the tasks skipped, in tree order.
    """
    skipped: list[TaskNode] = []
    changed = True
    while changed:
        changed = False
        for node in tree.live_nodes():
            if node.status not in (TaskStatus.PENDING, TaskStatus.READY):
                continue
            blocker = blocker_of(tree, node.id)
            if blocker is None:
                continue
            what = "failed" if blocker.status is TaskStatus.FAILED else "was skipped"
            node.status = TaskStatus.SKIPPED
            node.reason = f"depends on {blocker.id!r}, which {what}: {blocker.reason or '-'}"
            node.finished_at = datetime.now(UTC)
            skipped.append(node)
            changed = True
    return skipped


def missing_tasks(tree: TaskTree) -> list[MissingTask]:
    """The tasks of the current plan that were given up (failed or skipped), with reasons.

    The lowest ones: a task missing only because a subtask listed here is missing is not
    listed again (an inner task whose own integration failed is).
    """
    return [
        MissingTask(task_id=n.id, title=n.title, reason=n.reason or n.status.value)
        for n in tree.live_nodes()
        if given_up(n) and not any(given_up(c) for c in tree.children(n.id, live_only=True))
    ]


def usable_results(tree: TaskTree) -> bool:
    """Whether any task of the current plan finished with a result."""
    return any(n.status is TaskStatus.DONE and n.result is not None for n in tree.live_nodes())


def partial_digest(tree: TaskTree) -> str:
    """What succeeded, one titled section per result, as high in the tree as it got.

    A finished top-level task gives its result; one that did not finish gives its
    finished subtasks' results instead, and so on down.
    """
    sections: list[str] = []

    def collect(node: TaskNode) -> None:
        if node.status is TaskStatus.DONE and node.result is not None:
            sections.append(f"## {node.title} ({node.id})\n{node.result}")
            return
        for child in tree.children(node.id, live_only=True):
            collect(child)

    for top in tree.children(ROOT_ID, live_only=True):
        collect(top)
    return "\n\n".join(sections)


def missing_note(missing: list[MissingTask]) -> str:
    """A short section saying what is missing from an answer and why."""
    lines = [f"- {m.title} ({m.task_id}): {m.reason}" for m in missing]
    return "Not done (this answer is partial):\n" + "\n".join(lines)
