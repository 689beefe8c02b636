"""The plan critic: scores candidate plans against the goal and chooses one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, StringConstraints

from orchestra.agents.calls import AgentCall, ask_structured
from orchestra.agents.context import goal_request
from orchestra.agents.prompts import render
from orchestra.core.plan import DraftTask
from orchestra.core.plan_selection import PlanCandidate
from orchestra.core.tree import ROOT_ID, TaskTree

__all__ = ["PlanChoice", "PlanScore", "choice_errors", "choose_plan", "outline"]

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]


class PlanScore(BaseModel):
    """The critic's score of one candidate."""

    candidate: str
    score: float = Field(ge=0, le=1)
    reason: Reason


class PlanChoice(BaseModel):
    """The critic's scores of every candidate and the one it chose."""

    scores: list[PlanScore] = Field(min_length=1)
    choice: str
    reason: Reason


def outline(tasks: Sequence[DraftTask], prefix: str = "") -> str:
    """A plan as numbered lines: title, description, dependencies, subtasks indented."""
    lines = []
    for n, task in enumerate(tasks, 1):
        number = f"{prefix}{n}"
        after = f" (after: {', '.join(task.depends_on)})" if task.depends_on else ""
        lines.append(f"{number}. [{task.id}] {task.title}: {task.description}{after}")
        if task.subtasks:
            lines.append(outline(task.subtasks, f"{number}."))
    return "\n".join(lines)


def choice_errors(choice: PlanChoice, labels: Sequence[str]) -> list[str]:
    """What makes the critic's answer unusable (for the repair loop).

    Every candidate must be scored once, the choice must be a candidate, and among the
    best scored.
    """
    errors = []
    scored = [s.candidate for s in choice.scores]
    missing = [label for label in labels if label not in scored]
    unknown = sorted({c for c in scored if c not in labels})
    repeated = sorted({c for c in scored if scored.count(c) > 1})
    if missing:
        errors.append(f"scores miss candidate(s) {missing}: score every candidate once")
    if unknown:
        errors.append(f"scores name unknown candidate(s) {unknown}; the candidates: {list(labels)}")
    if repeated:
        errors.append(f"candidate(s) {repeated} scored more than once")
    if choice.choice not in labels:
        errors.append(f"choice {choice.choice!r} is not one of the candidates {list(labels)}")
    elif not errors:
        best = max(s.score for s in choice.scores)
        mine = next(s.score for s in choice.scores if s.candidate == choice.choice)
        if mine < best:
            errors.append(
                f"choice {choice.choice!r} scored {mine}, below the best score {best}:"
                " choose a best-scored candidate, or change the scores"
            )
    return errors


def choice_schema(labels: Sequence[str]) -> dict[str, Any]:
    """:class:`PlanChoice`'s JSON schema with the candidates' labels as the only names.

    It has a title: providers that answer through a forced function call (OpenAI's,
    Anthropic's) name the function after it.
    """
    names = {"type": "string", "enum": list(labels)}
    reason = {"type": "string", "minLength": 1, "maxLength": 400}
    return {
        "title": "PlanChoice",
        "description": "Scores of every candidate plan and the one chosen.",
        "type": "object",
        "properties": {
            "scores": {
                "type": "array",
                "minItems": len(labels),
                "maxItems": len(labels),
                "items": {
                    "type": "object",
                    "properties": {
                        "candidate": names,
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                        "reason": reason,
                    },
                    "required": ["candidate", "score", "reason"],
                },
            },
            "choice": names,
            "reason": reason,
        },
        "required": ["scores", "choice", "reason"],
    }


async def choose_plan(
    model: BaseChatModel,
    tree: TaskTree,
    candidates: Sequence[PlanCandidate],
    *,
    k: int,
    max_repairs: int = 2,
) -> PlanChoice:
    """The critic's scores and choice among ``candidates`` (drawn from ``k`` samples).

    Raises:
        ModelBehaviorError: the answer stayed invalid after ``max_repairs`` repairs.
    """
    labels = [c.label for c in candidates]
    blocks = [
        f"Plan {c.label} (drawn {len(c.samples)} of {k} times; {round(100 * c.agreement)}%"
        f" of its tasks also in other samples):\n{outline(c.draft.tasks)}"
        for c in candidates
    ]
    human = (
        f"{goal_request(tree)}\n\nCandidate plans:\n\n"
        + "\n\n".join(blocks)
        + f"\n\nScore plans {', '.join(labels)} and choose one."
    )
    return await ask_structured(
        model,
        [SystemMessage(content=render("plan_critic")), HumanMessage(content=human)],
        PlanChoice,
        AgentCall(agent="plan_critic", task_id=ROOT_ID),
        check=lambda choice: choice_errors(choice, labels),
        json_schema=choice_schema(labels),
        max_repairs=max_repairs,
    )
