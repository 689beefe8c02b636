"""Typed outputs: ``Team(output_type=...)`` and ``Role(output_type=...)`` on the scripted model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from orchestra import ConfigError, ModelBehaviorError, Role, RunStatus, Team, tool
from orchestra.core.approval import Approve
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect


class Brief(BaseModel):
    title: str
    points: list[str] = Field(min_length=1)


@dataclass
class Figure:
    name: str
    value: float


class Contact(TypedDict):
    name: str
    email: str


def _script(**extra: Any) -> dict[str, Any]:
    return {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"{call.task_id} done",
        "critic": verdict("pass"),
        "synthesizer": json.dumps({"title": "Heat pumps", "points": ["cheap to run"]}),
        **extra,
    }


async def test_a_typed_team_answers_with_a_value_of_its_type():
    team, model = make_team(_script(), output_type=Brief)
    result, events = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == Brief(title="Heat pumps", points=["cheap to run"])
    assert json.loads(result.text or "") == {"title": "Heat pumps", "points": ["cheap to run"]}
    record = result.to_record()
    assert record.typed_output == {"title": "Heat pumps", "points": ["cheap to run"]}
    assert json.loads(record.output or "") == record.typed_output
    # the synthesizer (decoding under the schema) was told the fields; the critic judged
    # the JSON text
    [synth] = model.calls_for("synthesizer")
    assert "an object with title (string), points (array of string)" in synth.prompt
    assert '"Heat pumps"' in model.calls_for("critic", "root")[0].prompt
    [finished] = [e for e in events if e.type == "run_finished"]
    assert json.loads(finished.output or "")["title"] == "Heat pumps"


async def test_an_invalid_typed_answer_is_repaired():
    script = _script(
        synthesizer=[
            json.dumps({"title": "Heat pumps", "points": []}),  # min_length=1
            "Here is the brief: " + json.dumps({"title": "Heat pumps", "points": ["quiet"]}),
        ]
    )
    team, model = make_team(script, output_type=Brief)
    result, _ = await run_collect(team)
    assert result.output == Brief(title="Heat pumps", points=["quiet"])
    calls = model.calls_for("synthesizer")
    assert len(calls) == 2
    assert "points" in calls[1].prompt  # the validation error went back to the model


async def test_a_typed_answer_still_invalid_raises_with_the_raw_replies():
    script = _script(synthesizer=["not json", '{"title": 3}', "nope"])
    team, _ = make_team(script, output_type=Brief, max_repairs=2)
    with pytest.raises(ModelBehaviorError) as caught:
        await team.arun("a goal")
    assert caught.value.raw_outputs == ["not json", '{"title": 3}', "nope"]
    assert caught.value.agent == "synthesizer"


@pytest.mark.parametrize(
    ("output_type", "reply", "expected"),
    [
        (Figure, {"output": {"name": "cop", "value": 3.5}}, Figure("cop", 3.5)),
        (Contact, {"output": {"name": "Ann", "email": "a@x"}}, {"name": "Ann", "email": "a@x"}),
        (list[str], {"output": ["x", "y"]}, ["x", "y"]),
        (int, {"output": 42}, 42),
    ],
)
async def test_dataclasses_typed_dicts_and_plain_types(
    output_type: Any, reply: dict[str, Any], expected: Any
):
    team, _ = make_team(_script(synthesizer=json.dumps(reply)), output_type=output_type)
    result, _ = await run_collect(team)
    assert result.output == expected
    assert result.to_record().typed_output == reply["output"]


def test_a_type_pydantic_cannot_validate_is_a_config_error():
    for wrong in (object(), object, lambda x: x, print):
        with pytest.raises(ConfigError, match="is not a type of answer"):
            Team(ScriptedChatModel({}), output_type=wrong)  # type: ignore[arg-type]

    class Opaque:
        pass

    with pytest.raises(ConfigError, match="pydantic cannot validate") as caught:
        Team(ScriptedChatModel({}), output_type=Opaque)
    assert "arbitrary_types_allowed" not in str(caught.value)
    with pytest.raises(ConfigError, match="role 'r': output_type"):
        Team(ScriptedChatModel({}), roles=[Role(name="r", instructions="x", output_type=3)])


def _typed_role_script(**extra: Any) -> dict[str, Any]:
    return {
        "planner": [plan(subtask("a", role="measurer"), subtask("b", role="writer", deps=["a"]))],
        "executor@a": json.dumps({"output": {"name": "cop", "value": 3.5}}),
        "executor@b": "b used the figure",
        "critic": verdict("pass"),
        "synthesizer": "the answer",
        **extra,
    }


ROLES = [
    Role(name="measurer", instructions="Measure.", output_type=Figure),
    Role(name="writer", instructions="Write."),
]


async def test_a_typed_role_keeps_its_result_typed_and_dependents_read_json():
    team, model = make_team(_typed_role_script(), roles=ROLES)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    a = result.tree.get("a")
    assert a.output == {"name": "cop", "value": 3.5}
    assert json.loads(a.result or "") == a.output
    assert result.tree.get("b").output is None  # the writer's results are text
    [record_a] = [t for t in result.to_record().tasks if t.id == "a"]
    assert record_a.output == {"name": "cop", "value": 3.5}
    # the executor was told the schema; the dependent task read the JSON
    assert '"value"' in model.calls_for("executor", "a")[0].prompt
    assert '"value": 3.5' in model.calls_for("executor", "b")[0].prompt
    assert len(model.calls_for("executor", "a")) == 1  # already JSON: no second call


async def test_a_typed_role_result_in_prose_is_rewritten_under_the_schema():
    script = _typed_role_script(
        **{
            "executor@a": [
                "The coefficient of performance is 3.5.",
                json.dumps({"output": {"name": "cop", "value": 3.5}}),
            ]
        }
    )
    team, model = make_team(script, roles=ROLES)
    result, _ = await run_collect(team)
    assert result.tree.get("a").output == {"name": "cop", "value": 3.5}
    calls = model.calls_for("executor", "a")
    assert len(calls) == 2
    assert "The coefficient of performance is 3.5." in calls[1].prompt


async def test_a_typed_role_result_that_stays_invalid_is_a_failed_attempt():
    script = _typed_role_script(
        **{
            "executor@a": [
                "prose",
                "still prose",  # the rewrite, then its repair round
                "more prose",
                json.dumps({"output": {"name": "cop", "value": 1.0}}),  # the retry
            ]
        }
    )
    team, _ = make_team(script, roles=ROLES, max_repairs=1, max_attempts=2)
    result, _ = await run_collect(team)
    a = result.tree.get("a")
    assert a.attempts == 2 and a.output == {"name": "cop", "value": 1.0}
    assert result.status is RunStatus.SUCCEEDED


SENT: list[str] = []


@tool(side_effects=True, requires_approval=True)
def publish(text: str) -> str:
    """Publish a text."""
    SENT.append(text)
    return "published"


async def test_typed_outputs_survive_checkpoint_and_resume(tmp_path):
    script = _typed_role_script(
        **{
            "executor@b": lambda call: (
                "published it"
                if "published" in call.prompt
                else tool_call("publish", {"text": "cop 3.5"})
            ),
            "synthesizer": json.dumps({"title": "COP", "points": ["3.5"]}),
        }
    )
    roles = [
        ROLES[0],
        Role(name="writer", instructions="Write.", tools=["publish"]),
    ]
    db = str(tmp_path / "runs.db")

    def team() -> Team[Brief]:
        return Team(
            ScriptedChatModel(script),
            roles=roles,
            tools=[publish],
            output_type=Brief,
            checkpointer=db,
        )

    paused = await team().arun("a goal", run_id="typed-1")
    assert paused.status is RunStatus.AWAITING_APPROVAL
    assert paused.tree.get("a").output == {"name": "cop", "value": 3.5}
    assert paused.output is None
    [request] = paused.pending
    done = await team().aresume("typed-1", decisions={request.id: Approve()})  # a new process
    assert done.status is RunStatus.SUCCEEDED
    assert done.output == Brief(title="COP", points=["3.5"])
    assert done.tree.get("a").output == {"name": "cop", "value": 3.5}
    again = await team().aget_run("typed-1")
    assert again.output == done.output


def test_a_model_without_constrained_decoding_is_shown_the_whole_schema():
    from orchestra.core.output_types import output_spec

    spec = output_spec(Brief)
    assert spec.instructions(constrained=True) == (
        "Answer as JSON: an object with title (string), points (array of string)."
    )
    shown = spec.instructions()
    assert '"minItems": 1' in shown and '"required": ["title", "points"]' in shown
    assert output_spec(Figure).fields() == "output (object)"
