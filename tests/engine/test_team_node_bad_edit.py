"""A team node asks again when a decision does not fit its request (red-team).

A decision can have the right shape and still not fit what it answers: an edited plan that
is not valid, ``edit_plan`` for a tool call, ``edit_args`` for the plan. The team refuses it
(``InputError``); the node must not pass it on, or the parent graph, which replays the same
answer on every resume, would be stuck with that error for good. It interrupts again with
the same pending requests and an ``error`` saying why, and goes on with a corrected answer.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from orchestra import Team, tool
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call
from tests.engine.test_team_node import State
from tests.engine.test_team_node import _script as _team_script

SENT: list[str] = []


@tool(side_effects=True, requires_approval=True)
def send(text: str) -> str:
    """Send a message."""
    SENT.append(text)
    return "sent"


def _script(**extra: Any) -> dict[str, Any]:
    """test_team_node's team, answering in plain text."""
    return _team_script(**{"synthesizer": "the answer", **extra})


def _mailer_script() -> dict[str, Any]:
    """A team whose task b sends a message (a tool call waiting for approval)."""
    return _script(
        role_designer=role_spec("mailer", "Send it.", ["send"]),
        **{
            "executor@b": lambda call: (
                "b sent it" if "sent" in call.prompt else tool_call("send", {"text": "hello"})
            )
        },
    )


def _graph(team: Team[Any]) -> Any:
    builder = StateGraph(State)
    builder.add_node("team", team.as_node())
    builder.add_edge(START, "team")
    builder.add_edge("team", END)
    return builder.compile(checkpointer=InMemorySaver())


async def _waiting(graph: Any, config: Any) -> dict[str, Any]:
    [pending] = (await graph.aget_state(config)).interrupts
    value: dict[str, Any] = pending.value
    return value


def _planned(model: ScriptedChatModel) -> list[str]:
    return sorted(call.task_id for call in model.calls_for("executor"))


async def test_an_invalid_edited_plan_asks_again_and_a_corrected_answer_goes_on():
    model = ScriptedChatModel(_script())
    team = Team(model, approve_plan=True, name="planner-team", history=False)
    graph = _graph(team)
    config = {"configurable": {"thread_id": "bad-plan"}}
    await graph.ainvoke({"goal": "Brief me on heat pumps"}, config)
    first = await _waiting(graph, config)
    [request] = first["pending"]
    assert request["kind"] == "plan" and first.get("error") is None

    duplicate = plan(subtask("a", "Find facts"), subtask("a", "Write again"))
    await graph.ainvoke(
        Command(resume={"plan": {"decision": "edit_plan", "plan": duplicate}}), config
    )
    again = await _waiting(graph, config)
    assert "the edited plan is not valid" in again["error"]
    assert "task id 'a' is used more than once" in again["error"]
    assert again["pending"] == first["pending"] and again["run_id"] == first["run_id"]
    assert not model.calls_for("executor")  # the team did not go on

    unknown = plan(subtask("a", "Find facts"), subtask("b", "Write", deps=["nowhere"]))
    await graph.ainvoke(
        Command(resume={"plan": {"decision": "edit_plan", "plan": unknown}}), config
    )
    third = await _waiting(graph, config)  # the first bad answer, replayed, is no problem
    assert "'nowhere'" in third["error"] and third["pending"] == first["pending"]

    done = await graph.ainvoke(Command(resume={"plan": {"decision": "approve"}}), config)
    assert done["answer"] == "the answer"
    assert not (await graph.aget_state(config)).interrupts
    assert _planned(model) == ["a", "b"]  # the plan as proposed: neither edit was applied
    assert len(model.calls_for("planner")) == 1


