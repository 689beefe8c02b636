"""The embedded default model (llama.cpp + SmolLM2-135M), for real: marked slow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from orchestra.agents.calls import AgentCall
from orchestra.core.plan import PlanDraft
from orchestra.models.embedded import EmbeddedChatModel, default_model_path
from orchestra.models.grammar import gbnf_for, gbnf_literal
from orchestra.models.resolve import resolve_model
from tests.conftest import StartedCli, word_count

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model() -> EmbeddedChatModel:
    return EmbeddedChatModel.default()


def test_the_weights_ship_in_a_pip_package_and_resolve_by_default(monkeypatch):
    path = default_model_path()
    assert path.suffix == ".gguf" and "site-packages" in str(path)
    monkeypatch.delenv("ORCHESTRA_MODEL", raising=False)
    assert isinstance(resolve_model(None), EmbeddedChatModel)
    assert isinstance(resolve_model(str(path)), EmbeddedChatModel)


def test_free_text_with_usage_and_greedy_determinism(model):
    msgs = [HumanMessage(content="Name one planet.")]
    first, second = model.invoke(msgs), model.invoke(msgs)
    assert first.text.strip() and first.text == second.text
    assert first.usage_metadata["input_tokens"] > 0 and first.usage_metadata["output_tokens"] > 0
    assert first.response_metadata["model_name"] == "embedded:SmolLM2-135M-Instruct.Q4_1"


def test_structured_output_is_decoded_under_the_schema_grammar(model):
    structured = model.with_structured_output(PlanDraft, include_raw=True)
    out = structured.invoke(
        [
            SystemMessage(content="Break the goal into tasks. Reply with JSON."),
            HumanMessage(content="Goal: plan a picnic"),
        ],
        config=AgentCall(agent="planner").config(),
    )
    data = json.loads(out["raw"].text)  # the grammar guarantees well-formed JSON
    assert isinstance(data["tasks"], list)
    if out["parsed"] is not None:
        assert isinstance(out["parsed"], PlanDraft)


async def test_a_typed_answer_is_decoded_under_its_schema(model):
    from pydantic import BaseModel

    from orchestra.agents.synthesizer import synthesize_typed
    from orchestra.core.output_types import output_spec
    from orchestra.core.tree import TaskNode, TaskTree

    class Brief(BaseModel):
        title: str
        points: list[str]

    tree = TaskTree.for_goal("Brief me on picnics", max_depth=2, max_tasks_per_level=4)
    tree.add([TaskNode(id="a", parent_id="root", title="Food", description="What to bring")])
    tree.get("a").result = "Bring sandwiches, fruit and water."
    brief = await synthesize_typed(model, tree, output_spec(Brief), max_repairs=2)
    assert isinstance(brief, Brief)  # whatever it says, it is a Brief
    typed_list = await synthesize_typed(model, tree, output_spec(list[str]), max_repairs=2)
    assert isinstance(typed_list, list) and all(isinstance(x, str) for x in typed_list)


async def test_streamed_replies_are_the_same_replies_with_the_same_usage(model):
    from orchestra.agents.calls import ask, ask_structured, streaming_tokens
    from orchestra.agents.critic import CriticVerdict

    messages = [SystemMessage(content="Be brief."), HumanMessage(content="Name three fruits.")]
    judge = [
        SystemMessage(content="Judge the result."),
        HumanMessage(content="Task: name a fruit. Result: apples."),
    ]
    plain = await ask(model, messages, AgentCall(agent="executor"))
    plain_verdict = await ask_structured(model, judge, CriticVerdict, AgentCall(agent="critic"))
    pieces: list[tuple[str, str]] = []
    with streaming_tokens(lambda call, stream, text: pieces.append((call.agent, text))):
        streamed = await ask(model, messages, AgentCall(agent="executor"))
        verdict = await ask_structured(model, judge, CriticVerdict, AgentCall(agent="critic"))
    assert streamed.content == plain.content  # greedy: the same reply
    assert streamed.usage_metadata == plain.usage_metadata
    assert "".join(t for a, t in pieces if a == "executor") == plain.content
    assert len([a for a, _ in pieces if a == "executor"]) > 1  # token by token
    assert verdict == plain_verdict  # a structured reply streams its JSON, parsed whole
    assert any(a == "critic" for a, _ in pieces)


def test_bound_tools_give_schema_valid_tool_calls_or_a_final_answer(model):
    bound = model.bind_tools([word_count])
    reply = bound.invoke(
        [
            SystemMessage(content="Use tools when useful."),
            HumanMessage(content="Count the words in 'one two three'."),
        ],
        config=AgentCall(agent="executor").config(),
    )
    if reply.tool_calls:
        [call] = reply.tool_calls
        assert call["name"] == "word_count" and isinstance(call["args"]["text"], str)
    else:
        assert reply.text.strip()


def test_names_with_quotes_and_backslashes_decode_under_their_grammar(model):
    # llama-cpp-python's own converter left the backslash of an escaped quote unescaped:
    # llama.cpp could not parse the grammar and the process died (exit 139)
    names = ['say "hi"', "back\\slash", "tab\tnew\nline"]
    schema = {"type": "object", "properties": {"tool": {"enum": names}}, "required": ["tool"]}
    assert gbnf_literal(json.dumps('say "hi"')) == r'"\"say \\\"hi\\\"\""'
    assert gbnf_literal(json.dumps('say "hi"')) in gbnf_for(schema)
    decoder = model.bind_schema(schema)
    reply = decoder.invoke(
        [HumanMessage(content="Pick a tool. Reply with JSON.")],
        config=AgentCall(agent="critic").config(),
    )
    assert json.loads(reply.text)["tool"] in names


GOALS = [  # three kinds of goal: a list, a pros-and-cons summary, a creative one
    "Summarize the pros and cons of remote work for a small company",
    "Draft a packing list for a weekend hiking trip",
    "Suggest three names for a neighborhood bakery and justify them",
]


RESEARCH_TEST = "test_research_team_runs_offline_on_the_embedded_model"


@pytest.fixture(scope="module")
def research_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, StartedCli]]:
    """The research team's runs of the selected goals, started together: goal -> run.

    Each is ``orchestra run examples/research_team.py:team GOAL --json`` in a process and
    home of its own; its test waits for it. The embedded model decodes on one thread, so
    side by side on two cores they take about half their sum.
    """
    goals = [
        item.callspec.params["goal"]
        for item in request.session.items
        if item.path == request.path and item.originalname == RESEARCH_TEST
    ]
    runs: dict[str, StartedCli] = {}
    for n, goal in enumerate(dict.fromkeys(goals)):
        folder = tmp_path_factory.mktemp(f"research-{n}")
        runs[goal] = StartedCli(
            "run",
            "examples/research_team.py:team",
            goal,
            "--json",
            output=folder / "out",
            env_extra={"ORCHESTRA_HOME": str(folder / "orchestra-home")},
        )
    try:
        yield runs
    finally:
        for run in runs.values():
            run.stop()


@pytest.mark.parametrize("goal", GOALS)
def test_research_team_runs_offline_on_the_embedded_model(goal, research_runs):
    proc = research_runs[goal].wait(timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded" and record["output"]
    executed = [t for t in record["tasks"] if t["executions"] >= 1]
    assert len(executed) >= 2
    for task in executed:
        assert task["usage"]["input_tokens"] > 0 and task["usage"]["output_tokens"] > 0
    assert record["usage"]["model_calls"] >= 2 + 2 * len(executed)
    assert record["usage"]["cost_usd"] == 0.0 and record["usage"]["unpriced_calls"] == 0
    # the default checks ran, and every result kept was accepted or is listed unverified
    unverified = {u["task_id"] for u in record["unverified"]}
    for task in record["tasks"]:
        if task["status"] == "done" and task["id"] not in unverified:
            assert task["verdicts"] and task["verdicts"][-1]["verdict"] == "pass", task["id"]
    answer = record["answer_verdicts"]
    assert "root" in unverified or (answer and answer[-1]["verdict"] == "pass")


def test_a_batch_call_gets_an_output_budget_per_task():
    # no weights are loaded to build a request
    model = EmbeddedChatModel(model_path="/nonexistent.gguf", max_tokens={"role_designer": 160})
    one = model._request(
        [HumanMessage(content="x")], None, {"orchestra_agent": "role_designer"}, {}
    )
    batch = model._request(
        [HumanMessage(content="x")],
        None,
        {"orchestra_agent": "role_designer", "orchestra_tasks": ["a", "b", "c"]},
        {},
    )
    assert one["max_tokens"] == 160 and batch["max_tokens"] == 480


def test_a_call_for_several_plans_gets_an_output_budget_per_plan():
    model = EmbeddedChatModel(model_path="/nonexistent.gguf", max_tokens={"planner": 500})
    request = model._request(
        [HumanMessage(content="x")],
        None,
        {"orchestra_agent": "planner", "orchestra_samples": 3},
        {},
    )
    assert request["max_tokens"] == 1500
