"""A team that asks a person first: it shows its plan, and each email waits for a yes.

    orchestra run examples/approval_demo.py:team "Send the quarterly report to Ann"

On a terminal the run asks at each pause ([a]pprove, [r]eject or [e]dit: the plan opens
in $EDITOR as JSON). Elsewhere it stops with exit code 4 and the commands that go on,
from any process::

    orchestra approve examples/approval_demo.py:team ID --drop check
    orchestra approve examples/approval_demo.py:team ID --args '{"to": "bob@x.org", "body": "x"}'
    orchestra reject examples/approval_demo.py:team ID --reason "not yet"

``send_email`` requires approval and "sends" by appending a line to
``$ORCHESTRA_HOME/outbox.txt`` (``.orchestra/outbox.txt``). The model is scripted
(``orchestra.testing``) so the demo runs the same way offline, every time; its replies
depend only on the conversation, so a run resumed by another command goes on alike.
"""

from __future__ import annotations

from langchain_core.messages import ToolMessage

from orchestra import Team, tool
from orchestra.core.home import orchestra_home
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
    orchestra_home().mkdir(parents=True, exist_ok=True)
    with (orchestra_home() / "outbox.txt").open("a") as outbox:
        outbox.write(f"{to}: {body}\n")
    return f"sent to {to}"


def mailer(call: ScriptedCall) -> object:
    results = [m for m in call.messages if isinstance(m, ToolMessage)]
    if results:
        return f"{call.task_id} done: {results[-1].text[:80]}"
    return tool_call("send_email", {"to": "ann@example.com", "body": "the report"})


SCRIPT = {
    "planner": plan(  # the same plan for every run (a served team runs many)
        subtask("draft", "Draft the report"),
        subtask("check", "Check the figures"),
        subtask("send", "Send the report", deps=["draft", "check"]),
    ),
    "role_designer": role_spec("mailer", "Do the task.", ["send_email"]),
    "executor@draft": "the draft",
    "executor@check": "figures ok",
    "executor@send": mailer,
    "executor": lambda call: f"{call.task_id} done",  # tasks a person adds to the plan
    "critic": verdict("pass"),
    "synthesizer": "report sent",
}

team = Team(
    ScriptedChatModel(SCRIPT),
    tools=[send_email],
    approve_plan=True,
    name="approval-demo",
)
