"""Event-driven dispatch of the task tree.

A leaf starts as soon as its own prerequisites are done and a slot is free (at most
``max_parallel`` attempts at once), never at the next LangGraph superstep: jobs are
awaited as they complete, so a task never waits for an unrelated slow sibling. Critic
verdicts lead to a retry, or to a re-plan that replaces only the failed leaf while the
rest of the tree keeps running. Jobs' outcomes are handled on one event loop, between
awaits: the tree is mutated only there (here, in :mod:`orchestra.engine.hierarchy` for
decompositions, integrations, re-plans and escalations, and through
:mod:`orchestra.core.surgery`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from orchestra.agents.executor import PausedAttempt, call_signature
from orchestra.agents.role_designer import adopt_role
from orchestra.core.approval import ApprovalRequest, Decision
from orchestra.core.branches import skip_blocked, usable_results
from orchestra.core.errors import BudgetExceeded
from orchestra.core.events import (
    RoleAssigned,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    UsageRecorded,
)
from orchestra.core.record import DecompositionRecord, ReplanRecord, RunStatus, ToolCallRecord
from orchestra.core.roles import RoleSpec
from orchestra.core.surgery import complete, mark_started
from orchestra.core.tree import ROOT_ID, TaskNode, TaskStatus, TaskTree, Verdict
from orchestra.engine import jobs, plan_jobs
from orchestra.engine.delegation import delegation
from orchestra.engine.emit import Emitter
from orchestra.engine.hierarchy import Hierarchy, emit_planned
from orchestra.engine.jobs import AttemptJob, JobProgress, TaskJob
from orchestra.engine.outcomes import (
    AttemptOutcome,
    BudgetStopped,
    DesignOutcome,
    JobOutcome,
    LeafRole,
    SubRun,
)
from orchestra.engine.plan_jobs import DesignJob
from orchestra.engine.runtime import TeamRuntime
from orchestra.engine.subtree_budgets import SubtreeBudgets

__all__ = ["Scheduler", "emit_planned", "reopen_after_budget"]

STALL_ROUNDS = 2
"""Idle jobs per task that can run at once before the stall guard stops a wide run."""

J = TypeVar("J", bound=TaskJob)
Out = TypeVar("Out", bound=JobOutcome)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Job:
    seq: int
    kind: str  # "attempt" | "replan" | "design" | "decompose" | "integrate"
    task_id: str
    read: Callable[[dict[str, Any]], JobOutcome]
    """Reads the job's outcome from the JSON data its LangGraph task returned."""
    handle: Callable[[Any], None]
    """Takes the outcome ``read`` returns (typed by ``Scheduler.start``)."""
    progress: JobProgress
    """What the job has spent so far (read when it is cancelled)."""


