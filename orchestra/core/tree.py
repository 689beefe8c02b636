"""The typed task tree: every subtask of a run, its dependencies and its outcome."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PrivateAttr

from orchestra.core.search_tree import SearchRecord
from orchestra.core.statement import TaskStatement
from orchestra.core.usage import Usage

__all__ = [
    "ROOT_ID",
    "TaskKind",
    "TaskNode",
    "TaskStatus",
    "TaskTree",
    "Verdict",
    "VerdictKind",
]

ROOT_ID = "root"
"""Id of the node that stands for the goal itself."""


class TaskStatus(StrEnum):
    """Where a task is in its life."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    """Paused before a tool call that needs a person's approval."""

    @property
    def is_final(self) -> bool:
        """Whether the task will not change any more."""
        return self in (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.SKIPPED)


VerdictKind = Literal["pass", "retry", "replan", "fail"]
"""``pass`` accepts the result; ``retry`` asks for another attempt (with the reason as
feedback); ``replan`` asks for a new plan of the task; ``fail`` gives the task up at once
(only checks say it: the critic chooses among the other three)."""

TaskKind = Literal["leaf", "inner", "team"]
"""What a task is in the organisation: executed by a role (``leaf``), led by a lead who
decomposes and integrates (``inner``), or delegated to a sub-team (``team``)."""


class Verdict(BaseModel):
    """The judgement of one attempt at a task: by a check, or else by the critic."""

    model_config = ConfigDict(frozen=True)

    verdict: VerdictKind
    reason: str = Field(description="Why, in one or two sentences.")
    source: str = "critic"
    """Who gave it: ``critic``, or ``check:<name>`` for a check the result failed."""


class TaskNode(BaseModel):
    """One node of the task tree. Leaves are executed; inner nodes group their children."""

    id: str
    parent_id: str | None
    title: str
    description: str
    acceptance_criteria: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    """Ids of sibling tasks that must be done before this one starts."""
    status: TaskStatus = TaskStatus.PENDING
    role: str | None = None
    tools: list[str] = Field(default_factory=list)
    """Tools the planner expects the task to call (a hint: the role's allowlist decides)."""
    depth: int = 0
    attempts: int = 0
    """Attempts judged by the critic (first try and retries)."""
    executions: int = 0
    """How many times an executor ran this task."""
    result: str | None = None
    output: JsonValue | None = None
    """The result as typed JSON data, when the task's role has an ``output_type`` (the
    goal's: when the team has one); ``result`` is then its JSON text."""
    reason: str | None = None
    """Why the task failed or was skipped."""
    verdicts: list[Verdict] = Field(default_factory=list)
    searches: list[SearchRecord] = Field(default_factory=list)
    """The workflow searches of its attempts (``Team(search=...)``), in order."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    replaces: str | None = None
    """Id of the failed task this one was planned to replace."""
    replaced_by: list[str] = Field(default_factory=list)
    """Ids of the tasks a re-plan put in place of this one."""
    replan_generation: int = 0
    """How many re-plans stand between this task and the original plan."""
    usage: Usage = Field(default_factory=Usage)
    """Model usage spent on this node: role design, attempts, critiques, its re-plan (the
    root holds planning and synthesis)."""
    decompose: bool = False
    """Reserved for decomposition on demand (a task its lead breaks into subtasks once its
    own dependencies are done); nothing sets it yet."""
    lead: str | None = None
    """The role that leads this inner task: decomposes it, integrates its children's
    results into its result and answers for its subtree."""
    team: str | None = None
    """The name of the sub-team this task was delegated to (``Role(team=...)``)."""
    sub_run_id: str | None = None
    """The sub-team's run for this task's latest attempt (a thread on this run's
    checkpointer, so a resumed run resumes it where it was)."""
    subtree: TaskTree | None = None
    """The sub-team's task tree for that run, as far as it got (its nodes are the
    sub-team's, not this tree's: the record nests them under this task)."""
    integrations: int = 0
    """Times the lead integrated the children's results (first and re-integrations)."""
    escalations: int = 0
    """Failures of children that climbed to this task (each re-plans its subtree)."""


