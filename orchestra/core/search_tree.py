"""Monte Carlo Tree Search over sequences of actions: the bookkeeping, nothing model-specific.

A search grows a tree whose nodes are partial trajectories (the actions from the root to
the node). Each iteration

1. **selects** a node: from the root, while a node is expanded, go to the child with the
   highest UCB1 value ``mean + c * sqrt(ln(N) / n)`` (a child never visited first);
2. **expands** it: ``propose(path, k)`` suggests up to ``k`` next actions; each is
   ``check``-ed, and an invalid one (or a repeat of a sibling) is kept as *rejected* with
   the reason and never scored; the valid ones become children. A node whose branches
   have all ended is **widened** (asked for ``k`` more actions) up to ``max_widenings``
   times, until a widening brings nothing new: sampling goes on where the first samples
   all ended, instead of the search stopping with budget left;
3. **evaluates** a new child (or the node itself when it is terminal or has no valid
   child): ``evaluate(path)`` gives a score in [0, 1];
4. **back-propagates** the score to every node on the path (visits and value sums).

Up to ``parallel`` iterations run at once: each selected path gets a *virtual loss* (a
visit with no value) until its score comes back, so concurrent selections spread over
the tree, and each evaluation starts as soon as its node is chosen (it runs while the
next node is expanded). Scores are applied in the order the iterations were started, so
a search is deterministic under its ``seed`` whatever order evaluations finish in.

The search stops at the first budget reached (nodes, seconds, tokens) or when every
branch has ended; the result is the best-scored trajectory and the whole tree, for traces.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SearchBudget",
    "SearchError",
    "SearchNode",
    "SearchNodeRecord",
    "SearchRecord",
    "SearchResult",
    "TreeSearch",
]

A = TypeVar("A")

StopReason = Literal["max_nodes", "max_seconds", "max_tokens", "exhausted"]


class SearchError(ValueError):
    """The search was given something it cannot use (an evaluation outside [0, 1])."""


class SearchBudget(BaseModel):
    """Limits of one search."""

    model_config = ConfigDict(frozen=True)

    max_nodes: int = Field(default=16, ge=1)
    """Evaluations at most (each new node is evaluated once; the root is not)."""
    max_depth: int = Field(default=6, ge=1)
    """Actions in a trajectory at most; a node this deep is not expanded."""
    max_seconds: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1)
    """Tokens spent by proposals and evaluations (as the ``tokens`` callback counts)."""
    branching: int = Field(default=3, ge=1)
    """Actions asked of ``propose`` per expansion."""
    parallel: int = Field(default=2, ge=1)
    """Iterations (rollouts) in flight at once."""
    exploration: float = Field(default=1.4, ge=0)
    """UCB1's exploration constant ``c``."""
    max_widenings: int = Field(default=2, ge=0)
    """Times a node whose branches have all ended may be asked for more actions."""


@dataclass(eq=False)
class SearchNode(Generic[A]):
    """One partial trajectory in the tree."""

    id: int
    parent: SearchNode[A] | None
    action: A | None
    """The action that led here from the parent (None at the root)."""
    depth: int
    children: list[SearchNode[A]] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0
    score: float | None = None
    """This trajectory's own evaluation, once evaluated."""
    expanded: bool = False
    terminal: bool = False
    """Ended: ``is_terminal`` said so, it is at the depth limit, or it has no valid child."""
    rejected: list[tuple[A, str]] = field(default_factory=list)
    """Proposed next actions that failed ``check``, with why (never scored)."""
    widenings: int = 0
    """Expansions after the first (see ``SearchBudget.max_widenings``)."""
    _pending: int = 0
    """Virtual losses: iterations through this node still waiting for their score."""

    @property
    def mean(self) -> float:
        """Average score of the evaluations below (and at) this node; 0 before any."""
        return self.value_sum / self.visits if self.visits else 0.0

    def path(self) -> list[A]:
        """The actions from the root to this node."""
        actions: list[A] = []
        node: SearchNode[A] | None = self
        while node is not None and node.action is not None:
            actions.append(node.action)
            node = node.parent
        return actions[::-1]

    def ucb(self, exploration: float) -> float:
        """UCB1 of this node seen from its parent (infinite while never visited)."""
        seen = self.visits + self._pending
        if seen == 0 or self.parent is None:
            return math.inf
        parent_seen = self.parent.visits + self.parent._pending
        return self.mean * self.visits / seen + exploration * math.sqrt(
            math.log(max(parent_seen, 1)) / seen
        )


@dataclass(frozen=True)
class SearchResult(Generic[A]):
    """What a search found, and the tree it grew."""

    best: SearchNode[A]
    """The best-scored evaluated node (terminal ones preferred)."""
    nodes: list[SearchNode[A]]
    """Every node, in creation order (``nodes[0]`` is the root)."""
    evaluations: int
    stop_reason: StopReason


