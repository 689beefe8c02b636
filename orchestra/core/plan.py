"""The planner's output format, its validation, and how a valid draft becomes tree nodes.

Planner output is untrusted: :func:`plan_errors` lists everything wrong with a draft in
words a model can act on, so the planner can feed them back for a repair.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from orchestra.core.parsing import JSONBoundError, check_json_bounds, extract_json
from orchestra.core.tree import TaskNode, TaskTree

__all__ = [
    "DraftTask",
    "PlanDraft",
    "PlanSignature",
    "draft_of",
    "draft_to_nodes",
    "plan_errors",
    "plan_signature",
    "parent_ids",
    "walk_tasks",
]


ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
MAX_TASKS_PER_LEVEL = 8
"""The default for the most tasks a plan may put on one level (``Team(max_tasks_per_level)``)."""
HARD_MAX_TASKS_PER_LEVEL = 64
"""What a plan level can hold at all, whatever the team allows."""
TITLE_MAX = 100
DESCRIPTION_MAX = 400
MAX_SALVAGE_CUTS = 64
"""How many cut points a reply cut off mid-plan is tried at, newest first."""


class DraftTask(BaseModel):
    """One subtask as the planner writes it.

    The length limits are part of the JSON schema, so grammar-constrained decoding stops
    a small model's run-on text at the source.
    """

    id: str = Field(description="Short unique id, e.g. 'research'.", pattern=ID_PATTERN)
    title: str = Field(description="A few words.", max_length=TITLE_MAX)
    description: str = Field(
        description="What to do, in one to three sentences.", max_length=DESCRIPTION_MAX
    )
    acceptance_criteria: list[str] = Field(default_factory=list, max_length=5)
    depends_on: list[str] = Field(
        default_factory=list,
        description="Ids of sibling tasks that must finish first.",
        max_length=HARD_MAX_TASKS_PER_LEVEL,
    )
    role: str | None = Field(default=None, description="Name of an existing role, if one fits.")
    tools: list[str] = Field(
        default_factory=list,
        description="Names of the team's tools this task will call, in order; empty if none.",
        max_length=MAX_TASKS_PER_LEVEL,
    )
    subtasks: list[DraftTask] = Field(
        default_factory=list,
        description="Optional further decomposition.",
        max_length=HARD_MAX_TASKS_PER_LEVEL,
    )
    decompose: bool = Field(
        default=False,
        description=(
            "True: break this task into subtasks later, once the tasks it depends on are"
            " done and their results can shape the breakdown (then leave subtasks empty)."
        ),
    )


class PlanDraft(BaseModel):
    """A decomposition of a goal (or of one failed task) into subtasks."""

    tasks: list[DraftTask] = Field(min_length=1, max_length=HARD_MAX_TASKS_PER_LEVEL)
    keep: list[str] | None = Field(
        default=None,
        description="Only when a subtree is planned again: ids of the finished subtasks"
        " whose results still serve (null keeps them all).",
    )

    def without(self, task_id: str) -> PlanDraft:
        """This plan without task ``task_id``, its subtasks and any dependency on it.

        Raises:
            KeyError: no task has that id.
        """
        self._find(task_id)

        def keep(tasks: list[DraftTask]) -> list[DraftTask]:
            return [
                t.model_copy(
                    update={
                        "depends_on": [d for d in t.depends_on if d != task_id],
                        "subtasks": keep(t.subtasks),
                    }
                )
                for t in tasks
                if t.id != task_id
            ]

        return PlanDraft.model_construct(tasks=keep(self.tasks))

    def reworded(
        self, task_id: str, *, title: str | None = None, description: str | None = None
    ) -> PlanDraft:
        """This plan with the title and/or description of ``task_id`` replaced.

        Raises:
            KeyError: no task has that id.
        """
        self._find(task_id)
        update = {k: v for k, v in (("title", title), ("description", description)) if v}

        def edit(tasks: list[DraftTask]) -> list[DraftTask]:
            return [
                t.model_copy(update=update if t.id == task_id else {"subtasks": edit(t.subtasks)})
                for t in tasks
            ]

        return PlanDraft.model_construct(tasks=edit(self.tasks))

    def with_task(self, task: DraftTask, *, parent: str | None = None) -> PlanDraft:
        """This plan with ``task`` added at the end of the top level, or under ``parent``.

        Raises:
            KeyError: no task has the id ``parent``.
        """
        if parent is None:
            return PlanDraft.model_construct(tasks=[*self.tasks, task])
        self._find(parent)

        def add(tasks: list[DraftTask]) -> list[DraftTask]:
            return [
                t.model_copy(
                    update={"subtasks": [*t.subtasks, task] if t.id == parent else add(t.subtasks)}
                )
                for t in tasks
            ]

        return PlanDraft.model_construct(tasks=add(self.tasks))

    def _find(self, task_id: str) -> DraftTask:
        for task in walk_tasks(self.tasks):
            if task.id == task_id:
                return task
        raise KeyError(f"no task {task_id!r} in the plan")


def draft_of(tree: TaskTree, parent_id: str) -> list[DraftTask]:
    """The live children of ``parent_id`` (and their subtrees) as the planner writes them."""
    return [
        DraftTask.model_construct(
            id=node.id,
            title=node.title,
            description=node.description,
            acceptance_criteria=list(node.acceptance_criteria),
            depends_on=list(node.depends_on),
            role=node.role,
            tools=list(node.tools),
            subtasks=draft_of(tree, node.id),
            decompose=node.decompose,
        )
        for node in tree.children(parent_id, live_only=True)
    ]


PlanSignature = tuple[tuple[str, str, tuple[int, ...], object], ...]
"""A plan's shape and wording without its ids (see :func:`plan_signature`)."""


