"""A team that asks for approval, for the CLI tests (loaded afresh by every command).

``send_email`` requires approval; each real call appends a line to
``$ORCHESTRA_HOME/outbox.txt``. The executor's replies depend only on the conversation,
so a run resumed by another command (a fresh model) answers the same way.
"""

from __future__ import annotations

import os
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


@tool(side_effects=True, requires_approval=True)
def send_email(to: str, body: str) -> str:
    """Send an email."""
    with (Path(os.environ["ORCHESTRA_HOME"]) / "outbox.txt").open("a") as outbox:
        outbox.write(f"{to}: {body}\n")
    return f"sent to {to}"


def mailer(call: ScriptedCall) -> object:
    results = [m for m in call.messages if isinstance(m, ToolMessage)]
    if results:
        return f"{call.task_id} done: {results[-1].text[:80]}"
    return tool_call("send_email", {"to": "ann@example.com", "body": "the report"})


SCRIPT = {
    "planner": [
        plan(
            subtask("draft", "Draft the report"),
            subtask("check", "Check the figures"),
            subtask("send", "Send the report", deps=["draft", "check"]),
        )
    ],
    "role_designer": role_spec("mailer", "Do the task.", ["send_email"]),
    "executor@draft": "the draft",
    "executor@check": "figures ok",
    "executor@send": mailer,
    "critic": verdict("pass"),
    "synthesizer": "report sent",
}

team = Team(
    ScriptedChatModel(SCRIPT),
    tools=[send_email],
    approve_plan=True,
    name="approval-team",
)