class SearchNodeRecord(BaseModel):
    """One node of a finished search, as plain data (for records, reports and traces)."""

    model_config = ConfigDict(frozen=True)

    id: int
    parent: int | None
    depth: int
    step: str | None
    """The action that led here, described (None at the root)."""
    visits: int
    mean: float
    score: float | None
    """This trajectory's own evaluation (None: never evaluated)."""
    terminal: bool
    rejected: list[tuple[str, str]] = Field(default_factory=list)
    """Proposed next actions that failed their check: (action, why)."""


class SearchRecord(BaseModel):
    """A finished search as plain data: its tree, why it stopped, and the best node."""

    model_config = ConfigDict(frozen=True)

    attempt: int
    """The attempt (1-based) the search ran for."""
    nodes: list[SearchNodeRecord]
    evaluations: int
    stop_reason: StopReason
    best_node: int
    best_score: float | None
    votes: int = 0
    """Times the model proposed the answer chosen (0 when none was)."""

    @classmethod
    def of(
        cls,
        result: SearchResult[A],
        *,
        attempt: int,
        describe: Callable[[A], str] = str,
        votes: int = 0,
        best: SearchNode[A] | None = None,
    ) -> SearchRecord:
        """``result`` as a record, each action written with ``describe``.

        ``best`` names the node chosen when the caller chose otherwise than ``result.best``.
        """
        best = best or result.best
        return cls(
            attempt=attempt,
            nodes=[
                SearchNodeRecord(
                    id=node.id,
                    parent=node.parent.id if node.parent else None,
                    depth=node.depth,
                    step=describe(node.action) if node.action is not None else None,
                    visits=node.visits,
                    mean=round(node.mean, 4),
                    score=node.score,
                    terminal=node.terminal,
                    rejected=[(describe(action), why) for action, why in node.rejected],
                )
                for node in result.nodes
            ],
            evaluations=result.evaluations,
            stop_reason=result.stop_reason,
            best_node=best.id,
            best_score=best.score,
            votes=votes,
        )

    def children(self) -> dict[int | None, list[SearchNodeRecord]]:
        """Nodes by parent id, in creation order."""
        out: dict[int | None, list[SearchNodeRecord]] = {}
        for node in self.nodes:
            out.setdefault(node.parent, []).append(node)
        return out

    def best_path(self) -> set[int]:
        """Ids of the nodes from the root to the best node."""
        by_id = {node.id: node for node in self.nodes}
        path: set[int] = set()
        current: int | None = self.best_node
        while current is not None and current in by_id:
            path.add(current)
            current = by_id[current].parent
        return path


Propose = Callable[[Sequence[A], int], Awaitable[Sequence[A]]]
Check = Callable[[Sequence[A], A], str | None]
Evaluate = Callable[[Sequence[A]], Awaitable[float]]
IsTerminal = Callable[[Sequence[A]], bool]


