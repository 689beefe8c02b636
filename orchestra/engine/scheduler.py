"""Event-driven dispatch of the task tree.

A leaf starts as soon as its own prerequisites are done and a slot is free (at most
``max_parallel`` attempts at once), never at the next LangGraph superstep: jobs are
awaited as they complete, so a task never waits for an unrelated slow sibling. Critic
verdicts lead to a retry, or to a re-plan that replaces only the failed leaf while the
rest of the tree keeps running. The tree is mutated here and only here, between awaits.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from orchestra.agents.executor import PausedAttempt, call_signature
from orchestra.agents.role_designer import adopt_role
from orchestra.core.approval import ApprovalRequest, Decision
from orchestra.core.branches import skip_blocked, usable_results
from orchestra.core.budget import BudgetMeter, current_meter
from orchestra.core.errors import BudgetExceeded
from orchestra.core.events import (
    LeadAssigned,
    Replanned,
    RoleAssigned,
    TaskDecomposed,
    TaskEscalated,
    TaskFailed,
    TaskFinished,
    TaskIntegrating,
    TaskPlanned,
    TaskStarted,
    UsageRecorded,
    VerdictGiven,
)
from orchestra.core.plan import draft_to_nodes
from orchestra.core.record import DecompositionRecord, ReplanRecord, RunStatus, ToolCallRecord
from orchestra.core.roles import RoleSpec
from orchestra.core.surgery import (
    joined_result,
    live_split,
    repeats_dropped,
    replace_task,
    replan_subtree,
    tried_before,
)
from orchestra.core.tree import ROOT_ID, TaskNode, TaskStatus, TaskTree, Verdict
from orchestra.core.usage import Usage
from orchestra.engine import jobs, plan_jobs
from orchestra.engine.delegation import DelegateJob, delegation
from orchestra.engine.emit import Emitter
from orchestra.engine.jobs import AttemptJob, JobProgress, TaskJob
from orchestra.engine.outcomes import (
    AttemptOutcome,
    BudgetStopped,
    DesignOutcome,
    DraftOutcome,
    IntegrationOutcome,
    JobOutcome,
    SubRun,
)
from orchestra.engine.plan_jobs import (
    DecomposeJob,
    DesignJob,
    EscalationJob,
    IntegrateJob,
    ReplanJob,
)
from orchestra.engine.runtime import TeamRuntime

__all__ = ["Scheduler", "emit_planned"]

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


@dataclass(slots=True)
class _Job:
    seq: int
    kind: str  # "attempt" | "replan" | "design" | "decompose" | "integrate"
    task_id: str
    read: Callable[[dict[str, Any]], JobOutcome]
    """Reads the job's outcome from the JSON data its LangGraph task returned."""
    handle: Callable[[Any], None]
    """Takes the outcome ``read`` returns (typed by ``Scheduler._start``)."""
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
    _replans_started: int = 0
    _continue: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Paused attempts with a decision, by task id, to go on when a slot is free."""
    _idle_jobs: int = 0
    """Jobs finished since a task last finished (the stall guard)."""
    _subtree_meters: dict[str, BudgetMeter] = field(default_factory=dict)
    """Budget meters of the plan's top-level subtrees, by the subtree's first task."""
    _spent_subtrees: set[str] = field(default_factory=set)
    """Subtrees whose budget is spent: nothing more starts in them."""
    _escalating: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    """Tasks a failure climbed to, waiting for their subtree to be quiet before it is
    planned again: (failed child, reason, level) by task id."""
    decompositions: list[DecompositionRecord] = field(default_factory=list)
    """Decompositions on demand made in this invocation (state data is appended)."""
    _levels: dict[str, int] = field(default_factory=dict)
    """How many levels the failure that re-planned a task had climbed, by task id."""

    async def run(self) -> None:
        """Dispatch until no job is left; the outcome is in ``tree`` and ``failure``."""
        self._replans_started = len(self.replans)
        for leaf in self.tree.leaves():
            if leaf.status is TaskStatus.RUNNING:  # interrupted mid-attempt: start it again
                leaf.status = TaskStatus.PENDING
            if leaf.status is TaskStatus.WAITING:
                self._take_decision(leaf)
            if not leaf.status.is_final and leaf.role not in self.roles:
                self._design(leaf)
        for node in reversed(list(self.tree.live_nodes())):  # a resumed run's integrations
            if self._ready_to_integrate(node):
                self._integrate(node)
        self._resume_escalations()
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
                        self._out_of_budget(job, out)
                        continue
                    if not (isinstance(out, AttemptOutcome) and out.waits):
                        self._idle_jobs += 1  # waiting for a person is not a loop
                    job.handle(out)  # a task that finishes sets _idle_jobs back to 0
                    self._stop_if_stalled()
                self._start_escalations()
                self._launch_ready()
        finally:
            for fut in self._jobs:
                fut.cancel()
        self._settle()

    def _take_decision(self, leaf: TaskNode) -> None:
        """A paused attempt with a decision goes on (when a slot is free); else it waits."""
        entry = self.waiting.get(leaf.id)
        if entry is None:  # nothing to go on from: the task starts over
            leaf.status = TaskStatus.PENDING
            return
        if all(r["id"] in self.decisions for r in _requests(entry)):
            self._continue[leaf.id] = self.waiting.pop(leaf.id)
            leaf.status = TaskStatus.READY

    async def design_all(self, limit: asyncio.Semaphore) -> None:
        """Give every leaf a role: known planner hints directly, others by the role designer.

        Designs run concurrently (``limit`` bounds them) and are adopted in tree order, so
        equal specs collapse into one role deterministically. When the run's budget runs
        out, the designs that finished are kept and ``failure`` says why the run ends.
        """
        pending = [leaf for leaf in self.tree.leaves() if not self._use_hint(leaf)]

        async def design(leaf: TaskNode) -> DesignOutcome | BudgetStopped:
            async with limit:
                job = DesignJob(
                    runtime=self.runtime,
                    run_id=self.run_id,
                    tree=self.tree,
                    task_id=leaf.id,
                    roles=dict(self.roles),
                    meter=self._meter_for(leaf.id),
                )
                data = await jobs.start(
                    plan_jobs.design, f"design.{leaf.id}", job, self.runtime.finished_jobs
                )
                return DesignOutcome.read(data)

        outputs = await asyncio.gather(*(design(leaf) for leaf in pending))
        for leaf, out in zip(pending, outputs, strict=True):
            if not isinstance(out, BudgetStopped):
                self._on_design(leaf, out)
                continue
            # The leaf stays without a role: at a subtree's budget, dispatch designs it
            # again and stops its subtree; at the run's, the run ends here (see _settle).
            self._take_usage_and_notices(leaf, out)
            if out.scope is None and self.budget_exceeded is None:
                self.budget_exceeded = out.reason
                self.failure = str(BudgetExceeded(self.budget_exceeded))
        if self.failure is not None:
            self._settle()

    # -- starting work -------------------------------------------------------------

    def _start(
        self,
        kind: str,
        leaf: TaskNode,
        name: str,
        fn: Callable[[J], Awaitable[Out | BudgetStopped]],
        job: J,
        outcome: type[Out],
        handle: Callable[[Out], None],
    ) -> None:
        """Start ``fn(job)`` for ``leaf``; ``handle`` gets its outcome."""
        self._seq += 1
        meter = self._meter_for(leaf.id)
        if meter is not None:  # most runs have no subtree budget: no copy of the job then
            job = replace(job, meter=meter)
        future = asyncio.ensure_future(jobs.start(fn, name, job, self.runtime.finished_jobs))
        self._jobs[future] = _Job(self._seq, kind, leaf.id, outcome.read, handle, job.progress)
        future.add_done_callback(self._finished.put_nowait)

    def _launch_ready(self) -> None:
        if self.failure is not None:
            return
        running = sum(1 for j in self._jobs.values() if j.kind == "attempt")
        if running >= self.runtime.limits.max_parallel:
            return
        busy = {j.task_id for j in self._jobs.values()}
        for leaf in self.tree.ready_leaves():
            if leaf.status is TaskStatus.PENDING:
                leaf.status = TaskStatus.READY
            if leaf.role not in self.roles or leaf.id in busy:
                continue
            if self._spent_subtrees and self._subtree_of(leaf.id) in self._spent_subtrees:
                continue
            if self._escalating and self._under_escalation(leaf):
                continue
            if running >= self.runtime.limits.max_parallel:
                break
            running += 1
            if leaf.decompose and self.runtime.decompose == "on_demand":
                self._launch_decomposition(leaf)
            else:
                self._launch_attempt(leaf)

    def _launch_attempt(self, leaf: TaskNode) -> None:
        paused = self._continue.pop(leaf.id, None)
        now = _now()
        leaf.status = TaskStatus.RUNNING
        leaf.started_at = leaf.started_at or now
        for ancestor in self.tree.ancestors(leaf.id):
            if ancestor.status in (TaskStatus.PENDING, TaskStatus.READY):
                ancestor.status = TaskStatus.RUNNING
                ancestor.started_at = ancestor.started_at or now
        assert leaf.role is not None
        self.emit(TaskStarted, task_id=leaf.id, role=leaf.role, attempt=leaf.attempts + 1)
        if leaf.role in self.runtime.sub_teams:
            self._delegate(leaf, paused)
            return
        job = AttemptJob(
            runtime=self.runtime,
            run_id=self.run_id,
            tree=self.tree,
            task_id=leaf.id,
            role=self.roles[leaf.role],
            feedback=self._feedback.pop(leaf.id, None),
            attempt=leaf.attempts + 1,
            prior_calls=self._prior_calls(leaf.id, leaf.attempts + 1),
        )
        name = f"attempt.{leaf.id}.{leaf.attempts + 1}"
        if paused is not None:  # go on from the pause, with the person's decision
            request_id = paused["request"]["id"]
            job = replace(
                job,
                paused=PausedAttempt.model_validate(paused["paused"]),
                decisions={request_id: self.decisions[request_id]},
            )
            name += f".after-{paused['pauses']}"
        self._start(
            "attempt",
            leaf,
            name,
            jobs.attempt,
            job,
            AttemptOutcome,
            partial(self._on_attempt, leaf),
        )

    def _delegate(self, leaf: TaskNode, paused: dict[str, Any] | None) -> None:
        """Start (or go on with) an attempt at ``leaf`` by the sub-team its role stands for."""
        assert leaf.role is not None
        leaf.team = self.runtime.sub_teams[leaf.role].name
        job = DelegateJob(
            runtime=self.runtime,
            run_id=self.run_id,
            tree=self.tree,
            task_id=leaf.id,
            role=self.roles[leaf.role],
            feedback=self._feedback.pop(leaf.id, None),
            attempt=leaf.attempts + 1,
        )
        name = f"attempt.{leaf.id}.{leaf.attempts + 1}"
        if paused is not None:  # go on, with people's decisions on what it waits for
            job = replace(
                job, decisions={r["id"]: self.decisions[r["id"]] for r in _requests(paused)}
            )
            name += f".after-{paused['pauses']}"
        self._start(
            "attempt", leaf, name, delegation, job, AttemptOutcome, partial(self._on_attempt, leaf)
        )

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

    def _stop_if_stalled(self) -> None:
        """Stop the run when many jobs in a row finish and no task does."""
        limit = self.runtime.limits.max_idle_jobs
        if self._idle_jobs <= limit or self.failure is not None:
            return
        message = f"stalled: {self._idle_jobs} jobs finished in a row and no task did"
        self.notices.append(self.emit.notice("loop_stopped", message))
        self.failure = f"{message} (limit {limit})"

    def _use_hint(self, leaf: TaskNode) -> bool:
        """Assign the planner's role hint if it names a known role; else clear it."""
        if leaf.role is not None and leaf.role in self.roles:
            self.emit(RoleAssigned, task_id=leaf.id, role=leaf.role, designed=False)
            return True
        leaf.role = None
        return False

    def _design(self, leaf: TaskNode) -> None:
        if self._use_hint(leaf):
            return
        job = DesignJob(
            runtime=self.runtime,
            run_id=self.run_id,
            tree=self.tree,
            task_id=leaf.id,
            roles=dict(self.roles),
        )
        self._start(
            "design",
            leaf,
            f"design.{leaf.id}",
            plan_jobs.design,
            job,
            DesignOutcome,
            partial(self._on_design, leaf),
        )

    # -- handling results ----------------------------------------------------------

    def _take_usage_and_notices(self, node: TaskNode, out: JobOutcome) -> None:
        node.usage += out.usage
        if out.usage.model_calls:
            self.emit(UsageRecorded, task_id=node.id, usage=out.usage)
        for notice in out.notices:
            self.notices.append(self.emit.notice(notice.kind, notice.message, node.id))

    def _on_design(self, leaf: TaskNode, out: DesignOutcome) -> None:
        self._take_usage_and_notices(leaf, out)
        self._assign(leaf, out.spec)

    def _assign(self, leaf: TaskNode, spec: RoleSpec) -> None:
        """Give ``leaf`` the role ``spec`` (adopted into the run's roles)."""
        spec, added = adopt_role(self.roles, spec)
        leaf.role = spec.name
        self.emit(RoleAssigned, task_id=leaf.id, role=spec.name, designed=added)

    def _on_attempt(self, leaf: TaskNode, out: AttemptOutcome) -> None:
        self._take_usage_and_notices(leaf, out)
        self.tool_calls.extend(c.model_dump(mode="json") for c in out.tool_calls)
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
            self._fail(leaf, f"loop stopped: {out.loop}")
            return
        if out.verdict is None:
            verdict = Verdict(verdict="retry", reason=f"the executor failed: {out.error}")
        else:
            leaf.result = out.output
            verdict = out.verdict
            leaf.verdicts.append(verdict)
            self.emit(VerdictGiven, task_id=leaf.id, verdict=verdict.verdict, reason=verdict.reason)
        if verdict.verdict == "pass":
            self._complete(leaf, out.finished_at or _now())
        elif verdict.verdict == "retry":
            if leaf.attempts < self.runtime.limits.max_attempts:
                leaf.status = TaskStatus.PENDING
                self._feedback[leaf.id] = verdict.reason
            else:
                self._fail(
                    leaf, f"no accepted result after {leaf.attempts} attempt(s): {verdict.reason}"
                )
        else:
            self._replan(leaf, verdict.reason)

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

    def _complete(self, node: TaskNode, at: datetime) -> None:
        """``node`` is done; its parent is integrated by its lead once all its subtasks are.

        Without leads (``Team(leads=False)``) a parent's result is its subtasks' results
        joined, unjudged. The goal's own result is the synthesizer's, after dispatch.
        """
        self._idle_jobs = 0
        node.status = TaskStatus.DONE
        node.finished_at = at
        node.reason = None
        self.emit(TaskFinished, task_id=node.id, result=node.result or "")
        parent_id = node.parent_id
        while parent_id is not None:
            parent = self.tree.get(parent_id)
            kids = self.tree.children(parent_id, live_only=True)
            if not all(k.status is TaskStatus.DONE for k in kids):
                return
            if self.runtime.leads and parent.id != ROOT_ID:
                self._integrate(parent)
                return
            parent.status = TaskStatus.DONE
            parent.finished_at = at
            parent.result = joined_result(kids)
            if parent.id != ROOT_ID:
                self.emit(TaskFinished, task_id=parent.id, result=parent.result)
            parent_id = parent.parent_id

    # -- decomposition on demand ---------------------------------------------------

    def _launch_decomposition(self, node: TaskNode) -> None:
        """``node`` is ready: its lead (the role it was given) breaks it into subtasks."""
        assert node.role is not None
        now = _now()
        node.status = TaskStatus.RUNNING
        node.started_at = node.started_at or now
        for ancestor in self.tree.ancestors(node.id):
            if ancestor.status in (TaskStatus.PENDING, TaskStatus.READY):
                ancestor.status = TaskStatus.RUNNING
                ancestor.started_at = ancestor.started_at or now
        job = DecomposeJob(
            runtime=self.runtime,
            run_id=self.run_id,
            tree=self.tree,
            task_id=node.id,
            lead=self.roles[node.role],
            roles=list(self.roles.values()),
        )
        self._start(
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
        self._take_usage_and_notices(node, out)
        node.decompose = False
        if out.draft is None:
            message = f"no usable decomposition ({out.error}); the task runs as one"
            self.notices.append(self.emit.notice("decomposition_failed", message, node.id))
            node.status = TaskStatus.PENDING
            return
        draft = out.draft
        nodes = draft_to_nodes(
            draft, self.tree, parent_id=node.id, replan_generation=node.replan_generation
        )
        self.tree.add(nodes)
        node.lead = node.role
        assert node.lead is not None
        self.emit(LeadAssigned, task_id=node.id, role=node.lead, designed=False)
        new_ids = [n.id for n in nodes]
        self.decompositions.append(
            DecompositionRecord(task_id=node.id, new_task_ids=new_ids, at=_now())
        )
        emit_planned(self.emit, nodes)
        self.emit(TaskDecomposed, task_id=node.id, new_task_ids=new_ids)
        for new in nodes:
            if self.tree.is_leaf(new.id):
                self._design(new)

    # -- leads -----------------------------------------------------------------------

    def _ready_to_integrate(self, node: TaskNode) -> bool:
        """An inner task (not the goal) whose subtasks are all done and nobody integrates."""
        if node.id == ROOT_ID or node.status.is_final or self.tree.is_leaf(node.id):
            return False
        if not self.runtime.leads or any(j.task_id == node.id for j in self._jobs.values()):
            return False
        kids = self.tree.children(node.id, live_only=True)
        return all(k.status is TaskStatus.DONE for k in kids)

    def _lead_of(self, node: TaskNode) -> RoleSpec | None:
        """The inner task's lead: its own, or the planner's role hint when it names a role."""
        for name in (node.lead, node.role):
            if name is not None and name in self.roles:
                return self.roles[name]
        return None

    def _integrate(self, node: TaskNode, feedback: str | None = None) -> None:
        """Ask ``node``'s lead to integrate its subtasks' results (judged by the critic)."""
        if self.failure is not None:
            return
        lead = self._lead_of(node)
        if lead is not None and node.lead is None:
            node.lead = lead.name
            self.emit(LeadAssigned, task_id=node.id, role=lead.name, designed=False)
        number = node.integrations + 1
        self.emit(
            TaskIntegrating,
            task_id=node.id,
            role=lead.name if lead is not None else "(to be designed)",
            integration=number,
        )
        job = IntegrateJob(
            runtime=self.runtime,
            run_id=self.run_id,
            tree=self.tree,
            task_id=node.id,
            lead=lead,
            roles=dict(self.roles),
            feedback=feedback,
            integration=number,
        )
        self._start(
            "integrate",
            node,
            f"integrate.{node.id}.{number}",
            plan_jobs.integration,
            job,
            IntegrationOutcome,
            partial(self._on_integrated, node),
        )

    def _on_integrated(self, node: TaskNode, out: IntegrationOutcome) -> None:
        self._take_usage_and_notices(node, out)
        if node.lead is None:
            spec, added = adopt_role(self.roles, out.lead)
            node.lead = spec.name
            self.emit(LeadAssigned, task_id=node.id, role=spec.name, designed=added)
        node.integrations += 1
        if out.output is None or out.verdict is None:
            self._fail(node, str(out.error))
            return
        node.result = out.output
        verdict = out.verdict
        node.verdicts.append(verdict)
        self.emit(VerdictGiven, task_id=node.id, verdict=verdict.verdict, reason=verdict.reason)
        if verdict.verdict == "pass":
            self._complete(node, out.finished_at)
        elif verdict.verdict == "replan" and self._replan_subtree(node, verdict.reason):
            return
        elif node.integrations < self.runtime.limits.max_attempts:
            # the subtasks' results stand; the lead is asked again with the critic's reason
            self._integrate(node, feedback=verdict.reason)
        else:
            self._fail(
                node,
                f"no accepted integration after {node.integrations} attempt(s): {verdict.reason}",
            )

    def _out_of_budget(self, job: _Job, out: BudgetStopped) -> None:
        """A job stopped at the budget: its task waits (skipped at the end).

        At the run's budget nothing new starts; at a subtree's, nothing new starts in that
        subtree and the others go on (the run then ends ``budget_exceeded``).
        """
        node = self.tree.get(job.task_id)
        self._take_usage_and_notices(node, out)
        self._take_spent_calls(node, out.tool_calls, ran=out.ran)
        if not node.status.is_final:
            node.status = TaskStatus.PENDING
        if self.budget_exceeded is None:
            self.budget_exceeded = out.reason
        if out.scope is not None:
            self._spent_subtrees.add(out.scope)
        elif self.failure is None:
            self.failure = str(BudgetExceeded(out.reason))

    # -- subtree budgets -------------------------------------------------------------

    def _subtree_of(self, task_id: str) -> str:
        """The top-level task whose subtree ``task_id`` is in (re-plans followed back)."""
        node = self.tree.get(task_id)
        while node.parent_id not in (None, ROOT_ID):
            node = self.tree.get(node.parent_id)
        while node.replaces is not None and node.replaces in self.tree.nodes:
            node = self.tree.get(node.replaces)
        return node.id

    def _meter_for(self, task_id: str) -> BudgetMeter | None:
        """The meter of ``task_id``'s subtree when the run's budget limits subtrees.

        Made on first use with what the subtree has spent so far (earlier invocations
        included), inside the run's meter.
        """
        run = current_meter()
        if run is None or run.budget.subtree is None or task_id == ROOT_ID:
            return None
        top = self._subtree_of(task_id)
        if top not in self._subtree_meters:
            members = {
                n.id
                for n in self.tree.nodes.values()
                if n.id != ROOT_ID and self._subtree_of(n.id) == top
            }
            spent = Usage()
            for member in members:
                node = self.tree.get(member)
                spent += node.usage
                if node.subtree is not None:
                    spent += node.subtree.usage()
            calls = sum(
                1
                for record in (*self.earlier_tool_calls, *self.tool_calls)
                if record["task_id"] in members and not record.get("replayed")
            )
            self._subtree_meters[top] = BudgetMeter(
                run.budget.subtree, spent=spent, tool_calls=calls, parent=run, scope=top
            )
        return self._subtree_meters[top]

    def _fail(self, node: TaskNode, reason: str) -> None:
        """``node`` failed for good: stop the run, or give up its branch only.

        With ``on_failure="stop"`` every running job is cancelled and the run fails; with
        ``"continue"`` (the default) independent work goes on and the tasks that need this
        one are skipped (see :mod:`orchestra.core.branches`).
        """
        node.status = TaskStatus.FAILED
        node.reason = reason
        node.finished_at = _now()
        self.emit(TaskFailed, task_id=node.id, reason=reason)
        if self._escalate(node, reason):
            return
        if self.runtime.on_failure == "stop":
            if self.failure is None:
                self.failure = f"task {node.id!r} failed: {reason}"
                self._cancel_running()
            return
        self._give_up(node, reason)

    # -- escalation ------------------------------------------------------------------

    def _escalate(self, node: TaskNode, reason: str) -> bool:
        """Let ``node``'s failure climb to the nearest ancestor that can re-plan for it.

        The ancestor's subtree is planned again (finished subtasks kept) once nothing runs
        in it any more. An ancestor takes one escalation; a failure climbs at most
        ``max_escalations`` levels from the task that first failed, every escalation is a
        re-plan within the run's ``max_replans``, and it climbs no higher than a top-level
        task (the goal is not planned again). False: nobody can take it.
        """
        limits = self.runtime.limits
        if self.failure is not None or self._replans_started >= limits.max_replans:
            return False
        climbed = self._levels.get(node.id, 0)
        # the goal is not planned again: a top-level task's own re-plans are its last chance
        for ancestor in reversed(self.tree.ancestors(node.id)[1:]):
            level = climbed + node.depth - ancestor.depth
            if level > limits.max_escalations:
                return False
            if ancestor.escalations or ancestor.status.is_final:
                continue
            ancestor.escalations += 1
            self._replans_started += 1
            self._escalating[ancestor.id] = (node.id, reason, level)
            self.emit(
                TaskEscalated, task_id=ancestor.id, from_task_id=node.id, reason=reason, level=level
            )
            self._start_escalations()
            return True
        return False

    def _replan_subtree(self, node: TaskNode, reason: str) -> bool:
        """Plan ``node``'s subtree again after the critic sent its integration back.

        The re-planner sees the finished subtasks and keeps those whose results still
        serve; the new ones run, and the lead integrates again. One subtree re-plan per
        task (escalations included), within the run's ``max_replans``. False: not allowed.
        """
        limits = self.runtime.limits
        if (
            self.failure is not None
            or node.escalations
            or self._replans_started >= limits.max_replans
        ):
            return False
        node.escalations += 1
        self._replans_started += 1
        self._escalating[node.id] = (node.id, reason, 0)
        self._start_escalations()
        return True

    def _under_escalation(self, leaf: TaskNode) -> bool:
        return any(a.id in self._escalating for a in self.tree.ancestors(leaf.id))

    def _start_escalations(self) -> None:
        """Re-plan each escalated subtree in which no job runs any more."""
        for scope_id in list(self._escalating):
            scope = self.tree.get(scope_id)
            inside = {n.id for n in self.tree.subtree(scope_id)} - {scope_id}
            if any(j.task_id in inside for j in self._jobs.values()):
                continue
            failed_child, reason, level = self._escalating.pop(scope_id)
            job = EscalationJob(
                runtime=self.runtime,
                run_id=self.run_id,
                tree=self.tree,
                task_id=scope_id,
                failed_child=failed_child,
                reason=reason,
                level=level,
                roles=list(self.roles.values()),
            )
            self._start(
                "replan",
                scope,
                f"escalate.{scope_id}.{scope.escalations}",
                plan_jobs.escalation,
                job,
                DraftOutcome,
                partial(self._on_escalation, scope, failed_child, reason, level),
            )

    def _resume_escalations(self) -> None:
        """Start again the escalations a stopped run had begun but not applied.

        Under the same job name: a re-plan that had finished comes back from the checkpoint.
        """
        applied = {r.scope for r in self.replans if r.escalated_from is not None}
        for node in self.tree.live_nodes():
            if not node.escalations or node.status.is_final or node.id in applied:
                continue
            failed = [
                c
                for c in self.tree.children(node.id, live_only=True)
                if c.status is TaskStatus.FAILED
            ]
            if failed:
                level = failed[0].depth - node.depth
                self._escalating[node.id] = (failed[0].id, failed[0].reason or "failed", level)

    def _on_escalation(
        self, scope: TaskNode, failed_child: str, reason: str, level: int, out: DraftOutcome
    ) -> None:
        self._take_usage_and_notices(scope, out)
        self._levels[scope.id] = level
        if out.draft is None:
            message = f"no usable re-plan after {failed_child!r} failed: {out.error}"
            self.notices.append(self.emit.notice("replan_failed", message, scope.id))
            self._fail(scope, message)
            return
        draft = out.draft
        _, dropped = live_split(self.tree, scope.id, draft.keep)
        if repeats_dropped(self.tree, draft, dropped):
            message = "the re-plan repeats the plan that failed"
            self.notices.append(self.emit.notice("replan_failed", message, scope.id))
            self._fail(scope, f"{message} (loop stopped) after: {reason}")
            return
        now = _now()
        graft = replan_subtree(self.tree, scope, draft, now)
        nodes, kept = graft.nodes, graft.kept
        for gone in graft.stopped:
            self.emit(TaskFailed, task_id=gone.id, reason=gone.reason or "dropped")
        new_ids = [n.id for n in nodes]
        self.replans.append(
            ReplanRecord(
                task_id=failed_child,
                reason=reason,
                new_task_ids=new_ids,
                at=now,
                scope=scope.id,
                escalated_from=failed_child if failed_child != scope.id else None,
                kept_task_ids=[k.id for k in kept],
            )
        )
        emit_planned(self.emit, nodes)
        # an integration sent back replaces no failed child: only what was dropped
        replaced = [failed_child] if failed_child != scope.id else [c.id for c in dropped]
        for task_id in replaced:
            self.emit(Replanned, task_id=task_id, reason=reason, new_task_ids=new_ids)
        for node in nodes:
            if self.tree.is_leaf(node.id):
                self._design(node)

    def _give_up(self, node: TaskNode, reason: str) -> None:
        """Isolate ``node``'s failure: skip what depends on it, let the rest run on."""
        skipped = skip_blocked(self.tree)
        for task in skipped:
            self.emit(TaskFailed, task_id=task.id, reason=task.reason or "skipped")
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
        self.emit(TaskFailed, task_id=node.id, reason=node.reason)

    def _replan(self, leaf: TaskNode, reason: str) -> None:
        limits = self.runtime.limits
        if self.failure is not None:  # the run is ending: leave the task for _settle
            leaf.status = TaskStatus.PENDING
            return
        if leaf.replan_generation >= limits.max_replans_per_node:
            self._fail(
                leaf,
                f"re-plan budget for this task is spent ({limits.max_replans_per_node}): {reason}",
            )
            return
        if self._replans_started >= limits.max_replans:
            self._fail(leaf, f"re-plan budget of the run is spent ({limits.max_replans}): {reason}")
            return
        self._replans_started += 1
        leaf.reason = f"re-planning: {reason}"
        job = ReplanJob(
            runtime=self.runtime,
            run_id=self.run_id,
            tree=self.tree,
            task_id=leaf.id,
            reason=reason,
            roles=list(self.roles.values()),
        )
        self._start(
            "replan",
            leaf,
            f"replan.{leaf.id}",
            plan_jobs.replan,
            job,
            DraftOutcome,
            partial(self._on_replan, leaf, reason),
        )

    def _on_replan(self, failed: TaskNode, reason: str, out: DraftOutcome) -> None:
        self._take_usage_and_notices(failed, out)
        if out.draft is None:
            self.notices.append(
                self.emit.notice("replan_failed", f"no usable re-plan: {out.error}", failed.id)
            )
            self._fail(failed, f"re-planning failed ({out.error}) after: {reason}")
            return
        draft = out.draft
        if tried_before(self.tree, failed, draft):
            message = "the re-plan repeats a plan this branch already tried"
            self.notices.append(self.emit.notice("replan_failed", message, failed.id))
            self._fail(failed, f"{message} (loop stopped) after: {reason}")
            return
        nodes = replace_task(self.tree, failed, draft, reason, _now())
        new_ids = [n.id for n in nodes]
        self.replans.append(
            ReplanRecord(task_id=failed.id, reason=reason, new_task_ids=new_ids, at=_now())
        )
        emit_planned(self.emit, nodes)
        self.emit(Replanned, task_id=failed.id, reason=reason, new_task_ids=new_ids)
        for node in nodes:
            if self.tree.is_leaf(node.id):
                self._design(node)

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
            failures = [n for n in self.tree.leaves() if n.status is TaskStatus.FAILED]
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
                self.emit(TaskFailed, task_id=node.id, reason=node.reason)
            else:
                kids = self.tree.children(node.id, live_only=True)
                failed = [k.id for k in kids if k.status is TaskStatus.FAILED]
                node.status = TaskStatus.FAILED if failed else TaskStatus.SKIPPED
                node.reason = f"subtasks {failed} failed" if failed and self.partial else why
                if node.id != ROOT_ID:
                    self.emit(TaskFailed, task_id=node.id, reason=node.reason)
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
