"""A team whose first attempt at one subtask fails the critic and is re-planned.

    orchestra run examples/replan_demo.py:team "Write a launch note for our new API" --json

The plan: ``collect`` facts (a slow tool) and ``draft`` the note in parallel, then
``publish`` after both. The critic rejects the first draft as unstructured and asks for a
re-plan; the planner replaces ``draft`` (only that branch) with ``outline`` then
``write``, while ``collect`` keeps running; ``collect`` is never re-run and ``publish``
waits for ``write``. The model is scripted (``orchestra.testing``) so that the re-plan
happens on every run, offline; see docs/testing.md.
"""

from __future__ import annotations

import asyncio
import re

from langchain_core.messages import ToolMessage

from orchestra import Team, tool
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)


@tool
async def lookup_facts(topic: str) -> str:
    """Look up facts about a topic in the product database."""
    await asyncio.sleep(0.4)  # a slow service: the re-plan happens while this runs
    return f"Facts about {topic}: released this month; 3 endpoints; free tier of 1000 calls."


def first_plan(call: ScriptedCall) -> dict[str, object]:
    goal = call.goal or "the goal"
    return plan(
        subtask(
            "collect",
            "Collect facts",
            f"Look up the facts needed for: {goal}",
            criteria=["facts come from lookup_facts"],
        ),
        subtask(
            "draft",
            "Draft the text",
            f"Draft the text for: {goal}",
            criteria=["has a headline", "has sections"],
        ),
        subtask(
            "publish",
            "Publish",
            "Combine the facts and the text into the final note.",
            deps=["collect", "draft"],
            criteria=["uses the facts"],
        ),
    )


def replacement_plan(call: ScriptedCall) -> dict[str, object]:
    return plan(
        subtask(
            "outline",
            "Outline",
            "Write a headline and three section headings.",
            criteria=["headline and 3 headings"],
        ),
        subtask(
            "write",
            "Write sections",
            "Write each section under its heading.",
            deps=["outline"],
            criteria=["every heading has text"],
        ),
    )


def executor(call: ScriptedCall) -> object:
    if call.task_id == "collect":
        facts = [m for m in call.messages if isinstance(m, ToolMessage)]
        if not facts:
            return tool_call("lookup_facts", {"topic": (call.goal or "the goal")})
        return re.sub(r"</?tool_result[^>]*>|The block above.*", "", str(facts[-1].content)).strip()
    texts = {
        "draft": "our new api is out and it is good and you should try it and tell friends",
        "outline": "Headline: Meet the new API\n- What it is\n- How to start\n- Pricing",
        "write": "Meet the new API. What it is: three endpoints. How to start: get a key. "
        "Pricing: a free tier.",
    }
    if call.task_id in texts:
        return texts[call.task_id]
    return "Launch note: " + " | ".join(
        re.findall(r"Result of '[^']+' \([^)]+\):\n(.+?)(?:\n\n|$)", call.prompt, re.S)
    )


model = ScriptedChatModel(
    {
        "planner": first_plan,
        "planner@draft": [replacement_plan],
        "role_designer": role_spec("writer", "Write and research product notes.", ["lookup_facts"]),
        "executor": executor,
        "critic@draft": [
            verdict(
                "replan",
                "One unstructured run-on sentence with no headline; outline first, then write.",
            )
        ],
        "critic": verdict("pass", "Meets the acceptance criteria."),
        "synthesizer": lambda call: (
            re.split(r"## Publish \(publish\)\n", call.prompt)[-1].split("\n\n## ")[0].strip()
        ),
    },
    latency=0.05,
)

team = Team(model, tools=[lookup_facts], max_parallel=4, name="replan-demo")

if __name__ == "__main__":
    result = team.run("Write a launch note for our new API")
    print(result.to_record().model_dump_json(indent=2))
