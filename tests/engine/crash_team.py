"""A team for the kill-and-resume test, run by the CLI in a child process.

Every model call is noted in ``$MODEL_CALLS_FILE``. ``send_email`` has side effects:
every real execution appends a line to ``$CALLS_FILE``.
With ``CRASH_HOLD=1``, ``hold`` tells the test (over a socket on 127.0.0.1) that its task
is in the middle of its attempt and then never returns, so the test can kill the process
there; without it, ``hold`` returns at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

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


@tool(side_effects=True)
def send_email(to: str) -> str:
    """Send an email."""
    with Path(os.environ["CALLS_FILE"]).open("a") as calls:
        calls.write(f"{to}\n")
    return f"sent to {to}"


@tool
async def hold(task: str) -> str:
    """Wait for the test's go-ahead (never comes in a crash run)."""
    if os.environ.get("CRASH_HOLD") != "1":
        return "released"
    port = int(os.environ["CRASH_PORT"])
    loop = asyncio.get_running_loop()
    # SIGUSR1: print every asyncio task's stack (how a test shows where a run hangs)
    signal.signal(signal.SIGUSR1, lambda *_: [t.print_stack() for t in asyncio.all_tasks(loop)])
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(f"holding {task}\n".encode())
    await asyncio.Event().wait()
    return "unreachable"


def logged(reply: object) -> object:
    """The reply, after noting ``agent task`` in ``$MODEL_CALLS_FILE`` (one line a call)."""

    def answer(call: ScriptedCall) -> object:
        with Path(os.environ["MODEL_CALLS_FILE"]).open("a") as log:
            log.write(f"{call.agent} {call.task_id}\n")
        return reply

    return answer


SCRIPT = {
    "planner": [
        plan(
            subtask("a"),
            subtask("b"),
            subtask("c", deps=["a"]),
            subtask("d", deps=["a", "b"]),
            subtask("e", deps=["c", "d"]),
        )
    ],
    "role_designer": role_spec("clerk", "Do the task.", ["send_email", "hold"]),
    "executor@a": [tool_call("send_email", {"to": "a@example.org"}), "a done"],
    "executor@b": ["b done"],
    # c sends its email, then is held mid-attempt until the process is killed
    "executor@c": [
        tool_call("send_email", {"to": "c@example.org"}),
        tool_call("hold", {"task": "c"}),
        "c done",
    ],
    "executor@d": ["d done"],
    "executor@e": ["e done"],
    "critic": verdict("pass"),
    "synthesizer": "all done",
}

LOGGED = {
    key: [logged(r) for r in value] if isinstance(value, list) else logged(value)
    for key, value in SCRIPT.items()
}

team = Team(ScriptedChatModel(LOGGED), tools=[send_email, hold], name="crash-team")
