"""orchestra.testing: the scripted model users write their tests with."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel

from orchestra import ScriptError, TaskStatus
from orchestra.agents.calls import AgentCall
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect, word_count


def cfg(agent: str, task: str | None = None, role: str | None = None):
    return AgentCall(agent=agent, task_id=task, role=role).config()


async def test_most_specific_key_answers_first_then_falls_through():
    model = ScriptedChatModel(
        {"executor@t1": ["task"], "executor:writer": ["role"], "executor": ["agent"], "*": "any"}
    )
    msgs = [HumanMessage(content="hi")]
    got = [
        (await model.ainvoke(msgs, config=cfg("executor", "t1", "writer"))).text,
        (await model.ainvoke(msgs, config=cfg("executor", "t1", "writer"))).text,
        (await model.ainvoke(msgs, config=cfg("executor", "t1", "writer"))).text,
        (await model.ainvoke(msgs, config=cfg("executor", "t1", "writer"))).text,
        (await model.ainvoke(msgs, config=cfg("critic"))).text,
    ]
    assert got == ["task", "role", "agent", "any", "any"]
    model.assert_complete()
    assert [c.agent for c in model.calls] == ["executor"] * 4 + ["critic"]
    assert model.calls_for("executor", "t1")[0].role == "writer"


async def test_unexpected_calls_and_leftover_turns_fail_loudly():
    model = ScriptedChatModel({"planner": ["a", "b"]})
    assert (await model.ainvoke("x", config=cfg("planner"))).text == "a"
    with pytest.raises(AssertionError, match="1 scripted turn"):
        model.assert_complete()
    with pytest.raises(ScriptError, match="agent='critic'"):
        await model.ainvoke("x", config=cfg("critic"))


def test_replies_can_be_functions_dicts_models_and_messages():
    class Out(BaseModel):
        n: int

    model = ScriptedChatModel(
        {"a": [lambda call: f"echo {call.last}", {"n": 1}, Out(n=2), AIMessage(content="m"), 3]}
    )
    texts = [model.invoke("hello", config=cfg("a")).text for _ in range(4)]
    assert texts == ["echo hello", '{"n": 1}', '{"n":2}', "m"]
    with pytest.raises(ScriptError, match="must be str"):
        model.invoke("x", config=cfg("a"))


def test_bind_tools_records_tool_names_and_replies_with_tool_calls():
    model = ScriptedChatModel({"*": [tool_call("word_count", {"text": "a b"}, call_id="c1")]})
    reply = model.bind_tools([word_count]).invoke("count")
    assert reply.tool_calls[0]["name"] == "word_count" and reply.tool_calls[0]["id"] == "c1"
    assert model.calls[0].tools == ["word_count"]
    with pytest.raises(NotImplementedError):
        ScriptedChatModel({}, native_tools=False).bind_tools([word_count])


def test_with_structured_output_parses_json_and_tool_calls():
    class Answer(BaseModel):
        value: int

    model = ScriptedChatModel(
        {"*": ['Here: {"value": 4}', tool_call("Answer", {"value": 5}), "nope", "nope"]}
    )
    structured = model.with_structured_output(Answer)
    assert structured.invoke("q") == Answer(value=4)
    assert structured.invoke("q") == Answer(value=5)
    with pytest.raises(ValueError, match="no JSON object"):
        structured.invoke("q")
    raw = model.with_structured_output(Answer, include_raw=True).invoke("q")
    assert raw["parsed"] is None and isinstance(raw["parsing_error"], ValueError)
    assert raw["raw"].text == "nope"


def test_scripted_call_knows_the_goal_from_orchestras_prompts():
    model = ScriptedChatModel({"*": lambda call: call.goal or "none"})
    assert model.invoke([HumanMessage(content="x\nOverall goal: fly\nmore")]).text == "fly"
    assert model.invoke([HumanMessage(content="Goal: swim")]).text == "swim"
    assert model.invoke("nothing here").text == "none"


def _one_tool_task(executor: list[object]) -> dict[str, object]:
    return {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("w", "Do it.", ["word_count"]),
        "executor@a": executor,
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }


@pytest.mark.parametrize(
    ("last", "status", "result"),
    [
        ("two words", TaskStatus.FAILED, None),
        ({"final": "two words"}, TaskStatus.DONE, "two words"),
    ],
)
async def test_the_executors_last_allowed_step_takes_only_a_final_json_answer(
    last: object, status: TaskStatus, result: str | None
):
    # max_steps=2: the second call is answer-only (docs/testing.md, "The answer-only step")
    script = _one_tool_task([tool_call("word_count", {"text": "x y"}), last])
    team, model = make_team(script, max_steps=2, max_attempts=1, max_replans=0)
    done, _ = await run_collect(team)
    task = done.tree.get("a")
    assert (task.status, task.result) == (status, result)
    if status is TaskStatus.FAILED:
        assert "no final result after 2 model calls" in (task.reason or "")
    model.assert_complete()


async def test_after_a_repeated_tool_call_a_plain_reply_is_not_taken_as_the_answer():
    same = tool_call("word_count", {"text": "x y"})
    script = _one_tool_task([same, same, "not taken", "taken"])
    team, model = make_team(script, max_identical_tool_calls=10)
    done, _ = await run_collect(team)
    assert done.tree.get("a").result == "taken"
    model.assert_complete()
