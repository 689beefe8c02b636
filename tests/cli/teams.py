"""Teams for the CLI tests, loaded by ``orchestra ... tests/cli/teams.py:NAME``.

Their models are scripted, so every run is the same, offline.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel

from orchestra import Team, tool
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict
from orchestra.tools.mcp import mcp_server

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31m[/INST] [/bold] [link=x]\x9b1;1H\r"
"""Escape sequences (title, clear screen, colour, 8-bit CSI), a carriage return and Rich
markup, as a model or a goal could carry them."""

SECRET = "sk-ant-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
"""Shaped like an Anthropic key: the redactor knows the shape."""


def _script(answer: str, title: str = "Collect facts") -> dict[str, object]:
    return {
        "planner": [plan(subtask("collect", title))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor": f"facts {answer}",
        "critic": verdict("pass"),
        "synthesizer": f"answer {answer}",
    }


def hostile() -> Team:
    """Model output full of escape sequences and markup, in a title and the answer."""
    return Team(ScriptedChatModel(_script(HOSTILE, f"title {HOSTILE}")), name="hostile")


def secretive() -> Team:
    """A model that repeats a secret in its result and answer, across a line's cut at 60."""
    return Team(ScriptedChatModel(_script(f"{'padding ' * 5}key {SECRET}")), name="secretive")


def plain() -> Team:
    """One task, one answer."""
    return Team(ScriptedChatModel(_script("done")), name="plain")


def partial() -> Team:
    """One branch fails for good, the other finishes: the run is partial."""
    script = {
        "planner": [plan(subtask("good", "Good branch"), subtask("bad", "Bad branch"))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor": "some result",
        "critic@bad": verdict("retry", "not good enough"),
        "critic": verdict("pass"),
        "synthesizer": "what we have",
    }
    return Team(ScriptedChatModel(script), max_attempts=1, max_replans_per_node=0, name="partial")


def missing_server() -> Team:
    """A team whose MCP server's command does not exist: it fails as the run starts."""
    return Team(
        ScriptedChatModel(_script("never")),
        tools=[mcp_server("/nonexistent/mcp-server --stdio")],
        name="missing-server",
    )


@tool
def block() -> str:
    """Say that the tool started, then wait until the process is killed."""
    print("TOOL STARTED", flush=True)
    threading.Event().wait()
    return "never"


def blocking() -> Team:
    """A team whose only task calls a tool that never returns."""
    script = _script("never") | {"executor": [tool_call("block", {})]}
    script["role_designer"] = role_spec("worker", "Do it.", ["block"])
    return Team(ScriptedChatModel(script), tools=[block], name="blocking")


class Verdicts(BaseModel):
    """A typed answer for the CLI's tests."""

    best: str
    scores: dict[str, float]


def typed() -> Team[Verdicts]:
    """A team whose answer is a ``Verdicts``."""
    script = _script("unused")
    script["synthesizer"] = '{"best": "heat pump", "scores": {"heat pump": 0.9, "boiler": 0.4}}'
    return Team(ScriptedChatModel(script), output_type=Verdicts, name="typed")


def unverified() -> Team:
    """A team whose result fails its check on every attempt, kept unverified (fallbacks)."""

    def cites(task: object, result: str) -> str | None:
        return None if "[source]" in result else "the result cites no source"

    script = _script("unused")
    script["synthesizer"] = "the answer [source]"
    return Team(
        ScriptedChatModel(script), checks=[cites], fallbacks=True, max_attempts=2, name="unv"
    )


def failing() -> Team:
    """Its only task never passes: the run fails without an answer."""
    script = {
        "planner": [plan(subtask("only", "The only task"))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor": "not it",
        "critic": verdict("retry", "never good enough"),
        "synthesizer": "unused",
    }
    return Team(ScriptedChatModel(script), max_attempts=1, max_replans_per_node=0, name="failing")