class TaskTree(BaseModel):
    """All tasks of a run, keyed by id, in creation order.

    The root node stands for the goal. Children are found through ``parent_id``; the
    order of ``nodes`` is the order in which tasks were created, so replaced tasks stay
    in the tree with their final status.
    """

    goal: str
    max_depth: int
    max_tasks_per_level: int = 8
    """The most subtasks a plan may give one node (the goal included)."""
    statement: TaskStatement | None = None
    """The goal refined into a task statement (``Team(refine_goal=True)``), which every
    agent sees next to the goal."""
    nodes: dict[str, TaskNode] = Field(default_factory=dict)
    _index: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    _index_size: int = PrivateAttr(default=-1)

    @classmethod
    def for_goal(cls, goal: str, max_depth: int, max_tasks_per_level: int = 8) -> TaskTree:
        """A tree holding only the root node for ``goal``."""
        root = TaskNode(id=ROOT_ID, parent_id=None, title=goal[:120], description=goal)
        return cls(
            goal=goal,
            max_depth=max_depth,
            max_tasks_per_level=max_tasks_per_level,
            nodes={ROOT_ID: root},
        )

    @property
    def root(self) -> TaskNode:
        """The node that stands for the goal."""
        return self.nodes[ROOT_ID]

    def get(self, task_id: str) -> TaskNode:
        """The node with ``task_id``; ``KeyError`` names the id when it is unknown."""
        try:
            return self.nodes[task_id]
        except KeyError:
            raise KeyError(f"no task {task_id!r} in the tree") from None

    def children(self, task_id: str, *, live_only: bool = False) -> list[TaskNode]:
        """Children of ``task_id`` in creation order; ``live_only`` drops replaced ones."""
        kids = [self.nodes[i] for i in self._child_index().get(task_id, ())]
        return [n for n in kids if not n.replaced_by] if live_only else kids

    def _child_index(self) -> dict[str, list[str]]:
        # Nodes are only ever added, so the node count tells whether the index is current.
        # Read through the private dict: pydantic's attribute lookup for private fields is
        # slow, and this runs for every tree query.
        private = self.__pydantic_private__
        assert private is not None
        if private["_index_size"] != len(self.nodes):
            index: dict[str, list[str]] = {}
            for node in self.nodes.values():
                if node.parent_id is not None:
                    index.setdefault(node.parent_id, []).append(node.id)
            private["_index"], private["_index_size"] = index, len(self.nodes)
        return cast(dict[str, list[str]], private["_index"])

    def is_leaf(self, task_id: str) -> bool:
        """Whether ``task_id`` has no live children (and so is executed)."""
        if task_id == ROOT_ID:
            return False
        nodes = self.nodes
        return all(nodes[i].replaced_by for i in self._child_index().get(task_id, ()))

    def kind(self, task_id: str) -> TaskKind:
        """``team`` for a task delegated to a sub-team, else ``leaf`` or ``inner``."""
        node = self.get(task_id)
        if node.team is not None:
            return "team"
        return "leaf" if self.is_leaf(task_id) else "inner"

    def ancestors(self, task_id: str) -> list[TaskNode]:
        """Ancestors of ``task_id`` from the root down, excluding the node itself."""
        path: list[TaskNode] = []
        parent = self.get(task_id).parent_id
        while parent is not None:
            node = self.get(parent)
            path.append(node)
            parent = node.parent_id
        path.reverse()
        return path

    def live_nodes(self) -> Iterator[TaskNode]:
        """Tasks that are part of the current plan (not replaced), root excluded."""
        return (n for n in self.nodes.values() if n.id != ROOT_ID and not n.replaced_by)

    def leaves(self) -> list[TaskNode]:
        """Executable tasks of the current plan, in creation order."""
        return [n for n in self.live_nodes() if self.is_leaf(n.id)]

    def prerequisites(self, task_id: str, *, outer_first: bool = False) -> list[TaskNode]:
        """Tasks that must be done before ``task_id`` starts.

        These are its own dependencies and those of each ancestor (a dependency between two
        inner nodes holds for every task below them): its own first, or with
        ``outer_first`` the outermost ancestor's first and its own last.
        """
        node = self.get(task_id)
        ancestors = self.ancestors(task_id)
        layers = [*ancestors, node] if outer_first else [node, *ancestors]
        ids = [i for layer in layers for i in layer.depends_on]
        return [self.get(i) for i in dict.fromkeys(ids)]

    def ready_leaves(self) -> list[TaskNode]:
        """Pending leaves whose prerequisites are all done."""
        # Cheapest tests first: the status, then the task's own dependencies; between them
        # they rule out most tasks of a running plan (the scheduler asks after every job).
        done = TaskStatus.DONE
        return [
            node
            for node in self.live_nodes()
            if node.status in (TaskStatus.PENDING, TaskStatus.READY)
            and all(self.get(d).status is done for d in node.depends_on)
            and self.is_leaf(node.id)
            and all(p.status is done for p in self.prerequisites(node.id))
        ]

    def waiting_chains(self, task_ids: Sequence[str]) -> dict[str, int]:
        """For each of ``task_ids``: the most tasks that wait on it one after another.

        What waits on a task: the siblings that depend on it, what waits on them, and
        what waits on its parent (a dependency on an inner task holds for every task
        below it). The dispatcher starts the tasks with the longest chains first: when
        several finish together, the one more work waits on is handled first.
        """
        waiters: dict[str, list[str]] = {}
        for node in self.live_nodes():
            for dep in node.depends_on:
                waiters.setdefault(dep, []).append(node.id)
        memo: dict[str, int] = {ROOT_ID: 0}
        for start in task_ids:
            # depth-first without recursion: a chain of a thousand tasks is a valid plan
            stack, entered = [start], set()
            while stack:
                task_id = stack[-1]
                if task_id in memo:
                    stack.pop()
                    continue
                parent = self.nodes[task_id].parent_id or ROOT_ID
                after = [parent, *waiters.get(task_id, ())]
                todo = [t for t in after if t not in memo and t not in entered]
                if todo and task_id not in entered:
                    entered.add(task_id)
                    stack.extend(todo)
                    continue
                below = max((1 + memo.get(w, 0) for w in waiters.get(task_id, ())), default=0)
                memo[task_id] = max(memo.get(parent, 0), below)
                stack.pop()
        return {t: memo[t] for t in task_ids}

    def dependents(self, task_id: str) -> list[TaskNode]:
        """Live siblings that name ``task_id`` in their ``depends_on``."""
        parent = self.get(task_id).parent_id
        return [
            n for n in self.children(parent or ROOT_ID, live_only=True) if task_id in n.depends_on
        ]

    def subtree(self, task_id: str) -> list[TaskNode]:
        """``task_id`` and every node below it."""
        out = [self.get(task_id)]
        for child in self.children(task_id):
            out.extend(self.subtree(child.id))
        return out

    def total_usage(self, task_id: str) -> Usage:
        """Usage of ``task_id`` and of every task below it (replaced ones included).

        A task delegated to a sub-team counts everything the sub-team spent on it.
        """
        total = Usage()
        for node in self.subtree(task_id):
            total += node.usage
            if node.subtree is not None:
                total += node.subtree.usage()
        return total

    def usage(self) -> Usage:
        """Usage of the whole tree: every node's, sub-teams' trees included."""
        return self.total_usage(ROOT_ID)

    def add(self, nodes: Iterable[TaskNode]) -> None:
        """Insert new nodes; ids must be new."""
        for node in nodes:
            if node.id in self.nodes:
                raise ValueError(f"task id {node.id!r} already exists")
            self.nodes[node.id] = node


TaskNode.model_rebuild()  # ``subtree`` refers to TaskTree, defined after it
