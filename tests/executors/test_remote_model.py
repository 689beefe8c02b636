"""A model hosted in a Ray actor: built there, called from the team's agents."""

from __future__ import annotations

import functools
import os

import pytest

from orchestra import Role, RunStatus
from orchestra.executors import RayExecutor, RemoteModel
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)
from tests.conftest import make_team
from tests.executors.ray_tools import square

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _hosted_executor(call: ScriptedCall) -> object:
    """The executor's replies, made in whatever process hosts the model."""
    results = [m for m in call.messages if m.type == "tool"]
    if not results:
        return tool_call("square", {"n": 7})
    return f"{results[-1].content} (answered in {os.getpid()})"


def _hosted_script() -> dict[str, object]:
    return {"executor": _hosted_executor, "critic": verdict("pass")}


async def test_a_role_on_a_remote_model_runs_its_calls_in_the_actor(ray_executor: RayExecutor):
    remote = RemoteModel(
        factory=functools.partial(ScriptedChatModel, _hosted_script()),
        num_cpus=0,
        executor=ray_executor,
    )
    worker = Role(name="worker", instructions="Do it.", tools=["square"], model=remote)
    script = {
        "planner": [plan(subtask("t", role="worker"))],
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, local = make_team(
        script, tools=[square], roles=[worker], checkpointer="memory", history=False
    )
    try:
        result = await team.arun("square seven")
    finally:
        remote.close()
    assert result.status is RunStatus.SUCCEEDED, result.reason
    answer = str(result.tree.get("t").result)
    assert answer.startswith("7^2 = 49") or "7^2 = 49" in answer
    pid = int(answer.rsplit("answered in ", 1)[1].rstrip(")"))
    assert pid != os.getpid()  # the model lived in the actor
    assert not local.calls_for("executor", "t")  # the team's own model was not asked
    [call] = result.tool_calls
    assert call.ok and call.tool == "square"


async def test_structured_calls_reach_the_hosted_models_schema_decoding(
    ray_executor: RayExecutor,
):
    remote = RemoteModel(
        factory=functools.partial(ScriptedChatModel, _hosted_script()),
        num_cpus=0,
        executor=ray_executor,
    )
    script = {
        "planner": [plan(subtask("t"))],
        "role_designer": role_spec("w", "Do it.", ["square"]),
        "executor": "local answer",
        "synthesizer": "done",
    }
    team, _ = make_team(
        script,
        tools=[square],
        models={"critic": remote},
        checkpointer="memory",
        history=False,
    )
    try:
        result = await team.arun("square seven")
    finally:
        remote.close()
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert [v.verdict for v in result.tree.get("t").verdicts] == ["pass"]