class TreeSearch(Generic[A]):
    """One search (see the module docstring); :meth:`run` it once.

    Args:
        propose: suggests up to ``k`` next actions after a path (a model sampling).
        check: why an action cannot follow a path, or None when it can.
        evaluate: the score in [0, 1] of a path (a critic, or a user's scorer).
        is_terminal: whether a path is complete (a final answer).
        budget: the limits.
        seed: breaks ties between equal UCB values and picks which new child is evaluated.
        tokens: tokens spent so far (for ``budget.max_tokens``); None: not counted.
        clock: seconds, for ``budget.max_seconds`` (a fake in tests).
    """

    def __init__(
        self,
        *,
        propose: Propose[A],
        check: Check[A],
        evaluate: Evaluate[A],
        is_terminal: IsTerminal[A],
        budget: SearchBudget | None = None,
        seed: int = 0,
        tokens: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._propose = propose
        self._check = check
        self._evaluate = evaluate
        self._is_terminal = is_terminal
        self.budget = budget or SearchBudget()
        self._rng = random.Random(seed)
        self._tokens = tokens
        self._clock = clock
        self.nodes: list[SearchNode[A]] = [SearchNode(id=0, parent=None, action=None, depth=0)]
        self.evaluations = 0

    @property
    def root(self) -> SearchNode[A]:
        """The empty trajectory."""
        return self.nodes[0]

    async def run(self) -> SearchResult[A]:
        """Search until a budget is reached or every branch has ended."""
        started = self._clock()
        while True:
            stop = self._stop_reason(started)
            if stop is not None:
                break
            picked = await self._pick_and_score(self.budget.max_nodes - self.evaluations)
            if not picked:
                stop = "exhausted"
                break
            for node, score in picked:  # in the order started
                self._backpropagate(node, score)
        return SearchResult(
            best=self._best(),
            nodes=list(self.nodes),
            evaluations=self.evaluations,
            stop_reason=stop,
        )

    async def _pick_and_score(self, room: int) -> list[tuple[SearchNode[A], float]]:
        """Up to ``parallel`` nodes and their scores, in the order they were picked.

        Each node's evaluation starts as soon as it is picked, so it runs while the next
        node is selected and expanded (selection needs no score: the virtual loss on the
        paths in flight steers it). Scores are applied by the caller in pick order, so
        the tree is the same whichever evaluation finishes first.
        """
        picked: list[SearchNode[A]] = []
        scoring: list[asyncio.Future[float]] = []
        try:
            for _ in range(min(self.budget.parallel, room)):
                node = await self._select_and_expand()
                if node is None:
                    break
                picked.append(node)
                scoring.append(asyncio.ensure_future(self._score(node)))
            scores = await asyncio.gather(*scoring)
        except BaseException:
            for future in scoring:
                future.cancel()
            await asyncio.gather(*scoring, return_exceptions=True)
            raise
        return list(zip(picked, scores, strict=True))

    def _stop_reason(self, started: float) -> StopReason | None:
        budget = self.budget
        if self.evaluations >= budget.max_nodes:
            return "max_nodes"
        if budget.max_seconds is not None and self._clock() - started >= budget.max_seconds:
            return "max_seconds"
        if budget.max_tokens is not None and self._tokens is not None:
            if self._tokens() >= budget.max_tokens:
                return "max_tokens"
        return None

    async def _select_and_expand(self) -> SearchNode[A] | None:
        """The next node to evaluate, with a virtual loss on its path.

        None when nothing is left to evaluate now: every branch has ended, or the rest is
        waiting for scores already in flight.
        """
        node = self.root
        while True:
            if node is not self.root and node.score is None and not node._pending:
                break  # a child not evaluated yet
            if not node.expanded:
                await self._expand(node)
            open_children = [c for c in node.children if not self._closed(c)]
            if not open_children and self._widenable(node):
                await self._widen(node)
                open_children = [c for c in node.children if not self._closed(c)]
            if not open_children:
                if node is self.root:
                    return None
                # This node just turned out to be a dead end (its expansion or widening
                # found nothing new): it is closed now, so choose again from the root.
                node = self.root
                continue
            node = self._best_child(open_children)
        self._mark_pending(node, +1)
        return node

    def _closed(self, node: SearchNode[A]) -> bool:
        """Nothing to do at or below ``node`` now: ended, or waiting for a score."""
        if node.score is None:
            return bool(node._pending)  # in flight, or else it waits to be evaluated
        if node.terminal:
            return True
        if not node.expanded:
            return False
        return all(self._closed(c) for c in node.children) and not self._widenable(node)

    def _widenable(self, node: SearchNode[A]) -> bool:
        """Whether ``node`` may be asked for more actions now.

        Only when every branch below it has ended (nothing in flight) and it has
        widenings left.
        """
        return (
            node.expanded
            and not node.terminal
            and node.widenings < self.budget.max_widenings
            and not node._pending
            and node.depth < self.budget.max_depth
        )

    def _best_child(self, children: list[SearchNode[A]]) -> SearchNode[A]:
        c = self.budget.exploration
        values = [child.ucb(c) for child in children]
        top = max(values)
        tied = [child for child, v in zip(children, values, strict=True) if v == top]
        return tied[0] if len(tied) == 1 else self._rng.choice(tied)

    async def _expand(self, node: SearchNode[A]) -> None:
        node.expanded = True
        path = node.path()
        if node.depth >= self.budget.max_depth or self._is_terminal(path):
            node.terminal = True
            return
        if not await self._add_children(node, path):
            node.terminal = True  # a dead end: no valid way on

    async def _widen(self, node: SearchNode[A]) -> None:
        node.widenings += 1
        if not await self._add_children(node, node.path()):
            node.widenings = self.budget.max_widenings  # saturated: nothing new comes here

    async def _add_children(self, node: SearchNode[A], path: list[A]) -> int:
        """Ask for ``branching`` actions after ``path``; the valid new ones become children."""
        added = 0
        for action in await self._propose(path, self.budget.branching):
            problem = self._check(path, action)
            if problem is None and any(c.action == action for c in node.children):
                problem = "the same action was proposed twice"
            if problem is not None:
                node.rejected.append((action, problem))
                continue
            child = SearchNode(id=len(self.nodes), parent=node, action=action, depth=node.depth + 1)
            node.children.append(child)
            self.nodes.append(child)
            added += 1
        return added

    def _mark_pending(self, node: SearchNode[A], delta: int) -> None:
        walk: SearchNode[A] | None = node
        while walk is not None:
            walk._pending += delta
            walk = walk.parent

    async def _score(self, node: SearchNode[A]) -> float:
        score = await self._evaluate(node.path())
        if not isinstance(score, int | float) or not 0.0 <= float(score) <= 1.0:
            raise SearchError(
                f"evaluation of {node.path()!r} gave {score!r}, not a score in [0, 1]"
            )
        return float(score)

    def _backpropagate(self, node: SearchNode[A], score: float) -> None:
        self._mark_pending(node, -1)
        node.score = score
        self.evaluations += 1
        walk: SearchNode[A] | None = node
        while walk is not None:
            walk.visits += 1
            walk.value_sum += score
            walk = walk.parent

    def _best(self) -> SearchNode[A]:
        scored = [n for n in self.nodes if n.score is not None]
        if not scored:
            return self.root
        ended = [n for n in scored if n.terminal or self._is_terminal(n.path())]
        pool = ended or scored
        return max(pool, key=lambda n: (n.score or 0.0, -n.id))
