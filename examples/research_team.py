"""A research-briefing team: researchers, a writer and an editor, on the default model.

    orchestra run examples/research_team.py:team "Brief me on heat pumps for old houses"

With no model configured this runs offline on the embedded default model (a 135M-parameter
model shipped in a pip package, run by llama.cpp): expect a working run with small-model
prose, in well under a minute on two cores. Point ``ORCHESTRA_MODEL`` at anything better,
e.g. ``ORCHESTRA_MODEL=openai:gpt-4.1-mini`` or ``ORCHESTRA_MODEL=ollama:qwen2.5``.
"""

from __future__ import annotations

import re

from orchestra import Role, Team, tool

NOTES = [
    "background: new technology spreads when it beats the old way on cost and convenience.",
    "background: most adoption starts with pilots run by motivated early users.",
    "costs: upfront costs are often high; running costs and subsidies decide the payback time.",
    "benefits: measured pilots usually report savings in time, money or emissions.",
    "risks: skilled people are scarce, so installation and support can lag behind demand.",
    "risks: results vary by site; measure before and after instead of trusting averages.",
]


@tool
def search_notes(query: str) -> list[str]:
    """Search the team's research notes; returns the two best matching notes."""
    words = set(re.findall(r"[a-z]{4,}", query.lower()))
    scored = sorted(NOTES, key=lambda n: -len(words & set(re.findall(r"[a-z]{4,}", n.lower()))))
    return scored[:2]


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


team = Team(
    tools=[search_notes, word_count],
    roles=[
        Role(
            name="researcher",
            instructions="Find facts with search_notes and report them briefly.",
            tools=["search_notes"],
            description="finds and summarizes facts",
        ),
        Role(
            name="writer",
            instructions="Write a clear, short text from the facts you are given.",
            description="writes prose from research",
        ),
        Role(
            name="editor",
            instructions="Check the length of a text with word_count and report it.",
            tools=["word_count"],
            description="checks length and style",
        ),
    ],
    max_depth=2,
    name="research-team",
)

if __name__ == "__main__":
    result = team.run("Brief me on heat pumps for old houses")
    print(result.output)
