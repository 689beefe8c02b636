"""Plan sampling (``Team(plan_samples=K)``): candidates, how they agree, which was chosen.

K plans are sampled for the goal; each is validated (and repaired) like any plan, and the
ones that stay invalid are kept as rejected samples, never scored. Valid samples that are
the same plan (:func:`orchestra.core.plan.plan_signature`: ids ignored, text normalized)
merge into one candidate with their votes. Each candidate's *agreement* is the share of
its tasks that the other valid samples also contain (same normalized title): what the
samples share is more likely what the goal needs. A plan critic then scores the
candidates against the goal (and its task statement) and picks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestra.core.action_tree import ActionTree, task_key
from orchestra.core.plan import DraftTask, PlanDraft, plan_signature
from orchestra.core.usage import Usage

__all__ = [
    "ChosenBy",
    "PlanSamplingMode",
    "PlanCandidate",
    "PlanSelection",
    "RejectedSample",
    "merge_samples",
    "pick_by_agreement",
]


ChosenBy = Literal["critic", "only_candidate", "agreement", "checks", "votes", "planner"]
"""Who chose: the plan critic; nobody (one valid plan); votes and agreement (the
fallback when the critic's answer stayed invalid); the checks (every other plan failed
one); votes and agreement, as the team asked (``plan_choice="votes"``, no critic call);
the planner itself (``plan_sampling="alternatives"``: its plan, the others only as
alternatives to its tasks)."""

PlanSamplingMode = Literal["parallel", "one_call", "alternatives"]
"""How K plans are drawn: K independent planner calls; one call that writes K plans; or
one call that writes one plan and, for the tasks that could go another way, up to K - 1
alternatives each (the action tree as the planner writes it, the cheapest)."""


class PlanCandidate(BaseModel):
    """One distinct plan among the samples."""

    model_config = ConfigDict(frozen=True)

    label: str
    """``A``, ``B``, ...: how the plan critic refers to it."""
    samples: list[int]
    """The samples (0-based) that produced this plan: its votes."""
    tasks: int
    """Tasks in the plan, all levels."""
    agreement: float = Field(ge=0, le=1)
    """Share of its tasks that other valid samples contain too (0 with a single sample)."""
    score: float | None = None
    """The plan critic's score (0-1); None when no critic judged."""
    reason: str | None = None
    """The plan critic's reason for the score."""
    draft: PlanDraft


class RejectedSample(BaseModel):
    """A sample that stayed invalid after the repair rounds (not scored)."""

    model_config = ConfigDict(frozen=True)

    sample: int
    error: str


class PlanSelection(BaseModel):
    """How the first plan was chosen among K samples (kept in the tree and the record)."""

    model_config = ConfigDict(frozen=True)

    k: int
    candidates: list[PlanCandidate]
    rejected: list[RejectedSample] = Field(default_factory=list)
    chosen: str
    """The label of the plan the run went on with."""
    chosen_by: ChosenBy
    """Who chose (see :data:`ChosenBy`): the plan critic; nobody (the only valid plan);
    the checks; votes and agreement as the team asked (``votes``) or because the
    critic's answer stayed invalid with fallbacks on (``agreement``)."""
    reason: str
    usage: Usage
    """Tokens and cost of the whole stage: every sample, its repairs, the plan critic."""
    single_shot_usage: Usage
    """What one sample cost on average: the price of planning without sampling."""
    sample_calls: list[int] = Field(default_factory=list)
    """Model calls each sample took, repairs included (1: valid on the first try); with
    ``sampling="one_call"`` one entry: the calls of the one request."""
    sampling: PlanSamplingMode = "parallel"
    """How the K plans were drawn: K planner calls, or one call that wrote them all (its
    ``single_shot_usage`` is then an estimate: the prompt and a K-th of the reply), or one
    call that wrote a plan and alternatives to its tasks (``single_shot_usage``: the
    prompt and the plan's share of the reply, by characters; ``rejected``: the
    alternatives left out, ``sample`` being their place in the reply from 1, 0 for the
    list as a whole)."""
    action_tree: ActionTree | None = None
    """The valid samples merged around the plan the run started with: its tasks' votes
    and the alternatives kept for backtracking (None: kept by no run before it existed)."""
    start: PlanDraft | None = None
    """The plan the run started with when it is not the chosen candidate's as written:
    with ``chosen_by`` ``votes``, the chosen plan with each task that more samples wrote
    otherwise swapped for the way most went (None: the chosen candidate's plan)."""

    def candidate(self, label: str) -> PlanCandidate:
        """The candidate called ``label``."""
        for candidate in self.candidates:
            if candidate.label == label:
                return candidate
        raise KeyError(f"no candidate {label!r}")


def _label(n: int) -> str:
    return chr(ord("A") + n) if n < 26 else f"P{n}"


def _task_keys(tasks: Sequence[DraftTask]) -> list[str]:
    keys: list[str] = []
    for task in tasks:
        keys.append(task_key(task))
        keys.extend(_task_keys(task.subtasks))
    return keys


def merge_samples(valid: Sequence[tuple[int, PlanDraft]]) -> list[PlanCandidate]:
    """Distinct plans among the valid ``(sample, draft)`` pairs, with votes and agreement.

    Candidates come in the order their first sample was drawn (so labels are stable).
    """
    groups: dict[object, list[tuple[int, PlanDraft]]] = {}
    for sample, draft in valid:
        groups.setdefault(plan_signature(draft.tasks), []).append((sample, draft))
    keys_of = {sample: set(_task_keys(draft.tasks)) for sample, draft in valid}
    candidates = []
    for n, members in enumerate(groups.values()):
        first_sample, draft = members[0]
        own = _task_keys(draft.tasks)
        others = [keys_of[s] for s, _ in valid if s not in {m for m, _ in members}]
        if others and own:
            shared = sum(sum(key in keys for keys in others) / len(others) for key in own)
            agreement = shared / len(own)
        else:
            agreement = 0.0
        candidates.append(
            PlanCandidate(
                label=_label(n),
                samples=[s for s, _ in members],
                tasks=len(own),
                agreement=round(agreement, 4),
                draft=draft,
            )
        )
    return candidates


def pick_by_agreement(candidates: Sequence[PlanCandidate]) -> PlanCandidate:
    """The candidate with the most votes, then the highest agreement, then the earliest."""
    return max(
        candidates,
        key=lambda c: (len(c.samples), c.agreement, -ord(c.label[0]), -len(c.label)),
    )
