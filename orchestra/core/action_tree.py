"""The action tree of plan sampling: what the K sampled plans share, and where they differ.

After Tree-Planner (Hu et al., 2023), adapted to plans that are trees of sibling DAGs
rather than sequences. The K valid samples are merged on equal tasks (the same
normalized title at the same place, :func:`task_key`, the key plan selection matches
samples on): the tasks of the plan the run executes are kept once, each with the votes
of the samples that contain it, and where another sample wrote something else for the
same part of the goal, that is a **branch**: an :class:`Alternative` (one task, or a
different decomposition into several) with its own votes.

Which sample's task stands for which: at each level, the tasks of a sample that no task
of the executed plan matches are aligned with the executed plan's unmatched tasks by
the words they share (words of four letters or more in the title and description,
Jaccard, each word weighted by its rarity among the level's tasks, so the words naming
what a task is about count more than the wording tasks share); tasks aligned to the
same task form one alternative, with their dependencies among themselves. A task that shares no
word with any unmatched task stands for nothing and is left out.

**Backtracking** (:func:`next_alternative`): when the critic sends a task of the
executed plan back with ``replan``, the engine first grafts an unused alternative for
it (no planner call, no planning tokens), and asks the planner only when none is left.
Each alternative is used once; a graft counts as a re-plan against ``max_replans`` and
``max_replans_per_node``. The choice is grounded in what has happened so far, by a
fixed rule and without a model call:

1. alternatives that repeat a plan already tried on that line are skipped, and so are
   those from sampled plans the plan critic scored below :data:`MIN_SCORE`;
2. an alternative whose named tools all served tasks the critic has accepted in this
   run comes first (an approach that has worked on a sibling);
3. then the plan critic's best score of the sampled plans that proposed it;
4. then votes; then the sample that proposed it first.

Rules 3 and 4 are the order each branch lists its alternatives in (what a person
approving the plan sees); when a person gives the alternatives (:func:`edited_action_tree`)
their order replaces 3 and 4.

When nothing has been accepted yet and no critic judged the samples (one distinct
plan, or votes chose), that is votes alone. The plan the run starts with is plan
selection's choice; when votes chose it, :func:`majority_plan` first swaps each of its
tasks that an alternative outvotes (the way most samples went at that branch).

**A tree the planner writes** (``plan_sampling="alternatives"``): one planner call
writes its plan and, for the tasks it could do another way, what it would do instead
(:class:`ProposedAlternative`). :func:`written_action_tree` makes the same tree from
that as from sampled plans: the plan is sample 0 and each usable proposal a sample of
its own (the plan with that one task swapped), so the branches, votes and backtracking
above apply unchanged; the samples the planner did not write out cost no tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestra.core.plan import (
    HARD_MAX_TASKS_PER_LEVEL,
    ID_PATTERN,
    DraftTask,
    PlanDraft,
    parent_ids,
    plan_signature,
    walk_tasks,
)
from orchestra.core.surgery import sinks, tried_before
from orchestra.core.tree import TaskNode, TaskStatus, TaskTree

__all__ = [
    "MAX_DROPPED_SAID",
    "MIN_SCORE",
    "ActionTree",
    "Alternative",
    "AlternativesEdit",
    "Branch",
    "ProposedAlternative",
    "build_action_tree",
    "edited_action_tree",
    "majority_plan",
    "proposal_problem",
    "next_alternative",
    "own_dependencies",
    "position_of",
    "task_key",
    "with_alternative",
    "written_action_tree",
]


MIN_SCORE = 0.5
"""Alternatives from sampled plans the plan critic scored below this are never grafted:
it judged them more wrong than right, and the planner, with the failure in view, is
asked instead."""


_Proposals = dict[str, dict[object, tuple[list[DraftTask], list[int]]]]
"""Per task of the executed plan: each distinct replacement (by signature), its tasks and
the samples that proposed it."""


def task_key(task: DraftTask) -> str:
    """What makes two sampled tasks the same task: the title, without case or spacing."""
    return " ".join(task.title.casefold().split())


class Alternative(BaseModel):
    """What other samples proposed instead of one task of the executed plan."""

    model_config = ConfigDict(frozen=True)

    id: str
    """``<task id>~<n>``: how records and events name it (n from 1, most votes first;
    those a person gave numbered after the sampled ones)."""
    tasks: list[DraftTask]
    """The replacement as the sample wrote it: one task, or several with their
    dependencies among themselves (and their subtasks)."""
    samples: list[int]
    """The samples (0-based) that proposed it: its votes (none for one a person gave)."""
    score: float | None = None
    """The plan critic's best score among the sampled plans that proposed it (None: no
    critic judged them)."""
    from_person: bool = False
    """A person gave it when approving the plan (:class:`AlternativesEdit`); no sample
    proposed it."""

    @property
    def votes(self) -> int:
        """How many samples proposed it."""
        return len(self.samples)

    @property
    def score_allows(self) -> bool:
        """Whether its score lets backtracking graft it (none, or :data:`MIN_SCORE` up)."""
        return self.score is None or self.score >= MIN_SCORE

    @property
    def tools(self) -> list[str]:
        """The tools its tasks name, all levels, first mention first."""
        return list(dict.fromkeys(t for task in walk_tasks(self.tasks) for t in task.tools))

    @property
    def draft(self) -> PlanDraft:
        """The replacement as a plan, as a re-plan would give it."""
        return PlanDraft.model_construct(tasks=list(self.tasks), keep=None)


class Branch(BaseModel):
    """One task of the executed plan: its votes and the alternatives to it."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    """The task's id in the executed plan, which is its id in the tree (but for a task the
    planner called ``root``, renamed ``root-2`` there, which then has no alternatives)."""
    parent_id: str | None
    """Its parent's id in the executed plan; None at the top level."""
    samples: list[int]
    """The samples that contain this task at this place: its votes."""
    alternatives: list[Alternative] = Field(default_factory=list)
    """What the other samples proposed instead, in the order backtracking tries them
    when no grounding tells them apart: the plan critic's best score first, then most
    votes, then the first sample (or the order a person gave them in)."""