def _words(text: str) -> str:
    return " ".join(text.lower().split())


def plan_signature(tasks: Sequence[DraftTask]) -> PlanSignature:
    """What makes two plans the same plan: titles, descriptions, dependencies, subtasks.

    Ids are left out (a model renames freely), dependencies become positions, and text is
    compared without case or spacing differences.
    """
    position = {t.id: n for n, t in enumerate(tasks)}
    return tuple(
        (
            _words(t.title),
            _words(t.description),
            tuple(sorted(position[d] for d in t.depends_on if d in position)),
            plan_signature(t.subtasks),
        )
        for t in tasks
    )


def plan_errors(
    draft: PlanDraft,
    *,
    base_depth: int,
    max_depth: int,
    max_tasks: int = MAX_TASKS_PER_LEVEL,
    tools: Collection[str] | None = None,
    on_demand: bool = False,
) -> list[str]:
    """Everything wrong with ``draft``; an empty list means it can be used.

    Args:
        draft: the parsed planner output.
        base_depth: depth of the node the draft's top-level tasks will hang under.
        max_depth: the deepest level a task may have (the root's children are depth 1).
        max_tasks: the most tasks one level may hold.
        tools: the tool names a task may name (None: not checked).
        on_demand: tasks may be marked ``decompose`` (a leaf above ``max_depth``).
    """
    errors: list[str] = []
    if not draft.tasks:
        return ["the plan has no tasks; give at least one"]
    seen: set[str] = set()
    _check_level(draft.tasks, base_depth + 1, max_depth, seen, errors, max_tasks)
    _check_marks(draft.tasks, base_depth + 1, max_depth, on_demand, errors)
    if tools is not None:
        for task in walk_tasks(draft.tasks):
            unknown = [t for t in task.tools if t not in tools]
            if unknown:
                errors.append(
                    f"task {task.id!r} names unknown tool(s) {unknown}; the tools are"
                    f" {sorted(tools)}"
                )
    return list(dict.fromkeys(errors))  # a model that repeats itself gets each error once


def _check_level(
    tasks: list[DraftTask],
    depth: int,
    max_depth: int,
    seen: set[str],
    errors: list[str],
    max_tasks: int,
) -> None:
    if len(tasks) > max_tasks:
        errors.append(
            f"{len(tasks)} tasks on one level ({[t.id for t in tasks]}); at most {max_tasks}:"
            " group related tasks under a parent task"
        )
    if depth > max_depth:
        errors.append(
            f"tasks {[t.id for t in tasks]} are at depth {depth} but the limit is {max_depth};"
            " flatten them into their parent"
        )
        return
    sibling_ids = {t.id for t in tasks}
    for task in tasks:
        if not re.match(ID_PATTERN, task.id):
            errors.append(f"task id {task.id!r} must be 1-32 letters, digits, '_', '.' or '-'")
        if task.id in seen:
            errors.append(f"task id {task.id!r} is used more than once; ids must be unique")
        seen.add(task.id)
        if not task.title.strip():
            errors.append(f"task {task.id!r} has an empty title")
        if not task.description.strip():
            errors.append(f"task {task.id!r} has an empty description")
        for dep in task.depends_on:
            if dep == task.id:
                errors.append(f"task {task.id!r} depends on itself")
            elif dep not in sibling_ids:
                errors.append(
                    f"task {task.id!r} depends on {dep!r}, which is not one of its siblings"
                    f" {sorted(sibling_ids - {task.id})}"
                )
    cycle = _find_cycle({t.id: [d for d in t.depends_on if d in sibling_ids] for t in tasks})
    if cycle:
        errors.append(f"dependency cycle: {' -> '.join(cycle)}")
    for task in tasks:
        if task.subtasks:
            _check_level(task.subtasks, depth + 1, max_depth, seen, errors, max_tasks)


