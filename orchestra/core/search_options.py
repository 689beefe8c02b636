"""What workflow search does and where: the options a team or a role gives it.

Plain options (the search itself is ``orchestra.agents.workflow_search``): they live in
core so a :class:`~orchestra.core.roles.Role` can carry its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from orchestra.core.search_tree import SearchBudget
from orchestra.core.tree import TaskNode

__all__ = ["Scorer", "WorkflowSearch"]

Scorer = Callable[[str], float | Awaitable[float]]
"""Scores an answer in [0, 1]; may be async."""


def _default_budget() -> SearchBudget:
    return SearchBudget(max_nodes=8, max_depth=4, branching=2, parallel=2)


class WorkflowSearch(BaseModel):
    """Options of workflow search: MCTS over an executor attempt's steps.

    Give it to the team (``Team(search=...)``: every subtask), to a role
    (``Role(search=...)``: that role's subtasks; ``Role(search=False)`` never searches
    them), and narrow it with ``applies_to`` and ``from_attempt``.

    Args:
        budget: evaluations, depth, branching, parallel rollouts, seconds and tokens.
        scorer: scores an answer in [0, 1] (e.g. unit tests for code); default the critic.
        seed: makes the search repeatable with a deterministic model.
        applies_to: which subtasks to search, e.g. ``lambda task: "proof" in task.title``;
            every subtask when None.
        from_attempt: the first attempt that searches. ``2`` keeps the first attempt an
            ordinary one and searches only a subtask the critic sent back, so search is
            paid for only where a single shot failed.
        judgments: verdicts the critic gives on each answer, sampled independently; the
            score is their mean and the majority verdict counts (a tie counts as the
            stricter one). Above 1 it buys a less noisy critic for that many calls per
            answer; no effect with a ``scorer``.
        roles: roles the search chooses among for its first step: the subtask's role
            and ``roles - 1`` more the role designer proposes when sampled again. The
            subtask takes the role whose trajectory gave the chosen answer (its later
            attempts run as that role). 1: only the subtask's role's steps are searched.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    budget: SearchBudget = Field(default_factory=_default_budget)
    scorer: Scorer | None = None
    seed: int = 0
    applies_to: Callable[[TaskNode], bool] | None = None
    from_attempt: int = Field(default=1, ge=1)
    judgments: int = Field(default=1, ge=1, le=9)
    roles: int = Field(default=1, ge=1, le=5)

    def applies(self, task: TaskNode, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) at ``task`` is searched."""
        if attempt < self.from_attempt:
            return False
        return self.applies_to is None or bool(self.applies_to(task))