class AlternativesEdit(BaseModel):
    """How a person changed the alternatives when approving the plan (``EditPlan``)."""

    model_config = ConfigDict(frozen=True)

    offered: int
    """Alternatives the approval request listed."""
    kept: int
    """Of those, how many the run keeps (with their ids, votes and scores)."""
    given: int
    """Alternatives the person wrote that were not offered as written."""
    reordered: bool = False
    """The person listed the kept ones in another order (the order they are tried in)."""
    dropped: int = 0
    """Offered alternatives the run no longer keeps though the person did not leave them
    out: their task was dropped (or, when the person gave none, edited), or they no
    longer fit the edited plan."""
    why_dropped: list[str] = Field(default_factory=list)
    """``"<id>: <why>"`` for the first :data:`MAX_DROPPED_SAID` of them."""

    def describe(self) -> str:
        """One line: ``"1 kept of 3, 1 given; 1 dropped: find~1: task 'find' was edited"``."""
        line = f"{self.kept} kept of {self.offered}"
        line += f", {self.given} given" if self.given else ""
        line += ", in a new order" if self.reordered else ""
        if self.dropped:
            shown = self.why_dropped[:3]
            more = self.dropped - len(shown)
            line += f"; {self.dropped} dropped: " + "; ".join(shown)
            line += f"; and {more} more" if more else ""
        return line


MAX_DROPPED_SAID = 20
"""Reasons :attr:`AlternativesEdit.why_dropped` keeps (:attr:`AlternativesEdit.dropped`
counts them all)."""


