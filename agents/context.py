"""What an agent sees of the tree: its task, the path from the goal, its inputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orchestra.core.roles import Role, RoleSpec
from orchestra.core.tree import TaskNode, TaskTree

__all__ = [
    "DEFAULT_MAX_DEPENDENCY_CHARS",
    "clip_result",
    "delegated_goal",
    "dependency_results",
    "describe_roles",
    "describe_task",
    "describe_tools",
    "goal_context",
    "goal_request",
    "task_context",
]


def describe_tools(tools: dict[str, str]) -> str:
    """One line per tool: ``- name: description``; ``(none)`` when there are none."""
    if not tools:
        return "(none)"
    return "\n".join(
        f"- {name}: {desc.strip().splitlines()[0] if desc else ''}" for name, desc in tools.items()
    )


def describe_roles(roles: Iterable[Role | RoleSpec]) -> str:
    """One line per role: name and what it is for."""
    lines = []
    for role in roles:
        about = (
            role.description if isinstance(role, Role) and role.description else role.instructions
        )
        team = role.team if isinstance(role, RoleSpec) else role.team.name if role.team else None
        delegated = f" (a team of its own: {team})" if team else ""
        lines.append(f"- {role.name}{delegated}: {about.splitlines()[0][:160]}")
    return "\n".join(lines) or "(none)"


def goal_request(tree: TaskTree) -> str:
    """The goal as the planner is asked for it, with its task statement when refined.

    The whole goal, never the root's title (its first 120 characters, which could cut a
    secret in two where a redactor no longer knows it).
    """
    if tree.statement is None:
        return f"Goal: {tree.goal}"
    return f"Goal: {tree.goal}\n\nTask statement (plan to meet it):\n{tree.statement.render()}"


def dependency_results(
    tree: TaskTree, task_id: str, *, outer_first: bool = False
) -> list[TaskNode]:
    """Finished prerequisites of ``task_id`` (its own and its ancestors' dependencies).

    Its own first, or with ``outer_first`` the outermost ancestor's first and its own last.
    """
    prerequisites = tree.prerequisites(task_id, outer_first=outer_first)
    return [p for p in prerequisites if p.result is not None]


DEFAULT_MAX_DEPENDENCY_CHARS = 8000
"""The most of one dependency's result an agent's prompt shows (about 2,000 tokens)."""


def clip_result(dep: TaskNode, limit: int | None) -> str:
    """``dep``'s result as a prompt shows it: cut to ``limit`` characters, visibly.

    A cut result ends with a marker saying how much was left out and where the whole
    text is (the task's result in the run record), so no agent reads a cut result as
    whole. None: no limit.
    """
    result = dep.result or ""
    if limit is None or len(result) <= limit:
        return result
    left = len(result) - limit
    return (
        f"{result[:limit]}\n[... {left:,} more characters of this result not shown"
        f" ({len(result):,} in all); the full text is task {dep.id}'s result in the run record]"
    )


def goal_context(tree: TaskTree) -> str:
    """The goal (and its task statement) as every agent working on a task sees it.

    It is the same for every call of a run, so agents put it in the stable part of their
    prompts, before anything about one task (provider caches reuse that prefix).
    """
    parts = [f"Overall goal: {tree.goal}"]
    if tree.statement is not None:
        parts.append(f"Task statement of the goal:\n{tree.statement.render()}")
    return "\n\n".join(parts)


def task_context(
    tree: TaskTree,
    task: TaskNode,
    *,
    with_inputs: bool = True,
    max_input_chars: int | None = DEFAULT_MAX_DEPENDENCY_CHARS,
    inputs_first: bool = False,
    notes: Sequence[str] = (),
) -> str:
    """What is particular to ``task``: the path to it, the task, and (optionally) its inputs.

    Only the task's active path from the goal is named, never its siblings or the rest
    of the tree; each input (a prerequisite's result) is cut to ``max_input_chars``
    with a visible marker (:func:`clip_result`).

    ``inputs_first`` lays it out for prompt caches and long inputs (the executor's
    layout): the path, then the inputs, the ancestors' before the task's own (those
    shared by the most tasks first, so siblings' prompts share them as a prefix), then
    the task itself last, next to where the model answers. Otherwise the task comes
    right after the path and the inputs last. ``notes`` are more blocks of data (the
    executor's memories), shown after the inputs.
    """
    path = " > ".join(a.title for a in tree.ancestors(task.id)[1:])
    head = [f"Part of: {path}"] if path else []
    own = [f"Your task ({task.id}): {task.title}\n{task.description}"]
    if task.acceptance_criteria:
        own.append("Acceptance criteria:\n" + "\n".join(f"- {c}" for c in task.acceptance_criteria))
    if task.tools:
        own.append(f"Tools the plan expects you to use: {', '.join(task.tools)}")
    inputs: list[str] = []
    if with_inputs:
        deps = dependency_results(tree, task.id, outer_first=inputs_first)
        inputs = [
            f"Result of '{dep.title}' ({dep.id}):\n{clip_result(dep, max_input_chars)}"
            for dep in deps
        ]
    data = [*inputs, *notes]
    parts = [*head, *data, *own] if inputs_first else [*head, *own, *data]
    return "\n\n".join(parts)


def describe_task(
    tree: TaskTree,
    task: TaskNode,
    *,
    with_inputs: bool = True,
    max_input_chars: int | None = DEFAULT_MAX_DEPENDENCY_CHARS,
) -> str:
    """The goal, then the task with its path from the goal and (optionally) its inputs.

    :func:`goal_context` and :func:`task_context` in one text.
    """
    task_part = task_context(tree, task, with_inputs=with_inputs, max_input_chars=max_input_chars)
    return f"{goal_context(tree)}\n\n{task_part}"


_DELEGATED_INPUT_CHARS = 3000


def delegated_goal(
    tree: TaskTree, task: TaskNode, *, feedback: str | None = None, limit: int = 20_000
) -> str:
    """The goal a sub-team gets for ``task``: the task first, then what frames it.

    Its acceptance criteria, the larger goal and the path to the task, the results it
    builds on (each clipped) and, on a retry, why the previous answer was rejected; at
    most ``limit`` characters.
    """
    parts = [f"{task.title}\n{task.description}".strip()]
    if task.acceptance_criteria:
        parts.append(
            "Acceptance criteria:\n" + "\n".join(f"- {c}" for c in task.acceptance_criteria)
        )
    path = " > ".join(a.title for a in tree.ancestors(task.id)[1:])
    parts.append(f"This is part of a larger goal: {tree.goal[:1000]}")
    if path:
        parts.append(f"Within: {path}")
    for dep in dependency_results(tree, task.id):
        result = clip_result(dep, _DELEGATED_INPUT_CHARS)
        parts.append(f"Result of '{dep.title}' to build on:\n{result}")
    if feedback:
        parts.append(f"A previous answer to this was rejected: {feedback}")
    return "\n\n".join(parts)[:limit]