def _check_marks(
    tasks: list[DraftTask], depth: int, max_depth: int, on_demand: bool, errors: list[str]
) -> None:
    """``decompose`` marks only on leaves above max depth (in on-demand plans).

    Elsewhere a mark is a hint nobody asked for: upfront teams run marked tasks as they are.
    """
    for task in tasks:
        if task.decompose and on_demand:
            if task.subtasks:
                errors.append(
                    f"task {task.id!r} has subtasks and decompose true; choose one of the two"
                )
            elif depth >= max_depth:
                errors.append(
                    f"task {task.id!r} is at the deepest level ({max_depth}) and cannot be"
                    " decomposed; set decompose to false"
                )
        _check_marks(task.subtasks, depth + 1, max_depth, on_demand, errors)


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in ``graph`` (node -> dependencies) as a closed path, or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def draft_to_nodes(
    draft: PlanDraft,
    tree: TaskTree,
    *,
    parent_id: str,
    replaces: str | None = None,
    replan_generation: int = 0,
) -> list[TaskNode]:
    """Turn a valid draft into new tree nodes under ``parent_id``.

    Draft ids that already exist in ``tree`` (a re-plan often reuses names) get a numeric
    suffix, and dependencies are renamed with them. The nodes are returned, not inserted.
    """
    taken = set(tree.nodes)
    renames: dict[str, str] = {}
    for task in walk_tasks(draft.tasks):
        new_id, n = task.id, 2
        while new_id in taken:
            new_id, n = f"{task.id}-{n}", n + 1
        taken.add(new_id)
        renames[task.id] = new_id
    parent_depth = tree.get(parent_id).depth
    nodes: list[TaskNode] = []

    def build(tasks: list[DraftTask], parent: str, depth: int) -> None:
        for task in tasks:
            nodes.append(
                TaskNode(
                    id=renames[task.id],
                    parent_id=parent,
                    title=task.title.strip(),
                    description=task.description.strip(),
                    acceptance_criteria=[c.strip() for c in task.acceptance_criteria if c.strip()],
                    depends_on=[renames[d] for d in dict.fromkeys(task.depends_on)],
                    role=task.role,
                    tools=list(dict.fromkeys(task.tools)),
                    depth=depth,
                    replaces=replaces,
                    replan_generation=replan_generation,
                    decompose=task.decompose and not task.subtasks,
                )
            )
            build(task.subtasks, renames[task.id], depth + 1)

    build(draft.tasks, parent_id, parent_depth + 1)
    return nodes


def walk_tasks(tasks: Iterable[DraftTask]) -> Iterable[DraftTask]:
    """Each task and, after it, its subtasks, all levels (depth first, in plan order)."""
    for task in tasks:
        yield task
        yield from walk_tasks(task.subtasks)


def parent_ids(tasks: Iterable[DraftTask]) -> dict[str, str]:
    """The id of each subtask's parent task, all levels (top-level tasks have none)."""
    return {child.id: task.id for task in walk_tasks(tasks) for child in task.subtasks}


def single_task_plan(goal: str) -> PlanDraft:
    """The last-resort plan: the whole goal as one task."""
    title = " ".join(goal.split()[:12])[:TITLE_MAX] or "Goal"
    description = _cut(goal, DESCRIPTION_MAX) or title
    return PlanDraft(tasks=[DraftTask(id="goal", title=title, description=description)])