class ActionTree(BaseModel):
    """The valid samples merged into one tree (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    samples: int
    """Valid samples merged."""
    branches: list[Branch]
    """Every task of the executed plan, all levels, in plan order."""
    edit: AlternativesEdit | None = None
    """How a person changed the alternatives before the run (None: as sampled)."""

    @property
    def shared(self) -> int:
        """Tasks of the executed plan that every valid sample contains."""
        return sum(len(b.samples) == self.samples for b in self.branches)

    @property
    def alternatives(self) -> int:
        """Alternatives kept for backtracking, all tasks."""
        return sum(len(b.alternatives) for b in self.branches)

    def proposed(self) -> list[ProposedAlternative]:
        """The alternatives backtracking may graft, in the planner's format.

        By task in plan order, each task's in the order they would be tried (see
        :attr:`Branch.alternatives`); those from plans the plan critic scored below
        :data:`MIN_SCORE` are left out (they are never grafted).
        """
        return [
            ProposedAlternative(instead_of=branch.task_id, tasks=alternative.tasks)
            for branch in self.branches
            for alternative in branch.alternatives
            if alternative.score_allows
        ]

    def branch(self, task_id: str) -> Branch | None:
        """The branch of the executed plan's task ``task_id``, if it has one."""
        for branch in self.branches:
            if branch.task_id == task_id:
                return branch
        return None

    @classmethod
    def from_selection_data(cls, data: dict[str, Any] | None) -> ActionTree | None:
        """The action tree kept in a plan selection's state data (``RunState``), if any.

        A sampled tree's alternatives come in try order (a run checkpointed before they
        were kept in that order lists them most votes first); a person's order is kept.
        """
        found = (data or {}).get("action_tree")
        if not found:
            return None
        tree = cls.model_validate(found)
        if tree.edit is not None:
            return tree
        branches = [
            b.model_copy(update={"alternatives": sorted(b.alternatives, key=_try_order)})
            for b in tree.branches
        ]
        return tree.model_copy(update={"branches": branches})


def build_action_tree(
    valid: Sequence[tuple[int, PlanDraft]],
    executed: Sequence[int],
    scores: Mapping[int, float | None] | None = None,
    *,
    plan: PlanDraft | None = None,
) -> ActionTree:
    """Merge the valid ``(sample, draft)`` pairs around the plan of samples ``executed``.

    ``executed`` are the samples that gave the plan the run executes (equal plans: the
    first one's draft is the plan); every other sample votes for the tasks it shares
    with it and adds alternatives where it differs. ``scores``: the plan critic's score
    of each sample's plan, when it judged them. ``plan``: the plan the run executes when
    no sample wrote it whole (:func:`majority_plan`); ``executed`` is then empty and
    every sample votes task by task.
    """
    scores = scores or {}
    drafts = dict(valid)
    if plan is None:
        plan = drafts[executed[0]]
    votes: dict[str, list[int]] = {t.id: list(executed) for t in walk_tasks(plan.tasks)}
    proposals: _Proposals = {}
    for sample, draft in valid:
        if sample in executed:
            continue
        _merge_level(plan.tasks, draft.tasks, sample, votes, proposals)
    return ActionTree(samples=len(valid), branches=_branches(plan, votes, proposals, scores))


def _branches(
    plan: PlanDraft,
    votes: Mapping[str, list[int]],
    proposals: _Proposals,
    scores: Mapping[int, float | None],
) -> list[Branch]:
    """The plan's tasks, all levels, with their votes and alternatives (in try order)."""
    branches: list[Branch] = []
    parents = parent_ids(plan.tasks)
    for task in walk_tasks(plan.tasks):
        found = proposals.get(task.id, {})
        ranked = sorted(found.values(), key=lambda p: (-len(p[1]), p[1][0]))
        alternatives = [
            Alternative(
                id=f"{task.id}~{n}",
                tasks=tasks,
                samples=samples,
                score=_best(scores.get(s) for s in samples),
            )
            for n, (tasks, samples) in enumerate(ranked, 1)
        ]
        branches.append(
            Branch(
                task_id=task.id,
                parent_id=parents.get(task.id),
                samples=sorted(votes[task.id]),
                alternatives=sorted(alternatives, key=_try_order),
            )
        )
    return branches


def _try_order(alternative: Alternative) -> tuple[float, int, int]:
    """Sort key, first tried first, of alternatives no result tells apart yet."""
    score = -1.0 if alternative.score is None else alternative.score
    return (-score, -alternative.votes, alternative.samples[0])


def _propose(proposals: _Proposals, task_id: str, tasks: list[DraftTask], sample: int) -> None:
    """Count ``sample``'s proposal of ``tasks`` in place of ``task_id``."""
    kept = proposals.setdefault(task_id, {})
    signature = plan_signature(tasks)
    if signature in kept:
        kept[signature][1].append(sample)
    else:
        kept[signature] = (tasks, [sample])


def own_dependencies(tasks: Sequence[DraftTask]) -> list[DraftTask]:
    """``tasks`` keeping only their dependencies among themselves (a replacement's)."""
    inside = {t.id for t in tasks}
    return [
        t.model_copy(update={"depends_on": [d for d in t.depends_on if d in inside]}) for t in tasks
    ]


