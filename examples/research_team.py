"""A research-briefing team: three researchers in parallel, a writer, an editor.

    orchestra run examples/research_team.py:team "Brief me on heat pumps for old houses"

It runs offline. Until the embedded default model lands (issue 4), the team's model is a
scripted one from ``orchestra.testing`` that plays each agent's part for any goal, so
what you see is the real engine (planning, roles, parallel dispatch, tools, critic,
synthesis) driven by canned model replies. Swap ``model`` for any langchain chat model
(e.g. ``ChatOpenAI(model="gpt-4.1-mini")``) to run it for real.
"""

from __future__ import annotations

import asyncio
import json
import re

from langchain_core.messages import ToolMessage

from orchestra import Role, Team, tool
from orchestra.testing import ScriptedCall, ScriptedChatModel, plan, subtask, tool_call, verdict

NOTES = [
    "background: new technology spreads when it beats the old way on cost and convenience.",
    "background: most adoption starts with pilots run by motivated early users.",
    "costs: upfront costs are often high; running costs and subsidies decide the payback time.",
    "benefits: measured pilots usually report savings in time, money or emissions.",
    "risks: skilled people are scarce, so installation and support can lag behind demand.",
    "risks: results vary by site; measure before and after instead of trusting averages.",
]


@tool
async def search_notes(query: str) -> list[str]:
    """Search the team's research notes; returns the best matching notes."""
    await asyncio.sleep(0.2)  # a real search service takes a while
    words = set(re.findall(r"[a-z]{4,}", query.lower()))
    scored = sorted(NOTES, key=lambda n: -len(words & set(re.findall(r"[a-z]{4,}", n.lower()))))
    return scored[:2]


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


def _tool_results(call: ScriptedCall) -> list[str]:
    """Tool outputs in the conversation, without orchestra's <tool_result> wrapper."""
    return [
        str(m.content).split(">", 1)[1].split("</tool_result>", 1)[0].strip()
        for m in call.messages
        if isinstance(m, ToolMessage)
    ]


def _task_title(call: ScriptedCall) -> str:
    found = re.search(r"Your task \([^)]+\): (.+)", call.prompt)
    return found.group(1).strip() if found else ""


def _inputs(call: ScriptedCall) -> list[str]:
    return re.findall(r"Result of '[^']+' \([^)]+\):\n(.+?)(?:\n\n|$)", call.prompt, re.S)


def planner(call: ScriptedCall) -> dict[str, object]:
    goal = call.goal or "the goal"
    return plan(
        subtask(
            "background",
            "Background",
            f"Collect background facts for: {goal}",
            criteria=["cites the notes"],
            role="researcher",
        ),
        subtask(
            "costs",
            "Costs and benefits",
            f"Find costs and benefits for: {goal}",
            criteria=["names a cost and a benefit"],
            role="researcher",
        ),
        subtask(
            "risks",
            "Risks",
            f"Find risks and open questions for: {goal}",
            criteria=["names at least one risk"],
            role="researcher",
        ),
        subtask(
            "write",
            "Write the briefing",
            "Write a 3-part briefing from the research.",
            deps=["background", "costs", "risks"],
            criteria=["three parts"],
            role="writer",
        ),
        subtask(
            "check",
            "Check the length",
            "Check the briefing stays under 200 words.",
            deps=["write"],
            criteria=["reports a word count"],
            role="editor",
        ),
    )


def researcher(call: ScriptedCall) -> object:
    found = _tool_results(call)
    if not found:
        return tool_call("search_notes", {"query": _task_title(call)})
    notes = json.loads(found[-1])
    return "Findings: " + " ".join(n.split(": ", 1)[1] for n in notes)


def writer(call: ScriptedCall) -> str:
    parts = [p.strip() for p in _inputs(call)]
    names = ["Background", "Costs and benefits", "Risks"]
    pairs = zip(names, parts, strict=False)
    return "\n".join(f"{i}. {name}: {text}" for i, (name, text) in enumerate(pairs, 1))


def editor(call: ScriptedCall) -> object:
    counted = _tool_results(call)
    if not counted:
        return tool_call("word_count", {"text": " ".join(_inputs(call))})
    return f"The briefing has {counted[-1]} words, within the 200-word limit."


def synthesizer(call: ScriptedCall) -> str:
    briefing = re.search(r"## Write the briefing \(write\)\n(.+?)(?:\n\n## |$)", call.prompt, re.S)
    return (
        f"Briefing: {(call.goal or 'the goal')}\n\n{briefing.group(1).strip() if briefing else ''}"
    )


model = ScriptedChatModel(
    {
        "planner": planner,
        "executor:researcher": researcher,
        "executor:writer": writer,
        "executor:editor": editor,
        "critic": verdict("pass", "Meets the acceptance criteria."),
        "synthesizer": synthesizer,
    },
    latency=0.05,
)

team = Team(
    model,
    tools=[search_notes, word_count],
    roles=[
        Role(
            name="researcher",
            instructions="Find facts with search_notes; cite them.",
            tools=["search_notes"],
            description="finds and summarizes facts",
        ),
        Role(
            name="writer",
            instructions="Write clear, short briefings.",
            description="writes prose from research",
        ),
        Role(
            name="editor",
            instructions="Check length and clarity.",
            tools=["word_count"],
            description="checks length and style",
        ),
    ],
    max_depth=2,
    max_parallel=4,
    name="research-team",
)

if __name__ == "__main__":
    result = team.run("Brief me on heat pumps for old houses")
    print(result.output)
