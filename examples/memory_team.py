"""A team with a shared memory that carries what one run learned into the next.

    orchestra run examples/memory_team.py:team "What does the premium plan cost?"
    orchestra run examples/memory_team.py:team "Remind me: how much is premium per year?"
    orchestra memory search "premium price" --team memory-team

The store lives in .orchestra/memory (or on a chromadb server: ORCHESTRA_MEMORY_URL). The
pricing sheet below is loaded once; each run's finished results are written back with their
provenance, and the executors of later runs receive them with their task. The model is
``ORCHESTRA_MODEL`` or the embedded default.
"""

from __future__ import annotations

from orchestra import Role, Team
from orchestra.memory import Memory

memory = Memory.from_env()
memory.add_documents(
    {
        "pricing sheet": (
            "The basic plan costs 10 euros a month.\n\n"
            "The premium plan costs 30 euros a month, or 300 euros a year.\n\n"
            "Teams of more than 20 people get a 15 percent discount."
        )
    },
    team="memory-team",
)  # stored once: loading the same text again adds nothing

team = Team(
    roles=[
        Role(
            name="analyst",
            instructions="Answer from the memories you are given; say which one you used.",
            description="answers questions from the team's memory",
            memory_write=("run", "team"),
        )
    ],
    memory=memory,
    max_depth=1,
    max_tasks_per_level=3,  # a question needs a few steps, not eight
    name="memory-team",
)

if __name__ == "__main__":
    for goal in ("What does the premium plan cost?", "How much is premium per year?"):
        result = team.run(goal)
        print(goal, "->", result.output)
