"""Plan sampling: K plans drawn in parallel, merged, and one chosen by the plan critic.

See :mod:`orchestra.core.plan_selection` for what is kept. Every sample goes through the
planner's own validation and repair loop; a sample that stays invalid is rejected, not
scored. With one valid distinct plan there is nothing to choose; otherwise the plan critic
scores the candidates. The team's checks go first, on each candidate's outline: a plan
failing one scores 0 without the critic seeing it (if only one plan passes, the checks
chose it; if none does, the critic sees them all). When the critic's answer stays invalid,
the team's ``fallbacks`` decide: off, the error is raised; on, votes and agreement choose
(``chosen_by`` ``agreement``).

The valid samples are then merged around the chosen plan into an action tree
(:func:`orchestra.core.action_tree.build_action_tree`, no model call): its tasks' votes
and the other samples' alternatives, which the engine grafts, most grounded first,
before it asks the planner to re-plan a task the critic sent back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from langchain_core.language_models import BaseChatModel

from orchestra.agents.calls import metered
from orchestra.agents.plan_critic import choose_plan, outline
from orchestra.agents.planner import plan_goal
from orchestra.core.action_tree import build_action_tree
from orchestra.core.errors import BudgetExceeded, ModelBehaviorError, PlanningError
from orchestra.core.plan import PlanDraft
from orchestra.core.plan_selection import (
    ChosenBy,
    PlanCandidate,
    PlanSelection,
    RejectedSample,
    merge_samples,
    pick_by_agreement,
)
from orchestra.core.roles import Role, RoleSpec
from orchestra.core.tree import TaskTree, Verdict
from orchestra.core.usage import Price, Usage

__all__ = ["PlanChecks", "sample_plans"]

PlanChecks = Callable[[str], Awaitable[Verdict | None]]
"""The team's checks on a plan's outline (see :func:`outline`): the verdict of the first
check it fails, or None."""


async def sample_plans(
    planner: BaseChatModel,
    critic: BaseChatModel,
    tree: TaskTree,
    *,
    k: int,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    prices: Mapping[str, Price],
    max_repairs: int = 2,
    fallbacks: bool = False,
    on_demand: bool = False,
    checks: PlanChecks | None = None,
) -> tuple[PlanDraft, PlanSelection]:
    """Draw ``k`` plans for the tree's goal, and the one chosen with how it was chosen.

    Raises:
        PlanningError: every sample stayed invalid (the first sample's error, with its
            raw replies).
        BudgetExceeded: the run's budget stopped a sample (raised once all have ended).
        ModelBehaviorError: the plan critic's answer stayed invalid and ``fallbacks`` is
            off.
    """
    stopped: list[BudgetExceeded] = []

    async def one(sample: int) -> tuple[PlanDraft | PlanningError, Usage]:
        with metered(prices) as meter:
            try:
                draft: PlanDraft | PlanningError = await plan_goal(
                    planner,
                    tree,
                    roles=roles,
                    tools=tools,
                    max_repairs=max_repairs,
                    sample=sample,
                    on_demand=on_demand,
                )
            except PlanningError as err:
                draft = err
            except BudgetExceeded as exc:  # raised once every sample has stopped
                stopped.append(exc)
                draft = PlanningError(str(exc), agent="planner", raw_outputs=[], errors=[])
        return draft, meter.usage

    with metered(prices) as stage:
        drawn = await asyncio.gather(*(one(n) for n in range(k)))
        if stopped:  # no sample goes on spending after the budget ended the stage
            raise stopped[0]
        valid = [(n, d) for n, (d, _) in enumerate(drawn) if isinstance(d, PlanDraft)]
        rejected = [
            RejectedSample(sample=n, error=str(d))
            for n, (d, _) in enumerate(drawn)
            if isinstance(d, PlanningError)
        ]
        if not valid:
            first = drawn[0][0]
            assert isinstance(first, PlanningError)
            raise first
        candidates = merge_samples(valid)
        chosen, chosen_by, reason = await _choose(
            critic,
            tree,
            candidates,
            k=k,
            max_repairs=max_repairs,
            fallbacks=fallbacks,
            checks=checks,
        )
    single = Usage()
    for _, usage in drawn:
        single += usage
    selection = PlanSelection(
        k=k,
        candidates=candidates,
        rejected=rejected,
        chosen=chosen.label,
        chosen_by=chosen_by,
        reason=reason,
        usage=stage.usage,
        single_shot_usage=_mean(single, k),
        sample_calls=[usage.model_calls for _, usage in drawn],
        action_tree=build_action_tree(
            valid, chosen.samples, {s: c.score for c in candidates for s in c.samples}
        ),
    )
    return selection.candidate(chosen.label).draft, selection


async def _choose(
    critic: BaseChatModel,
    tree: TaskTree,
    candidates: list[PlanCandidate],
    *,
    k: int,
    max_repairs: int,
    fallbacks: bool,
    checks: PlanChecks | None = None,
) -> tuple[PlanCandidate, ChosenBy, str]:
    """The chosen candidate, how it was chosen and why; scores filled in by the critic.

    Candidates failing a check get score 0 and the check's reason, in ``candidates``.
    """
    if len(candidates) == 1:
        votes = len(candidates[0].samples)
        return candidates[0], "only_candidate", f"the only valid plan ({votes} of {k} samples)"
    judged = list(candidates)
    if checks is not None:
        judged = await _passing(checks, candidates)
        if len(judged) == 1:
            return judged[0], "checks", "every other plan failed a check"
        judged = judged or list(candidates)  # none passed: the critic decides among all
    try:
        choice = await choose_plan(critic, tree, judged, k=k, max_repairs=max_repairs)
    except ModelBehaviorError as err:
        if not fallbacks:
            raise
        best = pick_by_agreement(judged)
        return best, "agreement", f"the plan critic's answer stayed invalid ({err})"
    scores = {s.candidate: s for s in choice.scores}
    for n, candidate in enumerate(candidates):
        score = scores.get(candidate.label)
        if score is not None:
            update = {"score": score.score, "reason": score.reason}
            candidates[n] = candidate.model_copy(update=update)
    chosen = next(c for c in candidates if c.label == choice.choice)
    return chosen, "critic", choice.reason


async def _passing(checks: PlanChecks, candidates: list[PlanCandidate]) -> list[PlanCandidate]:
    """The candidates whose outlines pass the checks; the others get score 0 and why."""
    passed = []
    for n, candidate in enumerate(candidates):
        failed = await checks(outline(candidate.draft.tasks))
        if failed is None:
            passed.append(candidate)
        else:
            update = {"score": 0.0, "reason": f"{failed.source}: {failed.reason}"}
            candidates[n] = candidate.model_copy(update=update)
    return passed


def _mean(total: Usage, n: int) -> Usage:
    return Usage(
        input_tokens=total.input_tokens // n,
        output_tokens=total.output_tokens // n,
        model_calls=round(total.model_calls / n),
        cost_usd=round(total.cost_usd / n, 8),
        unpriced_calls=round(total.unpriced_calls / n),
        cached_input_tokens=total.cached_input_tokens // n,
        cache_write_tokens=total.cache_write_tokens // n,
    )