@dataclass(slots=True)
class Scheduler:
    """Runs every leaf of ``tree`` to a final status; see the module docstring."""

    runtime: TeamRuntime
    run_id: str
    tree: TaskTree
    roles: dict[str, RoleSpec]
    replans: list[ReplanRecord]
    emit: Emitter
    failure: str | None = None
    """Why the run stops (set once; nothing new starts after it)."""
    partial: str | None = None
    """Why the run is partial: branches were given up while others finished (set at the
    end, when the team isolates failures)."""
    budget_exceeded: str | None = None
    """Which budget limit stopped the run, when one did."""
    notices: list[dict[str, Any]] = field(default_factory=list)
    """Notices raised by this node's jobs (state data, newest last)."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Tool-call log entries of this node's attempts (state data)."""
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Attempts paused for approval, by task id (state data, see ``RunState.waiting``)."""
    decisions: dict[str, Decision] = field(default_factory=dict)
    """People's decisions on pending requests, by request id."""
    earlier_tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """The run's tool-call log before this node (state data), for the loop guard."""
    _jobs: dict[asyncio.Future[Any], _Job] = field(default_factory=dict)
    _finished: asyncio.Queue[asyncio.Future[Any]] = field(default_factory=asyncio.Queue)
    """Jobs' futures as they finish, put there by their done callbacks."""
    _feedback: dict[str, str] = field(default_factory=dict)
    _seq: int = 0
    _continue: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Paused attempts with a decision, by task id, to go on when a slot is free."""
    _idle_jobs: int = 0
    """Jobs finished since a task last finished (the stall guard)."""
    hierarchy: Hierarchy = field(init=False)
    """Decompositions, integrations, re-plans and escalations (see its module)."""
    budgets: SubtreeBudgets = field(init=False)

    def __post_init__(self) -> None:
        self.hierarchy = Hierarchy(self)
        self.budgets = SubtreeBudgets(
            self.tree, lambda: (*self.earlier_tool_calls, *self.tool_calls)
        )

    @property
    def decompositions(self) -> list[DecompositionRecord]:
        """Decompositions on demand made in this invocation."""
        return self.hierarchy.decompositions

    async def run(self) -> None:
        """Dispatch until no job is left; the outcome is in ``tree`` and ``failure``."""
        self.hierarchy.replans_started = len(self.replans)
        self._pick_up_leaves()
        for node in reversed(list(self.tree.live_nodes())):  # a resumed run's integrations
            if self.hierarchy.ready_to_integrate(node):
                self.hierarchy.integrate(node)
        self.hierarchy.resume_escalations()
        self._launch_ready()
        try:
            while self._jobs:
                # a queue, not asyncio.wait: that adds and removes a callback on every
                # running job at each wake-up, quadratic in a wide fan-out
                done = [await self._finished.get()]
                while not self._finished.empty():
                    done.append(self._finished.get_nowait())
                for fut in sorted(done, key=lambda f: self._jobs[f].seq):
                    job = self._jobs.pop(fut)
                    if fut.cancelled():
                        self._on_cancelled(job)
                        continue
                    out = job.read(fut.result())
                    sub_run = getattr(out, "sub_run", None)
                    if sub_run is not None:
                        self._take_sub_run(self.tree.get(job.task_id), sub_run)
                    if isinstance(out, BudgetStopped):
                        # a stop is no progress: a job the budget keeps stopping is a stall
                        self._idle_jobs += 1
                        self._out_of_budget(job, out)
                        self._stop_if_stalled()
                        continue
                    if not (isinstance(out, AttemptOutcome) and out.waits):
                        self._idle_jobs += 1  # waiting for a person is not a loop
                    job.handle(out)  # a task that finishes sets _idle_jobs back to 0
                    self._stop_if_stalled()
                self.hierarchy.start_escalations()
                self._launch_ready()
        finally:
            for fut in self._jobs:
                fut.cancel()
        self._settle()

    def _pick_up_leaves(self) -> None:
        """Take up the leaves as a resumed run finds them.

        Interrupted attempts start again, paused ones go on with their decisions, and
        leaves without roles (a resumed run, a design the budget stopped) get them in one
        design job for the leaves of each plan, charged to the node the plan hangs from.
        """
        undesigned: dict[str, list[TaskNode]] = {}
        for leaf in self.tree.leaves():
            if leaf.status is TaskStatus.RUNNING:  # interrupted mid-attempt: start it again
                leaf.status = TaskStatus.PENDING
            if leaf.status is TaskStatus.WAITING:
                self._take_decision(leaf)
            if not leaf.status.is_final and leaf.role not in self.roles:
                owner = leaf.replaces or leaf.parent_id or ROOT_ID
                undesigned.setdefault(owner, []).append(leaf)
        for owner, leaves in undesigned.items():
            self.design_leaves(leaves, self.tree.get(owner))

    def _take_decision(self, leaf: TaskNode) -> None:
        """A paused attempt with a decision goes on (when a slot is free); else it waits."""
        entry = self.waiting.get(leaf.id)
        if entry is None:  # nothing to go on from: the task starts over
            leaf.status = TaskStatus.PENDING
            return
        if all(r["id"] in self.decisions for r in _requests(entry)):
            self._continue[leaf.id] = self.waiting.pop(leaf.id)
            leaf.status = TaskStatus.READY

    async def design_all(self, limit: asyncio.Semaphore, *, again: bool = False) -> None:
        """Give every leaf a role: known planner hints directly, others by the role designer.

        The leaves without a known hint are designed in one job (one role-designer call and
        its repairs; ``limit`` counts it), charged to the goal's node like the plan itself,
        and adopted in tree order, so equal specs collapse into one role deterministically.
        When the run's budget runs out, the leaves whose roles were found before (a stop in
        a repair call) keep them, the others stay without roles, and ``failure`` says why
        the run ends. ``again``: the design is taken up after such a stop; the roles found
        then were announced then, and are not announced twice.
        """
        leaves = self.tree.leaves()
        pending = [leaf for leaf in leaves if not self._use_hint(leaf, announce=not again)]
        if not pending:
            return
        root = self.tree.root
        async with limit:
            job = self._design_job(pending, root)
            name = plan_jobs.design_name(job.leaf_ids)
            data = await jobs.start(plan_jobs.design, name, job, self.runtime.finished_jobs)
        out = DesignOutcome.read(data)
        if not isinstance(out, BudgetStopped):
            self._on_design(root, out)
            return
        # The leaves not designed yet stay without roles: at the run's budget (the goal's
        # node has no subtree's) the run ends here (see _settle), and a resumed run designs
        # them again.
        self.take_usage_and_notices(root, out)
        self._take_roles(out.leaves)
        at_run_budget = out.scope is None or not self.budgets.owns(out.scope)
        if at_run_budget and self.budget_exceeded is None:
            self.budget_exceeded = out.reason
            self.failure = str(BudgetExceeded(self.budget_exceeded))
        if self.failure is not None:
            self._settle()

    # -- starting work -------------------------------------------------------------

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
        """Start ``fn(job)`` as a job for ``node``; ``handle`` gets its outcome.

        Unless a budget stops the job: then the task waits (see ``_out_of_budget``).
        """
        self._seq += 1
        meter = self.budgets.meter_for(node.id)
        if meter is not None:  # most runs have no subtree budget: no copy of the job then
            job = replace(job, meter=meter)
        future = asyncio.ensure_future(jobs.start(fn, name, job, self.runtime.finished_jobs))
        self._jobs[future] = _Job(self._seq, kind, node.id, outcome.read, handle, job.progress)
        future.add_done_callback(self._finished.put_nowait)

    def busy(self, task_ids: set[str]) -> bool:
        """Whether a job runs for any of ``task_ids``."""
        return any(j.task_id in task_ids for j in self._jobs.values())

    def _launch_ready(self) -> None:
        if self.failure is not None:
            return
        running = sum(1 for j in self._jobs.values() if j.kind == "attempt")
        if running >= self.runtime.limits.max_parallel:
            return
        busy = {j.task_id for j in self._jobs.values()}
        ready = self.tree.ready_leaves()
        if len(ready) > 1:  # the longest chain of waiting work first (see waiting_chains)
            chains = self.tree.waiting_chains([n.id for n in ready])
            ready.sort(key=lambda n: -chains[n.id])
        for leaf in ready:
            if leaf.status is TaskStatus.PENDING:
                leaf.status = TaskStatus.READY
            if leaf.role not in self.roles or leaf.id in busy:
                continue
            if self.budgets.stopped(leaf.id) or self.hierarchy.holds(leaf):
                continue
            if running >= self.runtime.limits.max_parallel:
                break
            running += 1
            if leaf.decompose and self.runtime.decompose == "on_demand":
                self.hierarchy.decompose(leaf)
            else:
                self._launch_attempt(leaf)

    def _launch_attempt(self, leaf: TaskNode) -> None:
        """Start an attempt at ``leaf`` by its role, or go on with one people decided on.

        A role that is a team runs the attempt as the sub-team's run (a delegation).
        """
        paused = self._continue.pop(leaf.id, None)
        mark_started(self.tree, leaf, _now())
        assert leaf.role is not None
        number = leaf.attempts + 1
        self.emit(TaskStarted, task_id=leaf.id, role=leaf.role, attempt=number)
        name = f"attempt.{leaf.id}.{number}"
        decisions: dict[str, Decision] = {}
        if paused is not None:  # go on from the pause, with people's decisions
            decisions = {r["id"]: self.decisions[r["id"]] for r in _requests(paused)}
            name += f".after-{paused['pauses']}"
        handle = partial(self._on_attempt, leaf)
        stopped = paused.get("paused") if paused else None  # an executor's conversation
        job = AttemptJob(
            runtime=self.runtime,
            run_id=self.run_id,
            tree=self.tree,
            task_id=leaf.id,
            role=self.roles[leaf.role],
            feedback=self._feedback.pop(leaf.id, None),
            attempt=number,
            decisions=decisions,
            paused=PausedAttempt.model_validate(stopped) if stopped else None,
            prior_calls=self._prior_calls(leaf.id, number),
        )
        team = self.runtime.sub_teams.get(leaf.role)
        if team is not None:  # the sub-team runs the attempt (an attempt job is a leaf job)
            leaf.team = team.name
            self.start("attempt", leaf, name, delegation, job, AttemptOutcome, handle)
            return
        self.start("attempt", leaf, name, jobs.attempt, job, AttemptOutcome, handle)

    def _take_sub_run(self, node: TaskNode, sub: SubRun) -> None:
        """Keep the sub-team's run as far as it got: its tree, and its tool calls once."""
        node.team = sub.team
        node.sub_run_id = sub.run_id
        node.subtree = sub.tree
        known = {c["key"] for c in (*self.earlier_tool_calls, *self.tool_calls)}
        self.tool_calls.extend(
            c.model_dump(mode="json") for c in sub.tool_calls if c.key not in known
        )
        if sub.status not in (RunStatus.AWAITING_APPROVAL, RunStatus.BUDGET_EXCEEDED):
            # the run is over: its notices, once
            self.notices.extend(n.model_dump(mode="json") for n in sub.notices)

    def _pause_team(self, leaf: TaskNode, waits: list[ApprovalRequest], job_name: str) -> None:
        """The sub-team's run waits for people: so does the task, the rest goes on."""
        requests = [r.model_dump(mode="json") for r in waits]
        leaf.status = TaskStatus.WAITING
        self.waiting[leaf.id] = {
            "request": requests[0],
            "requests": requests,
            "attempt": leaf.attempts + 1,
            "pauses": job_name.count(".after-") + 1,
        }

    def _prior_calls(self, task_id: str, attempt: int) -> dict[str, int]:
        """The tool calls of the task's attempts before ``attempt``, counted by signature."""
        if attempt == 1:  # a first attempt has none (and a run's tool calls can be many)
            return {}
        counts: Counter[str] = Counter()
        for record in (*self.earlier_tool_calls, *self.tool_calls):
            if record["task_id"] == task_id and record["attempt"] < attempt:
                counts[call_signature(record["tool"], record["args"])] += 1
        return dict(counts)

    def idle_limit(self) -> int:
        """How many jobs in a row may finish, with no task finishing, before the run stalls.

        ``max(max_idle_jobs, STALL_ROUNDS * width)``, where ``width`` is how many tasks can
        run at once: ``max_parallel``, or fewer when fewer leaves are left open. In a
        healthy wide run each running task may send a job or two back (a retry verdict, a
        re-plan) before the first of them passes, so the guard scales with the width
        instead of stopping such a run; a narrow run keeps ``max_idle_jobs``.
        """
        limits = self.runtime.limits
        if self._idle_jobs <= limits.max_idle_jobs:  # the common case: no need to count
            return limits.max_idle_jobs
        open_leaves = sum(1 for n in self.tree.leaves() if not n.status.is_final)
        width = min(limits.max_parallel, open_leaves)
        return max(limits.max_idle_jobs, STALL_ROUNDS * width)

    def _stop_if_stalled(self) -> None:
        """Stop the run when more than :meth:`idle_limit` jobs in a row finish and no task does.

        Budget stops count too: a job started again only to be stopped again is a stall.
        """
        limit = self.idle_limit()
        if self._idle_jobs <= limit or self.failure is not None:
            return
        message = f"stalled: {self._idle_jobs} jobs finished in a row and no task did"
        self.notices.append(self.emit.notice("loop_stopped", message))
        self.failure = f"{message} (limit {limit})"

    def _use_hint(self, leaf: TaskNode, *, announce: bool = True) -> bool:
        """Assign the planner's role hint if it names a known role; else clear it.

        ``announce`` False: the leaf's role was announced before (a design taken up again).
        """
        if leaf.role is not None and leaf.role in self.roles:
            if announce:
                self.emit(RoleAssigned, task_id=leaf.id, role=leaf.role, designed=False)
            return True
        leaf.role = None
        return False

    def design_leaves(self, leaves: Sequence[TaskNode], owner: TaskNode) -> None:
        """Give ``leaves`` roles: known planner hints, the others in one design job.

        ``owner`` is the node the leaves' plan hangs from: the job's usage is counted on
        it, under its subtree's budget (see :class:`~orchestra.engine.plan_jobs.DesignJob`).
        """
        pending = [leaf for leaf in leaves if not self._use_hint(leaf)]
        if not pending:
            return
        job = self._design_job(pending, owner)
        self.start(
            "design",
            owner,
            plan_jobs.design_name(job.leaf_ids),
            plan_jobs.design,
            job,
            DesignOutcome,
            partial(self._on_design, owner),
        )

    def _design_job(self, leaves: Sequence[TaskNode], owner: TaskNode) -> DesignJob:
        return DesignJob(
            runtime=self.runtime,
            run_id=self.run_id,
            tree=self.tree,
            task_id=owner.id,
            leaf_ids=tuple(leaf.id for leaf in leaves),
            roles=dict(self.roles),
        )

    # -- handling results ----------------------------------------------------------

    def take_usage_and_notices(self, node: TaskNode, out: JobOutcome) -> None:
        """Count what a job spent on ``node`` and announce its notices."""
        node.usage += out.usage
        if out.usage.model_calls:
            self.emit(UsageRecorded, task_id=node.id, usage=out.usage)
        for notice in out.notices:
            self.notices.append(self.emit.notice(notice.kind, notice.message, node.id))

    def _on_design(self, owner: TaskNode, out: DesignOutcome) -> None:
        """Assign the batch's roles in its order; the call's usage is ``owner``'s."""
        self.take_usage_and_notices(owner, out)
        self._take_roles(out.leaves)

    def _take_roles(self, leaves: Sequence[LeafRole]) -> None:
        """Assign the roles a design job found, in its batch's order (and its notices)."""
        for found in leaves:
            leaf = self.tree.get(found.task_id)
            if leaf.status.is_final:  # dropped while it was designed (nothing runs it)
                continue
            if found.fallback is not None:
                self.notices.append(self.emit.notice("role_fallback", found.fallback, leaf.id))
            self._assign(leaf, found.spec)

    def _assign(self, leaf: TaskNode, spec: RoleSpec) -> None:
        """Give ``leaf`` the role ``spec`` (adopted into the run's roles)."""
        spec, added = adopt_role(self.roles, spec)
        leaf.role = spec.name
        self.emit(RoleAssigned, task_id=leaf.id, role=spec.name, designed=added)

    def _on_attempt(self, leaf: TaskNode, out: AttemptOutcome) -> None:
        self.take_usage_and_notices(leaf, out)
        self.tool_calls.extend(c.model_dump(mode="json") for c in out.tool_calls)
        if leaf.replaced_by and leaf.status.is_final:
            self._settle_dropped(leaf, out)
            return
        if out.search is not None:
            leaf.searches.append(out.search)
        if out.paused is not None:
            self._pause(leaf, out.paused, out.job)
            return
        if out.team_paused:
            self._pause_team(leaf, out.team_paused, out.job)
            return
        leaf.executions += 1
        leaf.attempts += 1
        if out.role is not None:  # the search chose another role: the task is that role's now
            self._assign(leaf, out.role)
        if out.loop:
            self.notices.append(self.emit.notice("loop_stopped", out.loop, leaf.id))
            if self._keep_earlier(leaf, "the next attempt hit a loop guard"):
                return
            self.fail(leaf, f"loop stopped: {out.loop}")
            return
        if out.verdict is None:
            verdict = Verdict(verdict="retry", reason=f"the executor failed: {out.error}")
        else:
            leaf.result = out.output
            leaf.output = out.data
            verdict = out.verdict
            leaf.verdicts.append(verdict)
            self.emit.verdict(leaf.id, verdict)
        if verdict.verdict == "pass":
            self.complete(leaf, out.finished_at or _now())
        elif verdict.verdict == "retry":
            if leaf.attempts < self.runtime.limits.max_attempts:
                leaf.status = TaskStatus.PENDING
                self._feedback[leaf.id] = verdict.reason
            elif self._keep_earlier(leaf, "after its last attempt"):
                return
            else:
                self.fail(
                    leaf, f"no accepted result after {leaf.attempts} attempt(s): {verdict.reason}"
                )
        elif verdict.verdict == "fail":  # a check gave the task up
            self.fail(leaf, f"{verdict.source}: {verdict.reason}")
        else:
            self.hierarchy.replan(leaf, verdict.reason)

    def _settle_dropped(self, leaf: TaskNode, out: AttemptOutcome) -> None:
        """Count an attempt at a task a re-plan dropped while it ran; the task stays dropped.

        Never ``done``: its replacement does its work.
        """
        if out.paused is None and not out.team_paused:
            leaf.executions += 1
            leaf.attempts += 1

    def _keep_earlier(self, leaf: TaskNode, when: str) -> bool:
        """Keep ``leaf``'s latest judged result unverified (see :meth:`keep_unverified`)."""
        if not leaf.verdicts or not self.keep_unverified(leaf, leaf.verdicts[-1], when):
            return False
        self.complete(leaf, _now())
        return True

    def keep_unverified(self, node: TaskNode, verdict: Verdict, when: str) -> bool:
        """Whether ``node``'s last result, which still fails a check, is kept unverified.

        Only with fallbacks (a team on the embedded model): a small model's last try is
        kept, marked (an ``unverified_result`` notice, ``RunResult.unverified``), rather
        than failing its branch. The critic's rejections and a check's ``fail`` are never
        overridden, and an empty result is never kept.
        """
        if not (
            self.runtime.fallbacks
            and verdict.source.startswith("check:")
            and verdict.verdict == "retry"
            and (node.result or "").strip()
        ):
            return False
        message = (
            f"kept unverified: the latest result ({when}) failed {verdict.source}: {verdict.reason}"
        )
        self.notices.append(self.emit.notice("unverified_result", message, node.id))
        return True

    def _pause(self, leaf: TaskNode, paused: PausedAttempt, job_name: str) -> None:
        """The attempt waits for a person to decide on a tool call; the rest goes on."""
        leaf.status = TaskStatus.WAITING
        args = ", ".join(f"{k}={v!r}" for k, v in paused.args.items())
        summary = f"{leaf.role} wants to call {paused.tool}({args}) for {leaf.title!r}"
        if paused.interrupted:
            summary = (
                f"{paused.tool}({args}) for {leaf.title!r} was in flight when the run stopped"
                " and may or may not have taken effect: approve to run it again, reject to not"
            )
        request = ApprovalRequest(
            id=paused.key,
            kind="tool_call",
            task_id=leaf.id,
            summary=summary,
            tool=paused.tool,
            args=paused.args,
            role=leaf.role,
            interrupted=paused.interrupted,
        )
        self.waiting[leaf.id] = {
            "request": request.model_dump(mode="json"),
            "paused": paused.model_dump(mode="json"),
            "attempt": leaf.attempts + 1,
            # job names must stay unique: each pause of an attempt numbers its sequel
            "pauses": job_name.count(".after-") + 1,
        }

    def complete(self, node: TaskNode, at: datetime) -> None:
        """``node`` is done; its parent is integrated by its lead once all its subtasks are.

        Without leads (``Team(leads=False)``) a parent's result is its subtasks' results
        joined, unjudged. The goal's own result is the synthesizer's, after dispatch.
        """
        self._idle_jobs = 0
        done = complete(self.tree, node, at, leads=self.runtime.leads)
        self.emit(TaskFinished, task_id=node.id, result=node.result or "")
        for parent in done.joined:
            if parent.id != ROOT_ID:
                self.emit(TaskFinished, task_id=parent.id, result=parent.result or "")
        if done.to_integrate is not None:
            self.hierarchy.integrate(done.to_integrate)

    def _out_of_budget(self, job: _Job, out: BudgetStopped) -> None:
        """A job stopped at the budget: its task waits (skipped at the end).

        At the run's budget nothing new starts; at a subtree's, nothing new starts in that
        subtree and the others go on (the run then ends ``budget_exceeded``). A design job's
        leaves designed before the stop keep their roles (see ``BudgetStopped.leaves``).
        """
        node = self.tree.get(job.task_id)
        self.take_usage_and_notices(node, out)
        self._take_roles(out.leaves)
        self._take_spent_calls(node, out.tool_calls, ran=out.ran)
        if not node.status.is_final:
            node.status = TaskStatus.PENDING
        if self.budget_exceeded is None:
            self.budget_exceeded = out.reason
        if out.scope is not None and self.budgets.owns(out.scope):
            self.budgets.spent.add(out.scope)
        if self.budgets.stopped(node.id):
            return
        # A run-level stop, or a subtree's that stops nothing here: the meter of a
        # delegating run's subtree, which a sub-team's run spends as its own budget (its
        # reason names that subtree). Going on would start the same job again, forever.
        if self.failure is None:
            self.failure = str(BudgetExceeded(out.reason))

    def fail(self, node: TaskNode, reason: str) -> None:
        """``node`` failed for good: stop the run, or give up its branch only.

        With ``on_failure="stop"`` every running job is cancelled and the run fails; with
        ``"continue"`` (the default) independent work goes on and the tasks that need this
        one are skipped (see :mod:`orchestra.core.branches`).
        """
        node.status = TaskStatus.FAILED
        node.reason = reason
        node.finished_at = _now()
        self.emit(TaskFailed, task_id=node.id, reason=reason)
        if self.hierarchy.escalate(node, reason):
            return
        if self.runtime.on_failure == "stop":
            if self.failure is None:
                self.failure = f"task {node.id!r} failed: {reason}"
                self._cancel_running()
            return
        self._give_up(node, reason)

    def _give_up(self, node: TaskNode, reason: str) -> None:
        """Isolate ``node``'s failure: skip what depends on it, let the rest run on."""
        skipped = skip_blocked(self.tree)
        for task in skipped:
            self.emit(TaskFailed, task_id=task.id, reason=task.reason or "skipped", skipped=True)
        also = f"; skipped because they need it: {[t.id for t in skipped]}" if skipped else ""
        message = f"task {node.id!r} failed for good ({reason}){also}; independent work goes on"
        self.notices.append(self.emit.notice("branch_given_up", message, node.id))

    def _cancel_running(self) -> None:
        """Cancel every job still running: the run has failed and they cannot change that.

        Cancelling a job cancels its model and tool calls, wherever the executor runs them
        (a sibling left running would spend tokens and tool time for nothing).
        """
        for fut in self._jobs:
            fut.cancel()

    def _take_spent_calls(self, node: TaskNode, calls: list[ToolCallRecord], *, ran: bool) -> None:
        """Keep the tool calls of an attempt that was stopped before it returned.

        The attempt counts as an execution when it made any call; it is not an attempt the
        critic judged, so a resume runs it again under the same number, and side-effecting
        calls that completed are answered from the call log instead of running again.
        """
        self.tool_calls.extend(c.model_dump(mode="json") for c in calls)
        if ran:
            node.executions += 1

    def _on_cancelled(self, job: _Job) -> None:
        node = self.tree.get(job.task_id)
        spent = job.progress.usage
        node.usage += spent
        if spent.model_calls:
            self.emit(UsageRecorded, task_id=node.id, usage=spent)
        if job.kind == "attempt":
            self._take_spent_calls(node, job.progress.tool_calls, ran=job.progress.ran)
        if node.status.is_final:
            return
        node.status = TaskStatus.SKIPPED
        node.reason = f"cancelled: {self.failure}"
        node.finished_at = _now()
        self.emit(TaskFailed, task_id=node.id, reason=node.reason, skipped=True)

    # -- the end -------------------------------------------------------------------

    def _settle(self) -> None:
        """Give every unfinished task its final status once nothing runs any more.

        Not when tasks wait for approval and nothing failed: the run pauses as it is.
        """
        if self.failure is None and self.waiting:
            return
        self.waiting = {}
        if self.failure is None and self.budget_exceeded is not None:  # a subtree's budget
            self.failure = str(BudgetExceeded(self.budget_exceeded))
        if self.failure is None and self.tree.root.status is not TaskStatus.DONE:
            stuck = [n.id for n in self.tree.leaves() if not n.status.is_final]
            # inner tasks fail too (an integration the critic never accepted)
            failures = [n for n in self.tree.live_nodes() if n.status is TaskStatus.FAILED]
            failed = [n.id for n in failures]
            if stuck:
                self.failure = (
                    f"tasks {stuck} could never start (their prerequisites never finished)"
                )
            elif usable_results(self.tree):
                self.partial = f"tasks {failed} failed for good; the rest finished"
            else:  # nothing usable is left: the run failed, for these reasons
                self.failure = "; ".join(f"task {n.id!r} failed: {n.reason}" for n in failures)
        if self.failure is None and self.partial is None:
            return
        why = self.failure or self.partial
        for node in reversed(list(self.tree.nodes.values())):
            if node.status.is_final or node.replaced_by:
                continue
            if self.tree.is_leaf(node.id):
                node.status = TaskStatus.SKIPPED
                node.reason = f"not run: {why}"
                self.emit(TaskFailed, task_id=node.id, reason=node.reason, skipped=True)
            else:
                kids = self.tree.children(node.id, live_only=True)
                failed = [k.id for k in kids if k.status is TaskStatus.FAILED]
                node.status = TaskStatus.FAILED if failed else TaskStatus.SKIPPED
                node.reason = f"subtasks {failed} failed" if failed and self.partial else why
                if node.id != ROOT_ID:
                    skipped = node.status is TaskStatus.SKIPPED
                    self.emit(TaskFailed, task_id=node.id, reason=node.reason, skipped=skipped)
            node.finished_at = node.finished_at or _now()


def reopen_after_budget(tree: TaskTree) -> list[str]:
    """Make the tasks a spent budget left unrun pending again; their ids.

    For resuming a run that ended with ``budget_exceeded``: finished work stays as it is.
    """
    reopened = []
    for node in tree.nodes.values():
        if node.status is TaskStatus.SKIPPED and "budget exceeded:" in (node.reason or ""):
            node.status, node.reason, node.finished_at = TaskStatus.PENDING, None, None
            reopened.append(node.id)
    return reopened


def _requests(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The approval requests a waiting task's entry holds (a sub-team's run: several)."""
    return list(entry.get("requests") or [entry["request"]])
