"""The hierarchy's side of dispatch: decomposition on demand, leads, re-plans, escalation.

The scheduler (:mod:`orchestra.engine.scheduler`) runs leaves and hands the tree's inner
life to :class:`Hierarchy`: a task marked ``decompose`` is broken down by its lead when
it is ready; an inner task whose subtasks are all done is integrated by its lead and
judged; a leaf the critic sends back with ``replan`` is re-planned; a failure that cannot
be recovered where it happened climbs to the ancestors, whose subtrees are planned again
(finished subtasks kept). What each of these does to the tree is in
:mod:`orchestra.core.surgery`; this module decides *when*, starts the jobs
(:mod:`orchestra.engine.plan_jobs`) and takes their outcomes, through the small
:class:`Dispatch` protocol the scheduler implements.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from orchestra.agents.role_designer import adopt_role
from orchestra.core.action_tree import ActionTree, Alternative, next_alternative
from orchestra.core.events import (
    LeadAssigned,
    NoticeKind,
    Replanned,
    TaskDecomposed,
    TaskEscalated,
    TaskFailed,
    TaskIntegrating,
    TaskPlanned,
)
from orchestra.core.plan import draft_to_nodes
from orchestra.core.record import DecompositionRecord, ReplanRecord
from orchestra.core.roles import RoleSpec
from orchestra.core.surgery import (
    live_split,
    mark_started,
    repeats_dropped,
    replace_task,
    replan_subtree,
    tried_before,
)
from orchestra.core.tree import ROOT_ID, TaskNode, TaskStatus, TaskTree, Verdict
from orchestra.engine import plan_jobs
from orchestra.engine.emit import Emitter
from orchestra.engine.jobs import TaskJob
from orchestra.engine.outcomes import BudgetStopped, DraftOutcome, IntegrationOutcome, JobOutcome
from orchestra.engine.plan_jobs import DecomposeJob, EscalationJob, IntegrateJob, ReplanJob
from orchestra.engine.runtime import TeamRuntime

__all__ = ["Dispatch", "Hierarchy", "emit_planned"]

J = TypeVar("J", bound=TaskJob)
Out = TypeVar("Out", bound=JobOutcome)


def _now() -> datetime:
    return datetime.now(UTC)


def emit_planned(emit: Emitter, nodes: list[TaskNode]) -> None:
    """Announce new tasks."""
    for node in nodes:
        emit(
            TaskPlanned,
            task_id=node.id,
            parent_id=node.parent_id,
            title=node.title,
            depends_on=node.depends_on,
        )


class Dispatch(Protocol):
    """What the hierarchy uses of the dispatcher (the scheduler implements it)."""

    runtime: TeamRuntime
    run_id: str
    tree: TaskTree
    roles: dict[str, RoleSpec]
    replans: list[ReplanRecord]
    emit: Emitter
    notices: list[dict[str, Any]]
    failure: str | None

    def start(
        self,
        kind: str,
        node: TaskNode,
        name: str,
        fn: Callable[[J], Awaitable[Out | BudgetStopped]],
        job: J,
        outcome: type[Out],
        handle: Callable[[Out], None],
    ) -> None:
        """Start ``fn(job)`` as a job for ``node``; ``handle`` gets its outcome."""
        ...

    def busy(self, task_ids: set[str]) -> bool:
        """Whether a job runs for any of ``task_ids``."""
        ...

    def design_leaves(self, leaves: Sequence[TaskNode], owner: TaskNode) -> None:
        """Give ``leaves`` roles: known hints, or the role designer's in one call.

        ``owner`` is the node their plan hangs from: the call is counted on it.
        """
        ...

    def complete(self, node: TaskNode, at: datetime) -> None:
        """``node`` is done (its parent may then be integrated)."""
        ...

    def fail(self, node: TaskNode, reason: str) -> None:
        """``node`` failed for good (its failure may then climb)."""
        ...

    def take_usage_and_notices(self, node: TaskNode, out: JobOutcome) -> None:
        """Count what a job spent on ``node`` and announce its notices."""
        ...

    def keep_unverified(self, node: TaskNode, verdict: Verdict, when: str) -> bool:
        """Whether ``node``'s last result, still failing a check, is kept unverified."""
        ...