def salvage_plan(
    raw: str, *, max_depth: int, base_depth: int = 0, max_tasks: int = MAX_TASKS_PER_LEVEL
) -> tuple[PlanDraft, list[str]]:
    """Deterministically repair the planner's last reply into a valid flat plan.

    Used only after the model's own repair rounds failed. Each fix is listed in the
    returned notes, so a run record shows exactly what was changed:

    * nested subtasks are dropped (the plan becomes flat);
    * missing, malformed or duplicate ids are replaced by ``t1``, ``t2``, ...;
    * an empty title or description is filled from the other; tasks with neither are dropped;
    * a reply cut off mid-JSON (out of tokens) keeps its complete tasks;
    * over-long text is cut (titles at 100, descriptions at 400 characters);
    * tasks with the same title and description are merged into the first;
    * dependencies on unknown, later or identical tasks are dropped (so no cycles remain).

    Raises:
        ValueError: nothing usable is left (no JSON object, or no task with any text).
    """
    notes: list[str] = []
    data = _parse_possibly_truncated(raw, notes)
    items = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError("no task list in the reply")
    tasks: list[DraftTask] = []
    rename: dict[str, str] = {}
    seen_text: dict[tuple[str, str], str] = {}
    for item in items[:max_tasks]:
        task = _salvage_task(item, len(tasks) + 1, rename, seen_text, notes)
        if task is not None:
            tasks.append(task)
    if len(items) > max_tasks:
        notes.append(f"kept the first {max_tasks} of {len(items)} tasks")
    if not tasks:
        raise ValueError("no task with a title or description")
    order = {t.id: i for i, t in enumerate(tasks)}
    for i, task in enumerate(tasks):
        kept = []
        for dep in task.depends_on:
            target = rename.get(dep)
            if target is not None and order.get(target, i) < i and target not in kept:
                kept.append(target)
            else:
                notes.append(f"dropped dependency {dep!r} of task {task.id!r}")
        task.depends_on = kept
    draft = PlanDraft(tasks=tasks)
    leftover = plan_errors(
        draft, base_depth=base_depth, max_depth=max_depth, max_tasks=max_tasks, on_demand=True
    )
    if leftover:
        raise ValueError("; ".join(leftover))
    return draft, notes


def _salvage_task(
    item: object,
    position: int,
    rename: dict[str, str],
    seen_text: dict[tuple[str, str], str],
    notes: list[str],
) -> DraftTask | None:
    if not isinstance(item, dict):
        notes.append(f"dropped task #{position}: not an object")
        return None
    raw_id = str(item.get("id") or "")
    title = " ".join(str(item.get("title") or "").split())
    description = " ".join(str(item.get("description") or "").split())
    if not title and not description:
        notes.append(f"dropped task #{position}: no title or description")
        return None
    title = title or " ".join(description.split()[:8])
    description = description or title
    if len(title) > TITLE_MAX or len(description) > DESCRIPTION_MAX:
        notes.append(f"shortened the text of task #{position}")
    title, description = title[:TITLE_MAX], _cut(description, DESCRIPTION_MAX)
    key = (title.lower(), description.lower())
    if key in seen_text:
        notes.append(f"merged duplicate task #{position} into {seen_text[key]!r}")
        rename.setdefault(raw_id, seen_text[key])
        return None
    new_id = raw_id
    if not re.match(ID_PATTERN, raw_id) or raw_id in rename.values():
        new_id = f"t{position}"
        while new_id in rename.values():
            new_id += "x"
        notes.append(f"renamed task id {raw_id!r} to {new_id!r}")
    rename.setdefault(raw_id, new_id)
    seen_text[key] = new_id
    if item.get("subtasks"):
        notes.append(f"dropped the subtasks of task {new_id!r}")
    criteria = item.get("acceptance_criteria")
    deps = item.get("depends_on")
    return DraftTask(
        id=new_id,
        title=title,
        description=description,
        acceptance_criteria=[str(c)[:200] for c in criteria[:5]]
        if isinstance(criteria, list)
        else [],
        depends_on=[str(d) for d in deps] if isinstance(deps, list) else [],
    )


def _parse_possibly_truncated(raw: str, notes: list[str]) -> Any:
    """The reply's JSON object; for a reply cut off mid-task, the tasks before the cut."""
    try:
        return extract_json(raw)
    except JSONBoundError:
        raise  # too deep or too long: nothing is salvaged from it
    except ValueError:
        pass
    start = raw.find("{")
    # Close the object after each complete task, newest cut first (a bounded number of
    # cuts: each try parses the whole reply again).
    cuts = [end for end in range(len(raw) - 1, start, -1) if raw[end] == "}"]
    for end in cuts[:MAX_SALVAGE_CUTS]:
        try:
            value = json.loads(raw[start : end + 1] + "]}")
            check_json_bounds(value)
        except (ValueError, RecursionError):  # JSONDecodeError and JSONBoundError too
            continue
        notes.append("the reply was cut off; kept the tasks before the cut")
        return value
    raise ValueError("no JSON object in the reply")


def _cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, at the last sentence end when there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = head.rfind(". ")
    return head[: end + 1] if end > limit // 2 else head