class ProposedAlternative(BaseModel):
    """What the planner would do instead of one task of its plan, as it wrote it."""

    instead_of: str = Field(
        description="The id of the plan's task this would replace.", pattern=ID_PATTERN
    )
    tasks: list[DraftTask] = Field(
        description="The task(s) to do instead, with dependencies among themselves only:"
        " the first ones wait for what the replaced task waited for.",
        min_length=1,
        max_length=HARD_MAX_TASKS_PER_LEVEL,
    )

    def outside_dependencies(self) -> list[str]:
        """Dependencies of its tasks on tasks not among them (an alternative has none)."""
        inside = {t.id for t in self.tasks}
        return list(dict.fromkeys(d for t in self.tasks for d in t.depends_on if d not in inside))

    def repeats(self, replaced: DraftTask) -> bool:
        """Whether it is ``replaced``, the task it names, written again (ids and spacing aside)."""
        return plan_signature(own_dependencies(self.tasks)) == plan_signature(
            own_dependencies([replaced])
        )


def proposal_problem(tasks: Mapping[str, DraftTask], proposal: ProposedAlternative) -> str | None:
    """Why ``proposal`` cannot stand in for a task of a plan, or None.

    ``tasks``: the plan's tasks, all levels, by id. Whether the plan it leaves is valid is
    checked apart (:func:`with_alternative`, then the plan's own checks).
    """
    found = tasks.get(proposal.instead_of)
    if found is None:
        return f"instead_of names {proposal.instead_of!r}, no task of the plan"
    if found.subtasks:
        return f"{found.id!r} is broken into subtasks: only a task done as one takes an alternative"
    if proposal.repeats(found):
        return f"it repeats {found.id!r}, the task it would replace"
    if outside := proposal.outside_dependencies():
        return (
            f"it depends on {outside}, outside its own tasks: an alternative waits for what"
            f" {found.id!r} waits for"
        )
    return None


def edited_action_tree(
    action_tree: ActionTree | None,
    before: PlanDraft,
    after: PlanDraft,
    given: Sequence[ProposedAlternative] | None,
    fits: Callable[[ProposedAlternative], str | None],
) -> ActionTree:
    """The action tree of a plan a person edited from ``before`` to ``after``.

    Only the alternatives the person was offered (:meth:`ActionTree.proposed`) can stay.
    ``given`` None keeps those of the tasks the edit left as they were (the same task,
    whatever it now waits for: an alternative takes its task's prerequisites), with
    their ids, votes, scores and order, but for those ``fits`` finds a problem with in the
    edited plan (an id the edit took, say); the others are dropped, each said in
    :attr:`ActionTree.edit`. A list (checked by the caller) replaces them all and is tried
    in its order: one that is an offered alternative written again exactly stays that
    alternative, the others are the person's (:attr:`Alternative.from_person`); offered
    ones of tasks the edit dropped count as dropped with their task. ``edit`` is None
    when the person changed nothing about them.
    """
    old = action_tree or ActionTree(samples=0, branches=[])
    offered = [(b.task_id, a) for b in old.branches for a in b.alternatives if a.score_allows]
    was = {t.id: _own_part(t) for t in walk_tasks(before.tasks)}
    now = {t.id: _own_part(t) for t in walk_tasks(after.tasks)}
    if given is None:
        chosen, dropped = _kept_by_default(offered, was, now, fits)
    else:
        chosen = _as_given(given, offered, old)
        taken = {a.id for alternatives in chosen.values() for a in alternatives}
        dropped = [  # those the person left out are theirs to leave; these went with a task
            f"{a.id}: task {task_id!r} was dropped"
            for task_id, a in offered
            if task_id not in now and a.id not in taken
        ]
    parents = parent_ids(after.tasks)
    branches = []
    for task in walk_tasks(after.tasks):
        kept = old.branch(task.id) if was.get(task.id) == now[task.id] else None
        branches.append(
            Branch(
                task_id=task.id,
                parent_id=parents.get(task.id),
                samples=kept.samples if kept else [],
                alternatives=chosen.get(task.id, []),
            )
        )
    return ActionTree(
        samples=old.samples, branches=branches, edit=_edit_made(offered, chosen, dropped)
    )


