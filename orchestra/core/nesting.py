"""A sub-team's run seen from the team that delegated a task to it.

A task given to a ``Role(team=...)`` is run by the sub-team as a goal of its own. Its
tasks keep their ids inside the sub-team's run; seen from the delegating team they are
named under the task (``research/a``, ``research/a/b``), their parent chain continues
from it and their depth counts from it, so records, live views and reports show one tree.
"""

from __future__ import annotations

from orchestra.core.events import (
    ApprovalRequested,
    EventBase,
    GoalRefined,
    PlanChosen,
    RunFinished,
    RunStarted,
)
from orchestra.core.tree import ROOT_ID, TaskNode

__all__ = ["nest_event", "nested_id", "nested_node", "own_id"]

SEPARATOR = "/"

_ID_FIELDS = ("task_id", "parent_id", "from_task_id")
_ID_LIST_FIELDS = ("depends_on", "new_task_ids")
_RUN_LEVEL = (RunStarted, RunFinished, GoalRefined, PlanChosen, ApprovalRequested)
"""Events of the sub-team's run as a whole: the delegating run reports these its own way
(the task's start and end, and its own approval requests)."""


def nested_id(owner_id: str, sub_id: str | None) -> str:
    """``sub_id`` of the sub-team's run, named under the delegated task ``owner_id``.

    The sub-team's goal is the delegated task itself.
    """
    if sub_id is None or sub_id == ROOT_ID:
        return owner_id
    return f"{owner_id}{SEPARATOR}{sub_id}"


def own_id(owner_id: str, nested: str) -> str:
    """The sub-team run's own id for ``nested`` (the inverse of :func:`nested_id`)."""
    return nested.removeprefix(f"{owner_id}{SEPARATOR}")


def nest_event(event: EventBase, owner_id: str, run_id: str) -> EventBase | None:
    """``event`` of the sub-team's run as an event of run ``run_id``, or None to drop it."""
    if isinstance(event, _RUN_LEVEL):
        return None
    update: dict[str, object] = {"run_id": run_id}
    for name in _ID_FIELDS:
        if name in type(event).model_fields:
            update[name] = nested_id(owner_id, getattr(event, name))
    for name in _ID_LIST_FIELDS:
        if name in type(event).model_fields:
            update[name] = [nested_id(owner_id, i) for i in getattr(event, name)]
    return event.model_copy(update=update)


def nested_node(node: TaskNode, owner: TaskNode) -> TaskNode:
    """``node`` of ``owner``'s sub-team tree as a node below ``owner``.

    Its id, parent, dependencies and replacements are named under ``owner`` and its depth
    continues from it; its own sub-team's tree, if any, stays as it is.
    """
    return node.model_copy(
        update={
            "id": nested_id(owner.id, node.id),
            "parent_id": nested_id(owner.id, node.parent_id),
            "depends_on": [nested_id(owner.id, d) for d in node.depends_on],
            "depth": owner.depth + node.depth,
            "replaces": nested_id(owner.id, node.replaces) if node.replaces else None,
            "replaced_by": [nested_id(owner.id, r) for r in node.replaced_by],
        }
    )