@dataclass(slots=True)
class Hierarchy:
    """Decompositions, integrations, re-plans and escalations of one dispatch."""

    dispatch: Dispatch
    replans_started: int = 0
    """Re-plans started in the run so far (leaf re-plans and subtree re-plans)."""
    decompositions: list[DecompositionRecord] = field(default_factory=list)
    """Decompositions on demand made in this invocation (state data is appended)."""
    _escalating: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    """Tasks a failure climbed to, waiting for their subtree to be quiet before it is
    planned again: (failed child, reason, level) by task id."""
    _replanning: set[str] = field(default_factory=set)
    """Escalated tasks whose subtree re-plan job runs: their subtasks stay held until
    its outcome is handled (the re-plan may drop them)."""
    _levels: dict[str, int] = field(default_factory=dict)
    """How many levels the failure that re-planned a task had climbed, by task id."""
    action_tree: ActionTree | None = None
    """The first plan's sampled alternatives (``plan_samples`` > 1), grafted before the
    planner is asked for a re-plan (see :mod:`orchestra.core.action_tree`)."""

    @property
    def _tree(self) -> TaskTree:
        return self.dispatch.tree

    def _notice(self, kind: NoticeKind, message: str, task_id: str) -> None:
        d = self.dispatch
        d.notices.append(d.emit.notice(kind, message, task_id))

    # -- decomposition on demand ---------------------------------------------------

    def decompose(self, node: TaskNode) -> None:
        """``node`` is ready: its lead (the role it was given) breaks it into subtasks."""
        d = self.dispatch
        assert node.role is not None
        mark_started(self._tree, node, _now())
        job = DecomposeJob(
            runtime=d.runtime,
            run_id=d.run_id,
            tree=self._tree,
            task_id=node.id,
            lead=d.roles[node.role],
            roles=list(d.roles.values()),
        )
        d.start(
            "decompose",
            node,
            f"decompose.{node.id}",
            plan_jobs.decomposition,
            job,
            DraftOutcome,
            partial(self._on_decomposed, node),
        )

    def _on_decomposed(self, node: TaskNode, out: DraftOutcome) -> None:
        """Graft the lead's subtasks under ``node`` (or run it as a leaf when none came)."""
        d = self.dispatch
        d.take_usage_and_notices(node, out)
        node.decompose = False
        if out.draft is None:
            message = f"no usable decomposition ({out.error}); the task runs as one"
            self._notice("decomposition_failed", message, node.id)
            node.status = TaskStatus.PENDING
            return
        nodes = draft_to_nodes(
            out.draft, self._tree, parent_id=node.id, replan_generation=node.replan_generation
        )
        self._tree.add(nodes)
        node.lead = node.role
        assert node.lead is not None
        d.emit(LeadAssigned, task_id=node.id, role=node.lead, designed=False)
        new_ids = [n.id for n in nodes]
        self.decompositions.append(
            DecompositionRecord(task_id=node.id, new_task_ids=new_ids, at=_now())
        )
        emit_planned(d.emit, nodes)
        d.emit(TaskDecomposed, task_id=node.id, new_task_ids=new_ids)
        self._design_leaves(nodes)

    def _design_leaves(self, nodes: list[TaskNode]) -> None:
        """Give a graft's new leaves roles, in one role-designer call for the graft.

        The call is charged to the node the graft came from: the task a re-plan replaces,
        else the graft's parent (a decomposed task, an escalation's scope).
        """
        leaves = [new for new in nodes if self._tree.is_leaf(new.id)]
        if leaves:
            first = nodes[0]
            owner = self._tree.get(first.replaces or first.parent_id or ROOT_ID)
            self.dispatch.design_leaves(leaves, owner)

    # -- leads -----------------------------------------------------------------------

    def ready_to_integrate(self, node: TaskNode) -> bool:
        """An inner task (not the goal) whose subtasks are all done and nobody integrates."""
        tree = self._tree
        if node.id == ROOT_ID or node.status.is_final or tree.is_leaf(node.id):
            return False
        if not self.dispatch.runtime.leads or self.dispatch.busy({node.id}):
            return False
        kids = tree.children(node.id, live_only=True)
        return all(k.status is TaskStatus.DONE for k in kids)

    def _lead_of(self, node: TaskNode) -> RoleSpec | None:
        """The inner task's lead: its own, or the planner's role hint when it names a role.

        Not a sub-team's role (``Role(team=...)``): a sub-team takes a task as a goal of its
        own and cannot integrate subtasks planned here, so a lead is designed instead (and
        a ``role_fallback`` notice says so) rather than this team's model writing as it.
        """
        roles = self.dispatch.roles
        for name in (node.lead, node.role):
            spec = roles.get(name) if name is not None else None
            if spec is None:
                continue
            if spec.team is None:
                return spec
            if node.lead is None:
                message = (
                    f"role {name!r} is a sub-team: it cannot lead the subtasks planned"
                    " here; a lead is designed for the task"
                )
                self._notice("role_fallback", message, node.id)
        return None

    def integrate(self, node: TaskNode, feedback: str | None = None) -> None:
        """Ask ``node``'s lead to integrate its subtasks' results (judged by the critic)."""
        d = self.dispatch
        if d.failure is not None:
            return
        lead = self._lead_of(node)
        if lead is not None and node.lead is None:
            node.lead = lead.name
            d.emit(LeadAssigned, task_id=node.id, role=lead.name, designed=False)
        number = node.integrations + 1
        d.emit(
            TaskIntegrating,
            task_id=node.id,
            role=lead.name if lead is not None else "(to be designed)",
            integration=number,
        )
        job = IntegrateJob(
            runtime=d.runtime,
            run_id=d.run_id,
            tree=self._tree,
            task_id=node.id,
            lead=lead,
            roles=dict(d.roles),
            feedback=feedback,
            integration=number,
        )
        d.start(
            "integrate",
            node,
            f"integrate.{node.id}.{number}",
            plan_jobs.integration,
            job,
            IntegrationOutcome,
            partial(self._on_integrated, node),
        )

    def _on_integrated(self, node: TaskNode, out: IntegrationOutcome) -> None:
        d = self.dispatch
        d.take_usage_and_notices(node, out)
        if node.lead is None:
            spec, added = adopt_role(d.roles, out.lead)
            node.lead = spec.name
            d.emit(LeadAssigned, task_id=node.id, role=spec.name, designed=added)
        node.integrations += 1
        if out.output is None or out.verdict is None:
            d.fail(node, str(out.error))
            return
        node.result = out.output
        verdict = out.verdict
        node.verdicts.append(verdict)
        d.emit.verdict(node.id, verdict)
        if verdict.verdict == "pass":
            d.complete(node, out.finished_at)
        elif verdict.verdict == "fail":  # a check gave the task up
            d.fail(node, f"{verdict.source}: {verdict.reason}")
        elif verdict.verdict == "replan" and self._replan_subtree(node, verdict.reason):
            return
        elif node.integrations < d.runtime.limits.max_attempts:
            # the subtasks' results stand; the lead is asked again with the critic's reason
            self.integrate(node, feedback=verdict.reason)
        elif d.keep_unverified(node, verdict, "after its last integration"):
            d.complete(node, out.finished_at)
        else:
            d.fail(
                node,
                f"no accepted integration after {node.integrations} attempt(s): {verdict.reason}",
            )

    # -- re-planning a leaf ------------------------------------------------------------

    def replan(self, leaf: TaskNode, reason: str) -> None:
        """The critic sent ``leaf`` back with ``replan``: plan a replacement for it.

        With sampled plans, another sample's alternative for it is grafted first (no
        planner call); the planner is asked once none is left.
        """
        d = self.dispatch
        limits = d.runtime.limits
        if d.failure is not None:  # the run is ending: leave the task for the end
            leaf.status = TaskStatus.PENDING
            return
        if leaf.replan_generation >= limits.max_replans_per_node:
            d.fail(
                leaf,
                f"re-plan budget for this task is spent ({limits.max_replans_per_node}): {reason}",
            )
            return
        if self.replans_started >= limits.max_replans:
            d.fail(leaf, f"re-plan budget of the run is spent ({limits.max_replans}): {reason}")
            return
        self.replans_started += 1
        alternative = self._alternative(leaf)
        if alternative is not None:
            self._graft(leaf, reason, alternative)
            return
        leaf.reason = f"re-planning: {reason}"
        job = ReplanJob(
            runtime=d.runtime,
            run_id=d.run_id,
            tree=self._tree,
            task_id=leaf.id,
            reason=reason,
            roles=list(d.roles.values()),
        )
        d.start(
            "replan",
            leaf,
            f"replan.{leaf.id}",
            plan_jobs.replan,
            job,
            DraftOutcome,
            partial(self._on_replan, leaf, reason),
        )

    def _alternative(self, leaf: TaskNode) -> Alternative | None:
        """The action tree's unused alternative for ``leaf``, if it has one."""
        if self.action_tree is None:
            return None
        used = [r.alternative for r in self.dispatch.replans if r.alternative is not None]
        return next_alternative(self.action_tree, self._tree, leaf, used)

    def _graft(self, failed: TaskNode, reason: str, alternative: Alternative) -> None:
        """Backtrack: put another sample's proposal in place of ``failed`` (no model call)."""
        d = self.dispatch
        nodes = replace_task(self._tree, failed, alternative.draft, reason, _now())
        new_ids = [n.id for n in nodes]
        d.replans.append(
            ReplanRecord(
                task_id=failed.id,
                reason=reason,
                new_task_ids=new_ids,
                at=_now(),
                alternative=alternative.id,
            )
        )
        emit_planned(d.emit, nodes)
        d.emit(
            Replanned,
            task_id=failed.id,
            reason=reason,
            new_task_ids=new_ids,
            alternative=alternative.id,
        )
        self._design_leaves(nodes)

    def _on_replan(self, failed: TaskNode, reason: str, out: DraftOutcome) -> None:
        d = self.dispatch
        d.take_usage_and_notices(failed, out)
        if out.draft is None:
            self._notice("replan_failed", f"no usable re-plan: {out.error}", failed.id)
            d.fail(failed, f"re-planning failed ({out.error}) after: {reason}")
            return
        if tried_before(self._tree, failed, out.draft):
            message = "the re-plan repeats a plan this branch already tried"
            self._notice("replan_failed", message, failed.id)
            d.fail(failed, f"{message} (loop stopped) after: {reason}")
            return
        nodes = replace_task(self._tree, failed, out.draft, reason, _now())
        new_ids = [n.id for n in nodes]
        d.replans.append(
            ReplanRecord(task_id=failed.id, reason=reason, new_task_ids=new_ids, at=_now())
        )
        emit_planned(d.emit, nodes)
        d.emit(Replanned, task_id=failed.id, reason=reason, new_task_ids=new_ids)
        self._design_leaves(nodes)

    # -- escalation ------------------------------------------------------------------

    def escalate(self, node: TaskNode, reason: str) -> bool:
        """Let ``node``'s failure climb to the nearest ancestor that can re-plan for it.

        The ancestor's subtree is planned again (finished subtasks kept) once nothing runs
        in it any more. An ancestor takes one escalation; a failure climbs at most
        ``max_escalations`` levels from the task that first failed, every escalation is a
        re-plan within the run's ``max_replans``, and it climbs no higher than a top-level
        task (the goal is not planned again). False: nobody can take it.
        """
        d = self.dispatch
        limits = d.runtime.limits
        if d.failure is not None or self.replans_started >= limits.max_replans:
            return False
        climbed = self._levels.get(node.id, 0)
        # the goal is not planned again: a top-level task's own re-plans are its last chance
        for ancestor in reversed(self._tree.ancestors(node.id)[1:]):
            level = climbed + node.depth - ancestor.depth
            if level > limits.max_escalations:
                return False
            if ancestor.escalations or ancestor.status.is_final:
                continue
            ancestor.escalations += 1
            self.replans_started += 1
            self._escalating[ancestor.id] = (node.id, reason, level)
            d.emit(
                TaskEscalated, task_id=ancestor.id, from_task_id=node.id, reason=reason, level=level
            )
            self.start_escalations()
            return True
        return False

    def _replan_subtree(self, node: TaskNode, reason: str) -> bool:
        """Plan ``node``'s subtree again after the critic sent its integration back.

        The re-planner sees the finished subtasks and keeps those whose results still
        serve; the new ones run, and the lead integrates again. One subtree re-plan per
        task (escalations included), within the run's ``max_replans``. False: not allowed.
        """
        limits = self.dispatch.runtime.limits
        if (
            self.dispatch.failure is not None
            or node.escalations
            or self.replans_started >= limits.max_replans
        ):
            return False
        node.escalations += 1
        self.replans_started += 1
        self._escalating[node.id] = (node.id, reason, 0)
        self.start_escalations()
        return True

    def holds(self, leaf: TaskNode) -> bool:
        """Whether ``leaf`` must wait: a subtree it is in is being planned again.

        From the escalation until the re-plan's outcome is handled (the re-plan may drop it).
        """
        if not (self._escalating or self._replanning):
            return False
        return any(
            a.id in self._escalating or a.id in self._replanning
            for a in self._tree.ancestors(leaf.id)
        )

    def start_escalations(self) -> None:
        """Re-plan each escalated subtree in which no job runs any more."""
        d = self.dispatch
        for scope_id in list(self._escalating):
            scope = self._tree.get(scope_id)
            inside = {n.id for n in self._tree.subtree(scope_id)} - {scope_id}
            if d.busy(inside):
                continue
            failed_child, reason, level = self._escalating.pop(scope_id)
            self._replanning.add(scope_id)
            job = EscalationJob(
                runtime=d.runtime,
                run_id=d.run_id,
                tree=self._tree,
                task_id=scope_id,
                failed_child=failed_child,
                reason=reason,
                level=level,
                roles=list(d.roles.values()),
            )
            d.start(
                "replan",
                scope,
                f"escalate.{scope_id}.{scope.escalations}",
                plan_jobs.escalation,
                job,
                DraftOutcome,
                partial(self._on_escalation, scope, failed_child, reason, level),
            )

    def resume_escalations(self) -> None:
        """Start again the escalations a stopped run had begun but not applied.

        Under the same job name: a re-plan that had finished comes back from the checkpoint.
        """
        applied = {r.scope for r in self.dispatch.replans if r.escalated_from is not None}
        for node in self._tree.live_nodes():
            if not node.escalations or node.status.is_final or node.id in applied:
                continue
            failed = [
                c
                for c in self._tree.children(node.id, live_only=True)
                if c.status is TaskStatus.FAILED
            ]
            if failed:
                level = failed[0].depth - node.depth
                self._escalating[node.id] = (failed[0].id, failed[0].reason or "failed", level)

    def _on_escalation(
        self, scope: TaskNode, failed_child: str, reason: str, level: int, out: DraftOutcome
    ) -> None:
        d = self.dispatch
        self._replanning.discard(scope.id)
        d.take_usage_and_notices(scope, out)
        self._levels[scope.id] = level
        if out.draft is None:
            message = f"no usable re-plan after {failed_child!r} failed: {out.error}"
            self._notice("replan_failed", message, scope.id)
            d.fail(scope, message)
            return
        draft = out.draft
        _, dropped = live_split(self._tree, scope.id, draft.keep)
        if repeats_dropped(self._tree, draft, dropped):
            message = "the re-plan repeats the plan that failed"
            self._notice("replan_failed", message, scope.id)
            d.fail(scope, f"{message} (loop stopped) after: {reason}")
            return
        now = _now()
        graft = replan_subtree(self._tree, scope, draft, now)
        for gone in graft.stopped:
            skipped = gone.status is TaskStatus.SKIPPED
            d.emit(TaskFailed, task_id=gone.id, reason=gone.reason or "dropped", skipped=skipped)
        new_ids = [n.id for n in graft.nodes]
        d.replans.append(
            ReplanRecord(
                task_id=failed_child,
                reason=reason,
                new_task_ids=new_ids,
                at=now,
                scope=scope.id,
                escalated_from=failed_child if failed_child != scope.id else None,
                kept_task_ids=[k.id for k in graft.kept],
            )
        )
        emit_planned(d.emit, graft.nodes)
        # an integration sent back replaces no failed child: only what was dropped
        replaced = [failed_child] if failed_child != scope.id else [c.id for c in dropped]
        for task_id in replaced:
            d.emit(Replanned, task_id=task_id, reason=reason, new_task_ids=new_ids)
        self._design_leaves(graft.nodes)
