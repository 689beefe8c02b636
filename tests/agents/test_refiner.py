"""The refiner's checks, and the refiner on the embedded model."""

from __future__ import annotations

import pytest

from orchestra.agents.refiner import refine_goal, statement_errors
from orchestra.core.statement import TaskStatement

REQUEST = "Write a short poem about autumn for a school newsletter"


def _statement(objective: str, **lists: list[str]) -> TaskStatement:
    return TaskStatement(
        objective=objective,
        constraints=lists.get("constraints", []),
        deliverables=lists.get("deliverables", ["a poem"]),
        acceptance_criteria=lists.get("acceptance_criteria", ["eight lines at most"]),
    )


def test_a_statement_about_the_request_passes():
    good = _statement("A short autumn poem for the school's newsletter.", constraints=["short"])
    assert statement_errors(good, REQUEST) == []


def test_an_objective_about_something_else_is_sent_back():
    copied = _statement("Explain why the sky is blue to a child.")
    [error] = statement_errors(copied, REQUEST)
    assert error.startswith("objective is not about the request")


def test_repeated_items_are_sent_back():
    repeated = _statement("An autumn poem.", deliverables=["a poem", "A poem"])
    assert statement_errors(repeated, REQUEST) == ["deliverables repeats an item: list each once"]


def test_the_statement_renders_every_part_it_has():
    text = _statement("An autumn poem.", constraints=["rhymes"]).render()
    assert text.splitlines() == [
        "Objective: An autumn poem.",
        "Constraints:",
        "- rhymes",
        "Deliverables:",
        "- a poem",
        "Acceptance criteria for the whole goal:",
        "- eight lines at most",
    ]


@pytest.mark.slow
async def test_the_embedded_model_refines_a_request_offline():
    from orchestra.models.resolve import resolve_model

    statement = await refine_goal(resolve_model("embedded"), REQUEST, tools={})
    assert statement.deliverables and statement.acceptance_criteria  # the grammar's minimum
    assert statement_errors(statement, REQUEST) == []