async def test_a_valid_edit_after_refused_ones_is_the_plan_that_runs_under_the_teams_limits():
    model = ScriptedChatModel(_script())
    team = Team(
        model,
        approve_plan=True,
        max_depth=2,
        max_tasks_per_level=2,
        name="planner-team",
        history=False,
    )
    graph = _graph(team)
    config = {"configurable": {"thread_id": "fixed-plan"}}
    await graph.ainvoke({"goal": "Brief me on heat pumps"}, config)
    # three levels: fine under the default limit (3), not under this team's (2)
    deep = plan(subtask("a", subtasks=[subtask("a1", subtasks=[subtask("a2")])]))
    await graph.ainvoke(Command(resume={"plan": {"decision": "edit_plan", "plan": deep}}), config)
    again = await _waiting(graph, config)
    assert again["error"].startswith("the edited plan is not valid: ")
    assert "depth 3 but the limit is 2" in again["error"]

    wide = plan(subtask("x"), subtask("y"), subtask("z"))
    await graph.ainvoke(Command(resume={"plan": {"decision": "edit_plan", "plan": wide}}), config)
    third = await _waiting(graph, config)
    assert third["error"].startswith("the edited plan is not valid: ")
    assert "3 tasks on one level" in third["error"] and "at most 2" in third["error"]

    await graph.ainvoke(
        Command(resume={"plan": {"decision": "edit_args", "args": {"x": 1}}}), config
    )
    fourth = await _waiting(graph, config)
    assert fourth["error"] == "request 'plan' is the plan; EditArgs is for tool calls"
    assert fourth["pending"] == again["pending"] == third["pending"]

    edited = plan(subtask("c", "Only this"))
    done = await graph.ainvoke(
        Command(resume={"plan": {"decision": "edit_plan", "plan": edited}}), config
    )
    assert done["answer"] == "the answer"
    assert _planned(model) == ["c"]


async def test_edit_plan_for_a_tool_call_or_unfit_args_ask_again_and_the_call_waits():
    SENT.clear()
    script = _mailer_script()
    team = Team(ScriptedChatModel(script), tools=[send], name="mailer", history=False)
    graph = _graph(team)
    config = {"configurable": {"thread_id": "bad-kind"}}
    await graph.ainvoke({"goal": "Mail it"}, config)
    first = await _waiting(graph, config)
    [request] = first["pending"]
    assert request["kind"] == "tool_call" and request["tool"] == "send"

    wrong = {"decision": "edit_plan", "plan": plan(subtask("x"))}
    await graph.ainvoke(Command(resume={request["id"]: wrong}), config)
    again = await _waiting(graph, config)
    assert again["error"] == f"request {request['id']!r} is a tool call; EditPlan is for the plan"
    assert again["pending"] == first["pending"] and not SENT

    unfit = {"decision": "edit_args", "args": {"txt": "hi there"}}
    await graph.ainvoke(Command(resume={request["id"]: unfit}), config)
    again = await _waiting(graph, config)
    assert "invalid arguments for send: text: Field required" in again["error"]
    assert again["pending"] == first["pending"] and not SENT

    edit = {"decision": "edit_args", "args": {"text": "hi there"}}
    done = await graph.ainvoke(Command(resume={request["id"]: edit}), config)
    assert SENT == ["hi there"]
    assert done["answer"] == "the answer"


async def test_refused_answers_in_two_rounds_keep_each_round_lined_up_with_its_answer():
    SENT.clear()
    script = _mailer_script()
    model = ScriptedChatModel(script)
    team = Team(model, tools=[send], approve_plan=True, name="mailer", history=False)
    graph = _graph(team)
    config = {"configurable": {"thread_id": "two-rounds"}}
    await graph.ainvoke({"goal": "Mail it"}, config)
    bad_plan = plan(subtask("a"), subtask("b", deps=["b"]))
    await graph.ainvoke(
        Command(resume={"plan": {"decision": "edit_plan", "plan": bad_plan}}), config
    )
    assert "the edited plan is not valid" in (await _waiting(graph, config))["error"]
    await graph.ainvoke(Command(resume={"plan": {"decision": "approve"}}), config)

    # round two: the first round's answers, replayed, are neither applied nor an error
    second = await _waiting(graph, config)
    [request] = second["pending"]
    assert request["kind"] == "tool_call" and second.get("error") is None and not SENT
    await graph.ainvoke(
        Command(resume={request["id"]: {"decision": "edit_plan", "plan": plan(subtask("x"))}}),
        config,
    )
    again = await _waiting(graph, config)
    assert again["error"] == f"request {request['id']!r} is a tool call; EditPlan is for the plan"
    assert again["pending"] == second["pending"] and not SENT

    done = await graph.ainvoke(Command(resume={request["id"]: {"decision": "approve"}}), config)
    assert SENT == ["hello"]
    assert done["answer"] == "the answer"
    assert _planned(model) == ["a", "b", "b"]  # b asked to send, then went on after the call