_Offered = list[tuple[str, Alternative]]
"""The alternatives a person was offered, each with the id of its task."""


def _kept_by_default(
    offered: _Offered,
    was: Mapping[str, DraftTask],
    now: Mapping[str, DraftTask],
    fits: Callable[[ProposedAlternative], str | None],
) -> tuple[dict[str, list[Alternative]], list[str]]:
    """The offered alternatives of tasks left as they were that still fit, by task.

    With them, ``"<id>: <why>"`` for each of the others.
    """
    chosen: dict[str, list[Alternative]] = {}
    dropped: list[str] = []
    for task_id, alternative in offered:
        if task_id not in now:
            problem: str | None = f"task {task_id!r} was dropped"
        elif was.get(task_id) != now[task_id]:
            problem = f"task {task_id!r} was edited"
        else:
            problem = fits(ProposedAlternative(instead_of=task_id, tasks=alternative.tasks))
        if problem is None:
            chosen.setdefault(task_id, []).append(alternative)
        else:
            dropped.append(f"{alternative.id}: {problem}")
    return chosen, dropped


def _as_given(
    given: Sequence[ProposedAlternative], offered: _Offered, old: ActionTree
) -> dict[str, list[Alternative]]:
    """A person's alternatives by task, in their order.

    An offered one written again exactly is that one; the others are the person's,
    numbered after the tree's.
    """
    numbers = {b.task_id: len(b.alternatives) for b in old.branches}
    chosen: dict[str, list[Alternative]] = {}
    for proposal in given:
        tasks = own_dependencies(proposal.tasks)
        known = next((a for t, a in offered if t == proposal.instead_of and a.tasks == tasks), None)
        if known is None:
            numbers[proposal.instead_of] = n = numbers.get(proposal.instead_of, 0) + 1
            known = Alternative(
                id=f"{proposal.instead_of}~{n}", tasks=tasks, samples=[], from_person=True
            )
        chosen.setdefault(proposal.instead_of, []).append(known)
    return chosen


def _edit_made(
    offered: _Offered, chosen: Mapping[str, list[Alternative]], dropped: list[str]
) -> AlternativesEdit | None:
    """What the person changed about the alternatives (None: nothing)."""
    now_ids = {t: [a.id for a in alternatives] for t, alternatives in chosen.items()}
    offered_ids: dict[str, list[str]] = {}
    for task_id, alternative in offered:
        offered_ids.setdefault(task_id, []).append(alternative.id)
    if now_ids == offered_ids:
        return None
    everyone = {i for ids in offered_ids.values() for i in ids}
    stayed = {t: [i for i in ids if i in everyone] for t, ids in now_ids.items()}
    kept = sum(len(ids) for ids in stayed.values())
    return AlternativesEdit(
        offered=len(offered),
        kept=kept,
        given=sum(len(ids) for ids in now_ids.values()) - kept,
        reordered=any(
            ids != [i for i in offered_ids.get(t, []) if i in ids] for t, ids in stayed.items()
        ),
        dropped=len(dropped),
        why_dropped=dropped[:MAX_DROPPED_SAID],
    )


def _own_part(task: DraftTask) -> DraftTask:
    """``task`` without what it waits for: what its alternatives stand in for."""
    return task.model_copy(update={"depends_on": []})


def with_alternative(plan: PlanDraft, proposal: ProposedAlternative) -> PlanDraft:
    """``plan`` with ``proposal`` in place of the task it names, rewired.

    The proposal keeps only its dependencies among its own tasks; its first tasks take
    the replaced task's prerequisites and the replaced task's dependents depend on its
    last tasks (as :func:`majority_plan` swaps). A proposal naming no task of the plan
    leaves the plan as it is.
    """
    swapped = _swapped(plan.tasks, {proposal.instead_of: own_dependencies(proposal.tasks)})
    return PlanDraft.model_construct(tasks=swapped, keep=None)


