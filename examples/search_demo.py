"""Workflow search for one role, scored by a checker instead of the critic.

    orchestra run examples/search_demo.py:team "Book an offsite venue for 12 people" --json
    orchestra report RUN_ID    # the search tree under "Workflow searches"

The ``scout`` role searches (``Role(search=WorkflowSearch(...))``); the ``writer`` does
not. The scout's model, sampled three ways, either guesses a venue without asking for a
quote, or quotes one of two venues; only one of them fits the budget. The search's
scorer checks an answer against the quote tool itself (the venue, the price, the
budget), so the answer chosen is one the numbers back, whichever the model liked best.
The model is scripted (``orchestra.testing``) so the demo runs the same way offline
every time; with a real model the scorer stays the same.
"""

from __future__ import annotations

import re

from orchestra import Role, Team, WorkflowSearch, tool
from orchestra.core.search_tree import SearchBudget
from orchestra.testing import ScriptedCall, ScriptedChatModel, plan, subtask, tool_call, verdict

BUDGET_EUR = 5000
PRICES_PER_PERSON = {"Harbor Hall": 520, "Mill Loft": 340}
_ANSWER = re.compile(r"venue: (?P<venue>[A-Za-z ]+), price: (?P<price>\d+) EUR")


def quote_for(venue: str, people: int) -> int | None:
    """The price of ``venue`` for ``people``, or None for a venue we cannot book."""
    per_person = PRICES_PER_PERSON.get(venue)
    return None if per_person is None else per_person * people


@tool
def venue_quote(venue: str, people: int) -> str:
    """A binding price quote for a venue and a number of people."""
    price = quote_for(venue, people)
    if price is None:
        return f"{venue} is not bookable"
    return f"venue: {venue}, price: {price} EUR"


def within_budget(answer: str) -> float:
    """1 for a quoted venue within budget, 0.3 for one over it, 0 for anything unquoted."""
    found = _ANSWER.search(answer)
    if found is None:
        return 0.0
    quoted = quote_for(found["venue"], 12)
    if quoted is None or quoted != int(found["price"]):
        return 0.0  # a guess, or a price the quote does not back
    return 1.0 if quoted <= BUDGET_EUR else 0.3


def _scout(call: ScriptedCall) -> object:
    quotes = [m for m in call.messages if m.type == "tool"]
    if quotes:
        return str(quotes[-1].content)  # report the quote as it came
    if call.sample % 3 == 1:
        return tool_call("venue_quote", {"venue": "Harbor Hall", "people": 12})
    if call.sample % 3 == 2:
        return tool_call("venue_quote", {"venue": "Mill Loft", "people": 12})
    return "venue: Grand Palace, price: 4000 EUR"  # a confident guess, never quoted


SCRIPT = {
    "planner": plan(
        subtask(
            "venue",
            "Choose the venue",
            f"Find a venue for 12 people within {BUDGET_EUR} EUR, with a quote.",
            criteria=["a quoted price within budget"],
            role="scout",
        ),
        subtask(
            "invite",
            "Write the invitation",
            "Write a short invitation naming the venue.",
            deps=["venue"],
            role="writer",
        ),
    ),
    "executor:scout": _scout,
    "executor:writer": lambda call: (
        "Join us for the offsite! "
        + next((m for m in re.findall(r"venue: [^\n]+", call.prompt)), "(venue to follow)")
    ),
    "critic": verdict("pass", "Meets the criteria."),
    "synthesizer": lambda call: (
        call.last.split("Results of the team's tasks:", 1)[-1].split("\n\nNow write", 1)[0].strip()
    ),
}

team = Team(
    model=ScriptedChatModel(SCRIPT),
    tools=[venue_quote],
    roles=[
        Role(
            name="scout",
            instructions="Find options and back every price with a quote.",
            tools=["venue_quote"],
            search=WorkflowSearch(
                scorer=within_budget,
                budget=SearchBudget(max_nodes=6, max_depth=3, branching=3, parallel=2),
                seed=0,
            ),
        ),
        Role(name="writer", instructions="Write short, friendly messages."),
    ],
    name="search-demo",
)
