"""The record tells the truth about spent work, whatever stopped an attempt (issue 19.10)."""

from __future__ import annotations

import asyncio

from langchain_core.messages import ToolMessage

from orchestra import RunStatus, TaskStatus, Team, tool
from orchestra.core.budget import Budget
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import GUARD_S, make_team


def _emails_then_done(count: int):  # noqa: ANN202 - a script reply
    """An executor that sends ``count`` emails, one a step, then answers (by the conversation)."""

    def reply(call: ScriptedCall) -> object:
        sent = sum(isinstance(m, ToolMessage) for m in call.messages)
        return tool_call("send_email", {"n": sent + 1}) if sent < count else "all sent"

    return reply


def _mailer(emails: int) -> tuple[Team, list[int]]:
    """A team whose one task sends ``emails`` emails under a budget of 4 tool calls."""
    sent: list[int] = []

    @tool(side_effects=True)
    def send_email(n: int) -> str:
        """Send email number n."""
        sent.append(n)
        return f"sent {n}"

    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("mailer", "Send the emails.", ["send_email"]),
        "executor": _emails_then_done(emails),
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, _ = make_team(script, tools=[send_email], budget=Budget(tool_calls=4))
    return team, sent


async def test_tool_calls_stopped_by_the_budget_stay_on_the_record_and_are_not_repeated():
    team, sent = _mailer(5)
    result = await team.arun("send five emails", run_id="mails")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert sent == [1, 2, 3, 4]  # four emails went out: the record must say so
    assert [(c.tool, c.args, c.ok, c.task_id) for c in result.tool_calls] == [
        ("send_email", {"n": n}, True, "a") for n in (1, 2, 3, 4)
    ]
    a = result.tree.get("a")
    assert a.executions == 1 and a.attempts == 0  # it ran, and no critic judged it
    # four replies (a spent limit stops the next model call too); its role design, one
    # call for the plan, is counted on the root
    assert a.usage.model_calls == 4
    assert team.history is not None
    record = team.history.get("mails").record
    assert record is not None and len(record.tool_calls) == 4

    done = await team.aresume("mails", budget=Budget(tool_calls=10))
    assert done.status is RunStatus.SUCCEEDED
    assert sent == [1, 2, 3, 4, 5]  # the resumed attempt did not send the four again
    calls = [(c.args["n"], c.replayed) for c in done.tool_calls]
    assert calls == [(1, False), (2, False), (3, False), (4, False)] + [
        (1, True),
        (2, True),
        (3, True),
        (4, True),
        (5, False),
    ]
    assert done.tree.get("a").executions == 2 and done.tree.get("a").attempts == 1


async def test_calls_answered_from_the_call_log_do_not_count_against_the_next_budget():
    team, sent = _mailer(6)
    assert (await team.arun("send six emails", run_id="six")).status is RunStatus.BUDGET_EXCEEDED
    again = await team.aresume("six", budget=Budget(tool_calls=5))  # 4 replayed, the 5th sent
    assert again.status is RunStatus.BUDGET_EXCEEDED and sent == [1, 2, 3, 4, 5]
    assert len(again.tool_calls) == 9  # four of them replayed: five ran
    # five ran: a limit of 7 leaves room for the 6th (and, below the limit, the answer)
    done = await team.aresume("six", budget=Budget(tool_calls=7))
    assert done.status is RunStatus.SUCCEEDED and sent == [1, 2, 3, 4, 5, 6]


async def test_tool_calls_of_a_cancelled_attempt_stay_on_the_record():
    blocking = asyncio.Event()
    never = asyncio.Event()
    ran: list[str] = []

    @tool(side_effects=True)
    async def note(text: str) -> str:
        """Write a note."""
        ran.append(text)
        return "noted"

    @tool
    async def wait_for_b() -> str:
        """Wait until b has written its note (and is blocked in its next call)."""
        await asyncio.wait_for(blocking.wait(), GUARD_S)
        return "b wrote"

    @tool
    async def block() -> str:
        """Never returns (until cancelled)."""
        blocking.set()
        await never.wait()
        return "unreachable"

    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Work.", ["note", "wait_for_b", "block"]),
        "executor@a": [tool_call("wait_for_b", {}), "a's answer"],
        "executor@b": [tool_call("note", {"text": "b"}), tool_call("block", {}), "never"],
        "critic@a": verdict("retry", "not good"),
        "synthesizer": "answer",
    }
    team, _ = make_team(script, tools=[note, wait_for_b, block], max_attempts=1, on_failure="stop")
    result = await team.arun("goal")
    assert result.status is RunStatus.FAILED
    b = result.tree.get("b")
    assert b.status is TaskStatus.SKIPPED and "cancelled" in (b.reason or "")
    assert ran == ["b"]
    assert [(c.task_id, c.tool, c.ok) for c in result.tool_calls if c.task_id == "b"] == [
        ("b", "note", True)
    ]
    assert b.executions == 1 and b.usage.model_calls >= 2  # its design and two replies
