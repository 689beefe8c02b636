"""Monte Carlo Tree Search bookkeeping on a toy problem (no model involved)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest

from orchestra.core.search_tree import SearchBudget, SearchError, SearchNode, TreeSearch
from tests.conftest import GUARD_S

DIGITS = [0, 1, 2]
LENGTH = 3


async def propose(path: Sequence[int], k: int) -> list[int]:
    return DIGITS[:k]


def allow_all(path: Sequence[int], action: int) -> str | None:
    return None


def done(path: Sequence[int]) -> bool:
    return len(path) == LENGTH


async def score(path: Sequence[int]) -> float:
    """Higher digits are better; a partial path is worth its digits so far."""
    return sum(path) / (2 * LENGTH)


def search(**kw: object) -> TreeSearch[int]:
    args: dict[str, object] = {
        "propose": propose,
        "check": allow_all,
        "evaluate": score,
        "is_terminal": done,
        "budget": SearchBudget(max_nodes=12, parallel=1),
    }
    args.update(kw)
    return TreeSearch(**args)  # type: ignore[arg-type]


def _below(node: SearchNode[int]) -> list[SearchNode[int]]:
    out = [node]
    for child in node.children:
        out.extend(_below(child))
    return out


async def test_visits_and_values_add_up_along_every_path():
    result = await search().run()
    assert result.stop_reason == "max_nodes" and result.evaluations == 12
    for node in result.nodes:
        scored = [n.score for n in _below(node) if n.score is not None]
        assert node.visits == len(scored)
        assert node.value_sum == pytest.approx(sum(scored))
    assert result.nodes[0].visits == 12 and result.nodes[0].score is None  # root not scored


async def test_children_are_tried_once_before_any_is_tried_twice_then_the_best_is_favoured():
    result = await search(budget=SearchBudget(max_nodes=30, parallel=1)).run()
    root = result.nodes[0]
    first_three = [n.action for n in result.nodes[1:4]]
    assert sorted(first_three) == DIGITS and all(n.visits >= 1 for n in root.children)
    by_action = {c.action: c.visits for c in root.children}
    assert by_action[2] > by_action[1] > by_action[0]  # exploitation follows the means
    assert result.best.path() == [2, 2, 2] and result.best.score == 1.0


async def test_invalid_candidates_are_kept_with_the_reason_and_never_scored():
    evaluated: list[list[int]] = []

    async def recorded(path: Sequence[int]) -> float:
        evaluated.append(list(path))
        return await score(path)

    def no_ones(path: Sequence[int], action: int) -> str | None:
        return "1 is not allowed here" if action == 1 else None

    async def with_repeats(path: Sequence[int], k: int) -> list[int]:
        return [0, 1, 2, 2]

    result = await search(check=no_ones, propose=with_repeats, evaluate=recorded).run()
    root = result.nodes[0]
    assert root.rejected == [
        (1, "1 is not allowed here"),
        (2, "the same action was proposed twice"),
    ]
    assert all(1 not in path for path in evaluated)
    assert all(n.action != 1 for n in result.nodes)


async def test_the_search_stops_at_its_token_and_time_budgets():
    spent = {"tokens": 0}

    async def costly(path: Sequence[int]) -> float:
        spent["tokens"] += 100
        return await score(path)

    result = await search(
        evaluate=costly,
        tokens=lambda: spent["tokens"],
        budget=SearchBudget(max_nodes=50, max_tokens=450, parallel=1),
    ).run()
    assert result.stop_reason == "max_tokens" and result.evaluations == 5

    now = {"t": 0.0}

    async def slow(path: Sequence[int]) -> float:
        now["t"] += 1.0  # a fake clock: one second an evaluation
        return await score(path)

    result = await search(
        evaluate=slow,
        clock=lambda: now["t"],
        budget=SearchBudget(max_nodes=50, max_seconds=3, parallel=1),
    ).run()
    assert result.stop_reason == "max_seconds" and result.evaluations == 3


async def test_a_small_space_is_searched_to_the_end():
    result = await search(
        budget=SearchBudget(max_nodes=100, max_depth=1, branching=2, parallel=1)
    ).run()
    assert result.stop_reason == "exhausted" and result.evaluations == 2
    assert {n.action for n in result.nodes[1:]} == {0, 1}


async def test_the_same_seed_grows_the_same_tree():
    async def tied(path: Sequence[int]) -> float:
        return 0.5  # every node ties: the seed decides

    def shape(nodes: list[SearchNode[int]]) -> list[tuple[int | None, int, int]]:
        return [(n.action, n.depth, n.visits) for n in nodes]

    one = await search(evaluate=tied, seed=7).run()
    two = await search(evaluate=tied, seed=7).run()
    assert shape(one.nodes) == shape(two.nodes)


async def test_rollouts_run_in_parallel_and_the_tree_does_not_depend_on_finish_order():
    in_flight = {"now": 0, "most": 0}
    both = asyncio.Event()

    async def overlapping(path: Sequence[int]) -> float:
        in_flight["now"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["now"])
        if in_flight["now"] == 2:
            both.set()
        await asyncio.wait_for(both.wait(), GUARD_S)
        if path and path[-1] == 0:
            await asyncio.sleep(0)  # finish after the others
        in_flight["now"] -= 1
        if in_flight["now"] == 0:
            both.clear()  # the next batch waits for its own pair
        return await score(path)

    parallel = await search(
        evaluate=overlapping, budget=SearchBudget(max_nodes=8, parallel=2)
    ).run()
    assert in_flight["most"] == 2
    again = await search(evaluate=score, budget=SearchBudget(max_nodes=8, parallel=2)).run()
    assert [(n.action, n.visits) for n in parallel.nodes] == [
        (n.action, n.visits) for n in again.nodes
    ]


async def test_the_next_node_is_expanded_while_the_last_one_is_evaluated():
    in_flight = {"evaluations": 0, "overlaps": 0}

    async def slow_propose(path: Sequence[int], k: int) -> list[int]:
        await asyncio.sleep(0)  # a model call: the loop runs what is ready meanwhile
        in_flight["overlaps"] += in_flight["evaluations"] > 0
        return await propose(path, k)

    async def slow_score(path: Sequence[int]) -> float:
        in_flight["evaluations"] += 1
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight["evaluations"] -= 1
        return await score(path)

    budget = SearchBudget(max_nodes=12, branching=2, parallel=2)
    overlapped = await search(propose=slow_propose, evaluate=slow_score, budget=budget).run()
    assert in_flight["overlaps"] >= 1
    plain = await search(budget=budget).run()  # the same tree, whatever overlapped
    assert [(n.action, n.depth, n.visits) for n in overlapped.nodes] == [
        (n.action, n.depth, n.visits) for n in plain.nodes
    ]


async def test_a_failing_evaluation_cancels_the_others_in_flight():
    cancelled = asyncio.Event()

    async def one_hangs_one_fails(path: Sequence[int]) -> float:
        if path == [0]:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return 3.0  # not a score: the search stops with an error

    budget = SearchBudget(max_nodes=4, branching=2, parallel=2)
    with pytest.raises(SearchError, match="not a score"):
        await search(evaluate=one_hangs_one_fails, budget=budget).run()
    assert cancelled.is_set()  # not left running behind the error


async def test_a_score_outside_0_to_1_is_an_error_not_a_value():
    async def broken(path: Sequence[int]) -> float:
        return 3.0

    with pytest.raises(SearchError, match="not a score"):
        await search(evaluate=broken).run()


async def flat(path: Sequence[int]) -> float:
    return 0.5


def fresh_actions() -> tuple[list[int], Callable[[Sequence[int], int], Awaitable[list[int]]]]:
    """A proposer that never repeats itself: 0, 1, 2, ... over all its calls."""
    drawn: list[int] = []

    async def propose_new(path: Sequence[int], k: int) -> list[int]:
        start = len(drawn)
        drawn.extend(range(start, start + k))
        return drawn[start:]

    return drawn, propose_new


async def test_a_node_whose_branches_all_ended_is_widened_with_new_samples():
    drawn, propose_new = fresh_actions()
    budget = SearchBudget(max_nodes=100, max_depth=1, branching=2, parallel=1, max_widenings=2)
    result = await search(propose=propose_new, evaluate=flat, budget=budget).run()
    root = result.nodes[0]
    assert drawn == [0, 1, 2, 3, 4, 5]  # the first expansion and two widenings
    assert [c.action for c in root.children] == drawn and root.widenings == 2
    assert result.evaluations == 6 and result.stop_reason == "exhausted"

    _, propose_new = fresh_actions()
    once = await search(
        propose=propose_new,
        evaluate=flat,
        budget=budget.model_copy(update={"max_widenings": 0}),
    ).run()
    assert once.evaluations == 2  # without widening the search ends with budget left


async def test_widening_stops_when_the_model_has_nothing_new_and_repeats_are_not_scored():
    evaluated: list[list[int]] = []

    async def recorded(path: Sequence[int]) -> float:
        evaluated.append(list(path))
        return 0.5

    budget = SearchBudget(max_nodes=100, max_depth=1, branching=3, parallel=1, max_widenings=5)
    result = await search(evaluate=recorded, budget=budget).run()
    root = result.nodes[0]
    assert result.stop_reason == "exhausted" and sorted(evaluated) == [[0], [1], [2]]
    assert root.widenings == 5  # one widening brought nothing new: saturated
    assert [why for _, why in root.rejected] == ["the same action was proposed twice"] * 3


async def test_a_branch_that_turns_out_a_dead_end_does_not_end_the_search():
    async def dead_end_after_two(path: Sequence[int], k: int) -> list[int]:
        return [] if path and path[-1] == 2 else DIGITS[:k]

    result = await search(
        propose=dead_end_after_two, budget=SearchBudget(max_nodes=12, parallel=1)
    ).run()
    two = next(c for c in result.nodes[0].children if c.action == 2)
    assert two.terminal and not two.children  # found to be a dead end when chosen
    assert result.stop_reason == "max_nodes" and result.evaluations == 12
