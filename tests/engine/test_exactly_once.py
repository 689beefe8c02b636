"""Side-effecting calls in flight when a run stops: idempotency keys and ``on_interrupted``.

A run is stopped here by cancelling it while a tool holds after its effect (in process;
``test_kill_resume.py`` does the same with SIGKILL): the call is then logged as started
and never as completed, which is what a resume sees after a kill.
"""

from __future__ import annotations

import asyncio

import pytest

from orchestra import ConfigError, RunStatus, Team, ToolSet, tool
from orchestra.core.approval import Approve, Reject
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict
from orchestra.tools import IdempotencyKey, options_of
from orchestra.tools.definitions import tool_definition
from orchestra.tools.invoke import call_tool
from tests.conftest import GUARD_S


class _Payments:
    """An outside system that dedupes by idempotency key, as payment APIs do."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.applied: dict[str, int] = {}
        self.hold = True
        self.holding = asyncio.Event()

    async def charge(self, cents: int, key: str) -> str:
        self.requests.append(key)
        self.applied.setdefault(key, cents)  # the effect, once per key
        if self.hold:  # the window between the effect and the return
            self.holding.set()
            await asyncio.Event().wait()  # until the run is stopped
        return f"charged {cents} ({key})"


def _team(
    payments: _Payments, on_interrupted: str = "retry", *, attempts: int = 2
) -> tuple[Team, ScriptedChatModel]:
    @tool(side_effects=True, on_interrupted=on_interrupted)  # type: ignore[arg-type]
    async def charge(cents: int, key: IdempotencyKey) -> str:
        """Charge the customer."""
        return await payments.charge(cents, key)

    model = ScriptedChatModel(
        {
            "planner": [plan(subtask("a"))],
            "role_designer": role_spec("clerk", "Do the task.", ["charge"]),
            # the attempt starts again on resume: the model asks for the same call again
            "executor@a": [tool_call("charge", {"cents": 500})] * attempts + ["a done"],
            "critic": verdict("pass"),
            "synthesizer": "all done",
        }
    )
    return Team(model, tools=[charge]), model


async def _stopped_mid_effect(team: Team, payments: _Payments, run_id: str) -> None:
    """Run until the charge holds after its effect, then stop the run there."""
    running = asyncio.create_task(team.arun("goal", run_id=run_id))
    await asyncio.wait_for(payments.holding.wait(), GUARD_S)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    payments.hold = False


def _last_executor_prompt(model: ScriptedChatModel) -> str:
    return model.calls_for("executor", "a")[-1].prompt


async def test_a_call_in_flight_runs_again_on_resume_with_the_same_idempotency_key():
    payments = _Payments()
    team, model = _team(payments)
    await _stopped_mid_effect(team, payments, "retry")

    result = await team.aresume("retry")
    assert result.status is RunStatus.SUCCEEDED
    # at least once for the tool (it ran twice), exactly once for the outside system
    assert len(payments.requests) == 2 and payments.requests[0] == payments.requests[1]
    assert list(payments.applied.values()) == [500]
    [call] = result.tool_calls
    assert call.ok and call.interrupted and call.key == payments.requests[0]
    assert call.args == {"cents": 500}  # the key is not an argument of the model's


async def test_skip_tells_the_model_the_call_was_interrupted_and_does_not_repeat_it():
    payments = _Payments()
    team, model = _team(payments, "skip")
    await _stopped_mid_effect(team, payments, "skip")

    result = await team.aresume("skip")
    assert result.status is RunStatus.SUCCEEDED and len(payments.requests) == 1
    [call] = result.tool_calls
    assert not call.ok and call.interrupted and call.error is not None
    assert call.error.startswith("interrupted:")
    assert "may or may not have taken effect" in _last_executor_prompt(model)


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_ask_pauses_for_a_person_who_decides_whether_the_call_runs_again(decision: str):
    payments = _Payments()
    team, model = _team(payments, "ask")
    await _stopped_mid_effect(team, payments, "ask")

    paused = await team.aresume("ask")
    assert paused.status is RunStatus.AWAITING_APPROVAL and len(payments.requests) == 1
    [request] = paused.pending
    assert request.kind == "tool_call" and request.interrupted
    assert request.id == payments.requests[0] and request.args == {"cents": 500}
    assert "in flight" in request.summary

    given = Approve() if decision == "approve" else Reject(reason="it went through")
    result = await team.aresume("ask", decisions=given)
    assert result.status is RunStatus.SUCCEEDED
    [call] = result.tool_calls
    assert call.interrupted
    if decision == "approve":
        assert call.ok and payments.requests == [request.id, request.id]
    else:
        assert not call.ok and payments.requests == [request.id]
        assert "it went through" in _last_executor_prompt(model)


async def test_a_call_that_completed_is_never_taken_for_an_interrupted_one():
    payments = _Payments()
    payments.hold = False
    team, _ = _team(payments, "ask", attempts=1)
    result = await team.arun("goal", run_id="done")
    assert result.status is RunStatus.SUCCEEDED and len(payments.requests) == 1
    assert not result.tool_calls[0].interrupted


def test_the_idempotency_key_parameter_is_hidden_from_the_model():
    @tool(side_effects=True)
    def charge(cents: int, key: IdempotencyKey) -> str:
        """Charge the customer."""
        return key

    assert options_of(charge).idempotency_key_arg == "key"
    assert set(tool_definition(charge)["function"]["parameters"]["properties"]) == {"cents"}
    assert set(charge.args) == {"cents"}  # what the JSON-action prompt describes


async def test_the_model_cannot_set_the_idempotency_key_itself():
    seen: list[str] = []

    @tool(side_effects=True)
    def charge(cents: int, key: IdempotencyKey) -> str:
        """Charge the customer."""
        seen.append(key)
        return "ok"

    outcome = await call_tool(
        "charge",
        {"cents": 1, "key": "forged"},
        available={"charge": charge},
        allowed={"charge"},
        role="r",
        key="k-real",
    )
    assert outcome.ok and seen == ["k-real"] and outcome.args == {"cents": 1}


def test_a_policy_for_interrupted_calls_needs_side_effects():
    def read(q: str) -> str:
        """Read."""
        return q

    with pytest.raises(ConfigError, match="needs side_effects=True"):
        tool(on_interrupted="skip")(read)


def test_a_toolset_method_gets_its_key_and_policy_too():
    class Payments(ToolSet):
        @ToolSet.method(side_effects=True, on_interrupted="ask")
        def charge(self, cents: int, key: IdempotencyKey) -> str:
            """Charge the customer."""
            return key

    [charge] = Payments().tools()
    options = options_of(charge)
    assert options.idempotency_key_arg == "key" and options.on_interrupted == "ask"
    assert set(tool_definition(charge)["function"]["parameters"]["properties"]) == {"cents"}
