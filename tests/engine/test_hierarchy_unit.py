"""The hierarchy's rules without an event loop: a fake dispatcher records the jobs started.

:class:`~orchestra.engine.hierarchy.Hierarchy` reaches the scheduler only through the
``Dispatch`` protocol, so when a failure climbs, a subtree waits or an integration is
asked for can be checked on a plain tree, outcomes handed in by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestra.core.events import EventBase
from orchestra.core.plan import PlanDraft, draft_to_nodes
from orchestra.core.record import ReplanRecord
from orchestra.core.roles import RoleSpec
from orchestra.core.tree import ROOT_ID, TaskNode, TaskStatus, TaskTree, Verdict
from orchestra.engine.emit import Emitter, event_sink
from orchestra.engine.hierarchy import Hierarchy
from orchestra.engine.outcomes import DraftOutcome, IntegrationOutcome, JobOutcome
from orchestra.engine.runtime import Limits, TeamRuntime
from orchestra.testing import ScriptedChatModel, plan, subtask

NOW = datetime(2026, 12, 4, tzinfo=UTC)
LEAD = RoleSpec(name="lead", instructions="Integrate.")


@dataclass
class Started:
    kind: str
    task_id: str
    name: str
    handle: Any


@dataclass
class FakeDispatch:
    """Records what the hierarchy asks of the scheduler; runs nothing."""

    runtime: TeamRuntime
    tree: TaskTree
    emit: Emitter
    run_id: str = "run"
    roles: dict[str, RoleSpec] = field(default_factory=lambda: {"lead": LEAD})
    replans: list[ReplanRecord] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    started: list[Started] = field(default_factory=list)
    designed: list[str] = field(default_factory=list)
    design_owners: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)

    def start(self, kind, node, name, fn, job, outcome, handle) -> None:  # type: ignore[no-untyped-def]
        self.started.append(Started(kind, node.id, name, handle))

    def busy(self, task_ids: set[str]) -> bool:
        return bool(self.running & task_ids)

    def design_leaves(self, leaves: Sequence[TaskNode], owner: TaskNode) -> None:
        self.designed.extend(leaf.id for leaf in leaves)
        self.design_owners.append(owner.id)

    def complete(self, node: TaskNode, at: datetime) -> None:
        node.status = TaskStatus.DONE
        self.completed.append(node.id)

    def fail(self, node: TaskNode, reason: str) -> None:
        node.status = TaskStatus.FAILED
        node.reason = reason
        self.failed[node.id] = reason

    def take_usage_and_notices(self, node: TaskNode, out: JobOutcome) -> None:
        node.usage += out.usage

    def keep_unverified(self, node: TaskNode, verdict: Verdict, when: str) -> bool:
        return False


@pytest.fixture
def events() -> Iterator[list[EventBase]]:
    seen: list[EventBase] = []
    with event_sink(seen.append):
        yield seen


def _dispatch(*tasks: dict[str, Any], **limits: int) -> FakeDispatch:
    tree = TaskTree.for_goal("goal", max_depth=4)
    tree.add(draft_to_nodes(PlanDraft.model_validate(plan(*tasks)), tree, parent_id=ROOT_ID))
    runtime = TeamRuntime(
        model=ScriptedChatModel({}), tools={}, roles={}, limits=Limits(max_depth=4, **limits)
    )
    return FakeDispatch(runtime=runtime, tree=tree, emit=Emitter("run"))


DEEP = subtask(
    "top",
    subtasks=[
        subtask("mid", subtasks=[subtask("leaf"), subtask("other")]),
        subtask("side"),
    ],
)


def test_a_failure_climbs_to_its_parent_and_waits_while_the_subtree_is_busy(events):
    d = _dispatch(DEEP)
    hierarchy = Hierarchy(d)
    d.running = {"other"}  # a sibling still runs: the re-plan waits for it
    assert hierarchy.escalate(d.tree.get("leaf"), "wrong facts")
    assert d.started == [] and hierarchy.holds(d.tree.get("other"))
    assert not hierarchy.holds(d.tree.get("side"))
    d.running = set()
    hierarchy.start_escalations()
    assert [(s.kind, s.task_id, s.name) for s in d.started] == [("replan", "mid", "escalate.mid.1")]
    escalated = [e for e in events if e.type == "escalated"]
    assert [(e.task_id, e.from_task_id, e.level) for e in escalated] == [("mid", "leaf", 1)]


def test_an_ancestor_takes_one_escalation_and_a_failure_climbs_no_further_than_allowed(events):
    d = _dispatch(DEEP, max_escalations=1)
    hierarchy = Hierarchy(d)
    assert hierarchy.escalate(d.tree.get("leaf"), "first")
    # mid has had its escalation: the next failure would need two levels, over the limit
    assert not hierarchy.escalate(d.tree.get("other"), "second")
    assert [s.task_id for s in d.started] == ["mid"]


def test_escalations_count_against_the_runs_replans(events):
    d = _dispatch(DEEP, max_replans=0)
    assert not Hierarchy(d).escalate(d.tree.get("leaf"), "no re-plans left")


def test_a_replan_outcome_that_repeats_the_failed_plan_fails_the_scope(events):
    d = _dispatch(DEEP)
    hierarchy = Hierarchy(d)
    hierarchy.escalate(d.tree.get("leaf"), "wrong")
    same = PlanDraft.model_validate(plan(subtask("leaf"), subtask("other")))
    d.started[0].handle(DraftOutcome(draft=same))
    assert "repeats the plan that failed" in d.failed["mid"]
    assert d.replans == []


def test_an_escalation_replan_keeps_what_it_names_and_designs_the_new_leaves(events):
    d = _dispatch(DEEP)
    d.tree.get("other").status = TaskStatus.DONE
    hierarchy = Hierarchy(d)
    hierarchy.escalate(d.tree.get("leaf"), "wrong")
    draft = PlanDraft.model_validate({**plan(subtask("fresh")), "keep": ["other"]})
    d.started[0].handle(DraftOutcome(draft=draft))
    (record,) = d.replans
    assert (record.scope, record.escalated_from, record.kept_task_ids) == ("mid", "leaf", ["other"])
    assert d.designed == ["fresh"]
    assert d.design_owners == ["mid"]  # one design call, charged to the re-planned scope
    assert d.tree.get("other").status is TaskStatus.DONE  # kept, not run again


def test_an_inner_task_is_integrated_once_its_subtasks_are_done_and_judged(events):
    d = _dispatch(subtask("top", role="lead", subtasks=[subtask("a"), subtask("b")]))
    hierarchy = Hierarchy(d)
    top = d.tree.get("top")
    d.tree.get("a").status = TaskStatus.DONE
    assert not hierarchy.ready_to_integrate(top)
    d.tree.get("b").status = TaskStatus.DONE
    assert hierarchy.ready_to_integrate(top)
    hierarchy.integrate(top)
    assert top.lead == "lead" and d.started[0].name == "integrate.top.1"
    retry = Verdict(verdict="retry", reason="contradicts b")
    d.started[0].handle(
        IntegrationOutcome(lead=LEAD, designed=False, output="v1", verdict=retry, finished_at=NOW)
    )
    assert d.started[1].name == "integrate.top.2"  # asked again, with the critic's reason
    ok = Verdict(verdict="pass", reason="fine")
    d.started[1].handle(
        IntegrationOutcome(lead=LEAD, designed=False, output="v2", verdict=ok, finished_at=NOW)
    )
    assert d.completed == ["top"] and top.result == "v2" and top.integrations == 2


def test_a_leaf_replan_past_its_own_limit_fails_the_leaf_without_a_job(events):
    d = _dispatch(subtask("a"), max_replans_per_node=0)
    Hierarchy(d).replan(d.tree.get("a"), "off topic")
    assert d.started == [] and "re-plan budget for this task is spent" in d.failed["a"]
