"""Plan sampling: K plans drawn, merged, and one chosen by the plan critic or by votes.

See :mod:`orchestra.core.plan_selection` for what is kept. The K plans are drawn as K
parallel planner calls (``sampling="parallel"``: independent samples, K prompts) or
written by one call (``sampling="one_call"``: the prompt is paid once, after
Tree-Planner's sampling; :func:`orchestra.agents.planner.plan_goal_samples`). With
``sampling="alternatives"`` one call writes one plan and, for the tasks that could go
another way, up to K - 1 alternatives each
(:func:`orchestra.agents.planner.plan_goal_with_alternatives`): the planner's plan runs
(nothing to choose, no critic call), and its alternatives are the action tree's
branches (:func:`orchestra.core.action_tree.written_action_tree`); the samples it did
not write out, because they would agree, cost nothing. Every
parallel sample goes through the planner's own validation and repair loop; a sample that
stays invalid is rejected, not scored. With one valid distinct plan there is nothing to
choose; otherwise the plan critic scores the candidates (``choose="critic"``), or, with
``choose="votes"``, no model call chooses: the plan most samples wrote, then the one
sharing most tasks with the others (:func:`pick_by_agreement`). The team's checks go
first, on each candidate's outline: a plan failing one scores 0 without the critic
seeing it (if only one plan passes, the checks chose it; if none does, the critic, or
the votes, choose among them all). When the critic's answer stays invalid, the team's
``fallbacks`` decide: off, the error is raised; on, votes and agreement choose
(``chosen_by`` ``agreement``).

The valid samples are then merged around the chosen plan into an action tree
(:func:`orchestra.core.action_tree.build_action_tree`, no model call): its tasks' votes
and the other samples' alternatives, which the engine grafts, most grounded first,
before it asks the planner to re-plan a task the critic sent back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal, get_args

from langchain_core.language_models import BaseChatModel

from orchestra.agents.calls import metered, model_name
from orchestra.agents.plan_critic import choose_plan, outline
from orchestra.agents.planner import (
    draft_errors,
    plan_goal,
    plan_goal_samples,
    plan_goal_with_alternatives,
)
from orchestra.core.action_tree import build_action_tree, majority_plan, written_action_tree
from orchestra.core.errors import BudgetExceeded, ConfigError, ModelBehaviorError, PlanningError
from orchestra.core.plan import PlanDraft, plan_signature
from orchestra.core.plan_selection import (
    ChosenBy,
    PlanCandidate,
    PlanSamplingMode,
    PlanSelection,
    RejectedSample,
    merge_samples,
    pick_by_agreement,
)
from orchestra.core.roles import Role, RoleSpec
from orchestra.core.tree import TaskTree, Verdict
from orchestra.core.usage import Price, Usage, price_for

__all__ = [
    "MAX_PLAN_SAMPLES",
    "PlanChecks",
    "PlanChoiceMode",
    "PlanSamplingMode",
    "check_plan_sampling",
    "sample_plans",
]

MAX_PLAN_SAMPLES = 8
"""The most plans ``plan_samples`` may ask for."""

PlanChoiceMode = Literal["critic", "votes"]
"""Who chooses the plan a run starts with: the plan critic (one model call), or votes
and agreement among the samples (no call)."""

PlanChecks = Callable[[str], Awaitable[Verdict | None]]
"""The team's checks on a plan's outline (see :func:`outline`): the verdict of the first
check it fails, or None."""


def check_plan_sampling(samples: object, sampling: object, choice: object) -> None:
    """Refuse plan-sampling options that make no sense together, as ``Team`` takes them.

    Raises:
        ConfigError: ``samples`` is not a whole number from 1 to :data:`MAX_PLAN_SAMPLES`;
            an unknown ``sampling`` or ``choice``; either set with one plan; a ``choice``
            with ``sampling="alternatives"`` (one plan is written: nothing to choose).
    """
    if (
        not isinstance(samples, int)
        or isinstance(samples, bool)
        or not 1 <= samples <= MAX_PLAN_SAMPLES
    ):
        raise ConfigError(
            f"plan_samples must be a whole number between 1 and {MAX_PLAN_SAMPLES}, not {samples!r}"
        )
    if sampling not in get_args(PlanSamplingMode):
        raise ConfigError(
            f"plan_sampling must be 'parallel', 'one_call' or 'alternatives', not {sampling!r}"
        )
    if choice not in get_args(PlanChoiceMode):
        raise ConfigError(f"plan_choice must be 'critic' or 'votes', not {choice!r}")
    if samples == 1 and (sampling, choice) != ("parallel", "critic"):
        raise ConfigError(
            "plan_sampling and plan_choice apply to several plans: set plan_samples"
            f" (2-{MAX_PLAN_SAMPLES}) too"
        )
    if sampling == "alternatives" and choice != "critic":
        raise ConfigError(
            "plan_choice does not apply to plan_sampling='alternatives': the planner writes"
            " one plan and alternatives to its tasks, so there is nothing to choose"
        )


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
    sampling: PlanSamplingMode = "parallel",
    choose: PlanChoiceMode = "critic",
) -> tuple[PlanDraft, PlanSelection]:
    """Draw ``k`` plans for the tree's goal, and the one chosen with how it was chosen.

    Raises:
        PlanningError: every sample stayed invalid (the first sample's error, with its
            raw replies).
        BudgetExceeded: the run's budget stopped a sample (raised once all have ended).
        ModelBehaviorError: the plan critic's answer stayed invalid and ``fallbacks`` is
            off.
        ConfigError: ``choose`` other than ``"critic"`` with ``sampling="alternatives"``
            (the planner's plan runs: there is nothing to choose).
    """
    if sampling == "alternatives":
        return await _plan_with_alternatives(
            planner,
            tree,
            choose=choose,
            k=k,
            roles=roles,
            tools=tools,
            prices=prices,
            max_repairs=max_repairs,
            on_demand=on_demand,
        )
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

    async def together() -> list[tuple[PlanDraft | PlanningError, Usage]]:
        with metered(prices) as meter:
            try:
                plans = await plan_goal_samples(
                    planner,
                    tree,
                    k=k,
                    roles=roles,
                    tools=tools,
                    max_repairs=max_repairs,
                    on_demand=on_demand,
                )
            except BudgetExceeded as exc:
                stopped.append(exc)
                plans = []
        # one call wrote them all: the first plan carries the call's usage
        return [(p, meter.usage if n == 0 else Usage()) for n, p in enumerate(plans)]

    with metered(prices) as stage:
        if sampling == "one_call":
            drawn = await together()
        else:
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
            choose=choose,
        )
    single = Usage()
    for _, usage in drawn:
        single += usage
    if sampling == "one_call":
        sample_calls = [single.model_calls]
        single_shot = _share_of(single, 1 / k, price_for(model_name(planner), prices))
    else:
        sample_calls = [usage.model_calls for _, usage in drawn]
        single_shot = _mean(single, k)
    scores = {s: c.score for c in candidates for s in c.samples}
    action_tree = build_action_tree(valid, chosen.samples, scores)
    start: PlanDraft | None = None
    if chosen_by == "votes":
        start, swapped = majority_plan(action_tree, chosen.draft)
        if swapped and await _usable(start, tree, tools, on_demand, checks):
            reason += (
                f"; then at each branch the way most samples went: {', '.join(swapped)}"
                " replaced by what more samples wrote"
            )
            same = plan_signature(start.tasks)
            written = next((c for c in candidates if plan_signature(c.draft.tasks) == same), None)
            if written is not None:  # the majority is a sampled plan: run that one
                chosen, start = written, None
                reason += f", which is plan {written.label}"
                action_tree = build_action_tree(valid, written.samples, scores)
            else:
                action_tree = build_action_tree(valid, [], scores, plan=start)
        else:
            start = None
    selection = PlanSelection(
        k=k,
        candidates=candidates,
        rejected=rejected,
        chosen=chosen.label,
        chosen_by=chosen_by,
        reason=reason,
        usage=stage.usage,
        single_shot_usage=single_shot,
        sample_calls=sample_calls,
        sampling=sampling,
        action_tree=action_tree,
        start=start,
    )
    return start or selection.candidate(chosen.label).draft, selection


async def _plan_with_alternatives(
    planner: BaseChatModel,
    tree: TaskTree,
    *,
    choose: PlanChoiceMode,
    k: int,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    prices: Mapping[str, Price],
    max_repairs: int,
    on_demand: bool,
) -> tuple[PlanDraft, PlanSelection]:
    """The planner's plan and its selection record, with its alternatives as the action tree.

    Raises:
        PlanningError: the plan stayed invalid (alternatives never cost a repair).
        ConfigError: ``choose`` is not ``"critic"``: there is nothing to choose.
    """
    check_plan_sampling(k, "alternatives", choose)
    with metered(prices) as stage:
        written = await plan_goal_with_alternatives(
            planner,
            tree,
            ways=k,
            roles=roles,
            tools=tools,
            max_repairs=max_repairs,
            on_demand=on_demand,
        )
    draft = written.draft
    action_tree = written_action_tree(draft, written.alternatives)
    tasks = len(action_tree.branches)  # a branch for every task of the plan, all levels
    shared = action_tree.shared / tasks if tasks else 0.0
    candidate = PlanCandidate(
        label="A", samples=[0], tasks=tasks, agreement=round(shared, 3), draft=draft
    )
    varied = sum(1 for b in action_tree.branches if b.alternatives)
    selection = PlanSelection(
        k=k,
        candidates=[candidate],
        rejected=[RejectedSample(sample=n, error=why) for n, why in written.dropped],
        chosen="A",
        chosen_by="planner",
        reason=(
            f"the planner's plan, with {action_tree.alternatives} alternatives for"
            f" {varied} of its {tasks} tasks"
        ),
        usage=stage.usage,
        single_shot_usage=_share_of(
            stage.usage, written.plan_share, price_for(model_name(planner), prices)
        ),
        sample_calls=[stage.usage.model_calls],
        sampling="alternatives",
        action_tree=action_tree,
    )
    return draft, selection


async def _usable(
    draft: PlanDraft,
    tree: TaskTree,
    tools: dict[str, str],
    on_demand: bool,
    checks: PlanChecks | None,
) -> bool:
    """Whether a plan put together from several samples is valid and passes the checks."""
    errors = draft_errors(draft, tree, tools=tools, on_demand=on_demand)
    return not errors and (checks is None or await checks(outline(draft.tasks)) is None)


async def _choose(
    critic: BaseChatModel,
    tree: TaskTree,
    candidates: list[PlanCandidate],
    *,
    k: int,
    max_repairs: int,
    fallbacks: bool,
    checks: PlanChecks | None = None,
    choose: PlanChoiceMode = "critic",
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
    if choose == "votes":
        best = pick_by_agreement(judged)
        votes = len(best.samples)
        return best, "votes", f"{votes} of {k} samples wrote it, agreement {best.agreement:.2f}"
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


def _share_of(call: Usage, share: float, price: Price | None) -> Usage:
    """What one plan written in a call with more in its reply would have cost (an estimate).

    The call's prompt and the plan's ``share`` of its reply (a K-plan call's: a K-th),
    priced at the planner's ``price`` (unknown: that share of the call's cost).
    """
    output_tokens = int(call.output_tokens * share)
    cost = call.cost_usd * share
    if price is not None:
        cost = price.cost(
            call.input_tokens,
            output_tokens,
            cached=call.cached_input_tokens,
            written=call.cache_write_tokens,
        )
    return Usage(
        input_tokens=call.input_tokens,
        output_tokens=output_tokens,
        model_calls=call.model_calls,
        cost_usd=round(cost, 8),
        unpriced_calls=call.unpriced_calls,
        cached_input_tokens=call.cached_input_tokens,
        cache_write_tokens=call.cache_write_tokens,
    )


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