def written_action_tree(plan: PlanDraft, proposals: Sequence[ProposedAlternative]) -> ActionTree:
    """The action tree of a plan and the alternatives its planner proposed for its tasks.

    The plan is sample 0 and proposal ``n`` (from 0) sample ``n + 1``: each alternative
    has that one vote, and each task of the plan the votes of the samples that keep it.
    Proposals should be usable (:func:`with_alternative` gives a valid plan); one naming
    no task of the plan is left out, and one that repeats the task it replaces is a
    sample agreeing with the plan.
    """
    by_id = {t.id: t for t in walk_tasks(plan.tasks)}
    votes: dict[str, list[int]] = {task_id: [0] for task_id in by_id}
    proposed: _Proposals = {}
    for sample, proposal in enumerate(proposals, 1):
        replaced = by_id.get(proposal.instead_of)
        if replaced is None:
            continue
        same = proposal.repeats(replaced)
        gone = set() if same else {t.id for t in walk_tasks([replaced])}
        for task_id in by_id.keys() - gone:
            votes[task_id].append(sample)
        if not same:
            _propose(proposed, replaced.id, own_dependencies(proposal.tasks), sample)
    branches = _branches(plan, votes, proposed, {})
    return ActionTree(samples=1 + len(proposals), branches=branches)


def majority_plan(action_tree: ActionTree, plan: PlanDraft) -> tuple[PlanDraft, list[str]]:
    """``plan`` with each task that an alternative outvotes replaced by that alternative.

    Tree-Planner's start before anything has happened: at every branch point the way
    most samples went. A task is swapped when its most-voted alternative has strictly
    more votes than the task itself (ties keep the plan's task), and only where the
    alternative's ids are new to the plan. The alternative's first tasks take the
    replaced task's prerequisites; the tasks that depended on it depend on the
    alternative's last tasks. Returns the plan and the ids of the tasks swapped out.
    """
    swaps: dict[str, list[DraftTask]] = {}
    by_id = {t.id: t for t in walk_tasks(plan.tasks)}
    ids = set(by_id)
    gone: set[str] = set()  # inside a task already swapped out
    for branch in action_tree.branches:
        if branch.task_id in gone or branch.task_id not in by_id:
            continue
        best = max(branch.alternatives, key=lambda a: a.votes, default=None)
        if best is None or best.votes <= len(branch.samples):
            continue
        new_ids = {t.id for t in walk_tasks(best.tasks)}
        if new_ids & (ids - {branch.task_id}):
            continue  # the alternative's ids are taken: no swap rather than a renaming
        swaps[branch.task_id] = list(best.tasks)
        ids |= new_ids
        gone |= {t.id for t in walk_tasks(by_id[branch.task_id].subtasks)}
    if not swaps:
        return plan, []
    return PlanDraft.model_construct(tasks=_swapped(plan.tasks, swaps), keep=None), list(swaps)


def _swapped(tasks: Sequence[DraftTask], swaps: Mapping[str, list[DraftTask]]) -> list[DraftTask]:
    """One level of tasks with the swaps made (and made inside the kept tasks' subtasks)."""
    exits = {task_id: sinks(new) for task_id, new in swaps.items()}
    out: list[DraftTask] = []
    for task in tasks:
        replacement = swaps.get(task.id)
        if replacement is None:
            depends_on = [e for d in task.depends_on for e in exits.get(d, [d])]
            update = {"depends_on": depends_on, "subtasks": _swapped(task.subtasks, swaps)}
            out.append(task.model_copy(update=update))
            continue
        inside = {t.id for t in replacement}
        for added in replacement:
            own = [d for d in added.depends_on if d in inside]
            outer = [] if own else [e for d in task.depends_on for e in exits.get(d, [d])]
            out.append(added.model_copy(update={"depends_on": [*own, *outer]}))
    return out


def _best(scores: Iterable[float | None]) -> float | None:
    known = [s for s in scores if s is not None]
    return max(known) if known else None


def _merge_level(
    ours: Sequence[DraftTask],
    theirs: Sequence[DraftTask],
    sample: int,
    votes: dict[str, list[int]],
    proposals: _Proposals,
) -> None:
    """One sample's tasks at one level against the executed plan's (recursing on matches)."""
    by_key = {task_key(t): t for t in theirs}
    unmatched = [t for t in ours if task_key(t) not in by_key]
    for task in ours:
        match = by_key.get(task_key(task))
        if match is not None:
            votes[task.id].append(sample)
            _merge_level(task.subtasks, match.subtasks, sample, votes, proposals)
    keys = {task_key(t) for t in ours}
    groups: dict[str, list[DraftTask]] = {}
    weights = _rarity([*ours, *theirs])
    for place, task in enumerate(theirs):
        if task_key(task) in keys:
            continue
        target = _closest(task, place, unmatched, ours, weights)
        if target is not None:
            groups.setdefault(target.id, []).append(task)
    for target_id, tasks in groups.items():
        _propose(proposals, target_id, own_dependencies(tasks), sample)


