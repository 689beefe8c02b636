"""A team for the exactly-once kill test, run by the CLI in child processes.

``send_email`` cooperates: it passes its call's idempotency key to an outside system (a
SQLite file, ``$EFFECTS_DB``) that applies each key's effect once, as payment APIs do, and
notes every request. After the effect it appends ``key recipient`` to
``$EFFECT_MARKERS``; with ``EFFECT_HOLD=1`` it then holds (never returns) when the effect
was new, so the test can kill the process between the effect and the return.
``$EFFECT_POLICY`` is the tool's ``on_interrupted`` (default ``retry``).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

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
from orchestra.tools import IdempotencyKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (n INTEGER PRIMARY KEY, key TEXT, recipient TEXT);
CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, recipient TEXT);
"""


def _apply(key: str, recipient: str) -> bool:
    """The outside system: note the request, apply its effect once per key; new or not."""
    with closing(sqlite3.connect(os.environ["EFFECTS_DB"], timeout=30)) as db, db:
        db.executescript(SCHEMA)
        db.execute("INSERT INTO requests (key, recipient) VALUES (?, ?)", (key, recipient))
        cursor = db.execute(
            "INSERT OR IGNORE INTO effects (key, recipient) VALUES (?, ?)", (key, recipient)
        )
        return cursor.rowcount == 1


@tool(side_effects=True, on_interrupted=os.environ.get("EFFECT_POLICY", "retry"))  # type: ignore[arg-type]
async def send_email(to: str, key: IdempotencyKey) -> str:
    """Send an email."""
    new = _apply(key, to)
    with Path(os.environ["EFFECT_MARKERS"]).open("a") as markers:  # noqa: ASYNC230
        markers.write(f"{key} {to}\n")
    if new and os.environ.get("EFFECT_HOLD") == "1":
        await asyncio.Event().wait()  # the effect is out; the return never comes
    return f"sent to {to}"


def _sends(*recipients: str) -> Callable[[ScriptedCall], object]:
    """The executor of a task: one email after another, then done.

    It reads the conversation, not a turn counter, as each process has a model of its own
    and a paused attempt goes on from its conversation in another process.
    """

    def reply(call: ScriptedCall) -> object:
        made = sum(isinstance(m, ToolMessage) for m in call.messages)
        if made < len(recipients):
            return tool_call("send_email", {"to": recipients[made]})
        return "done"

    return reply


RECIPIENTS = ["a1@example.org", "a2@example.org", "b1@example.org", "c1@example.org"]

SCRIPT = {
    "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["a", "b"]))],
    "role_designer": role_spec("clerk", "Do the task.", ["send_email"]),
    "executor@a": _sends("a1@example.org", "a2@example.org"),
    "executor@b": _sends("b1@example.org"),
    "executor@c": _sends("c1@example.org"),
    "critic": verdict("pass"),
    "synthesizer": "all sent",
}

team = Team(ScriptedChatModel(SCRIPT), tools=[send_email], name="effect-team")
