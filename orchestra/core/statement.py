"""A goal refined into a structured task statement (``Team(refine_goal=True)``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["TaskStatement"]

Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class TaskStatement(BaseModel):
    """What the request asks for, stated so the planner and the critic can work to it.

    Made by the refiner from the user's raw request; the planner plans against it, every
    agent sees it next to the goal, and the critic judges results with its constraints
    and acceptance criteria in view.
    """

    model_config = ConfigDict(frozen=True)

    objective: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)
    ]
    """The outcome wanted, in one or two sentences."""
    constraints: list[Item] = Field(default_factory=list, max_length=8)
    """Limits the work must respect (scope, sources, format, length, things to avoid)."""
    deliverables: list[Item] = Field(min_length=1, max_length=8)
    """What the final answer must contain."""
    acceptance_criteria: list[Item] = Field(min_length=1, max_length=8)
    """Checks the final answer must pass."""

    def render(self) -> str:
        """The statement as prompt text, one labelled block per part."""
        lines = [f"Objective: {self.objective}"]
        for label, items in (
            ("Constraints", self.constraints),
            ("Deliverables", self.deliverables),
            ("Acceptance criteria for the whole goal", self.acceptance_criteria),
        ):
            if items:
                lines.append(f"{label}:")
                lines.extend(f"- {item}" for item in items)
        return "\n".join(lines)