def _closest(
    task: DraftTask,
    mine: int,
    candidates: Sequence[DraftTask],
    level: Sequence[DraftTask],
    weights: Mapping[str, float],
) -> DraftTask | None:
    """The candidate sharing the most words with ``task``, which is ``mine``-th of its level.

    Words count by their rarity at this level (``weights``): what names the part of the
    goal a task is about (an item, a topic) outweighs the wording every task of the
    level shares ("find", "report"), so a task is aligned with the one about the same
    thing rather than with the one phrased the same way. Ties: the candidate nearer that
    place in ``level``, then the first.
    """
    if not candidates:
        return None
    words = _words(task)
    place = {t.id: n for n, t in enumerate(level)}
    scored = [
        (_jaccard(words, _words(c), weights), -abs(place[c.id] - mine), c) for c in candidates
    ]
    score, _, best = max(scored, key=lambda s: (s[0], s[1]))
    return best if score > 0 else None


def _rarity(tasks: Sequence[DraftTask]) -> dict[str, float]:
    """Each word's weight at one level: one over the number of ``tasks`` that use it."""
    counts: dict[str, int] = {}
    for task in tasks:
        for word in _words(task):
            counts[word] = counts.get(word, 0) + 1
    return {word: 1 / n for word, n in counts.items()}


def _words(task: DraftTask) -> set[str]:
    """The words of four letters or more in its title and description (no "the", "of")."""
    text = f"{task.title} {task.description}".casefold()
    return {w for w in re.findall(r"[\w-]+", text) if len(w) >= 4}


def _jaccard(a: set[str], b: set[str], weights: Mapping[str, float]) -> float:
    """Weighted Jaccard similarity of two word sets."""
    union = sum(weights.get(w, 1.0) for w in a | b)
    return sum(weights.get(w, 1.0) for w in a & b) / union if union else 0.0


def position_of(tree: TaskTree, failed: TaskNode) -> TaskNode:
    """The task of the first plan that ``failed``'s line of replacements started from."""
    origin = failed
    while origin.replaces is not None and origin.replaces in tree.nodes:
        origin = tree.get(origin.replaces)
    return origin


def next_alternative(
    action_tree: ActionTree, tree: TaskTree, failed: TaskNode, used: Iterable[str]
) -> Alternative | None:
    """The alternative to graft in place of the rejected leaf ``failed``, if one is left.

    Only for a leaf at the level of the first plan's task its line started from (a
    nested subtask of a replacement is not a place the samples disagreed on). See the
    module docstring for the rule; ``used`` are the ids of alternatives already grafted.
    """
    origin = position_of(tree, failed)
    branch = action_tree.branch(origin.id)
    if branch is None or failed.parent_id != origin.parent_id:
        return None
    spent = set(used)
    left = [
        a
        for a in branch.alternatives
        if a.id not in spent
        and a.score_allows
        and _fits(tree, failed, a)
        and not tried_before(tree, failed, a.draft)
    ]
    if not left:
        return None
    worked = _accepted_tools(tree)

    def grounded(alternative: Alternative) -> bool:
        tools = alternative.tools
        return bool(tools) and all(t in worked for t in tools)

    # the branch lists them in try order (score, votes, sample, or a person's order)
    return next((a for a in left if grounded(a)), left[0])


def _fits(tree: TaskTree, failed: TaskNode, alternative: Alternative) -> bool:
    """Whether the alternative leaves its level within the tree's width limit."""
    parent = failed.parent_id or tree.root.id
    siblings = len(tree.children(parent, live_only=True))
    return siblings - 1 + len(alternative.tasks) <= tree.max_tasks_per_level


def _accepted_tools(tree: TaskTree) -> set[str]:
    """Tools named by the leaves the critic (or a check) accepted so far."""
    return {
        tool
        for node in tree.nodes.values()
        if node.status is TaskStatus.DONE and tree.is_leaf(node.id)
        for tool in node.tools
    }
