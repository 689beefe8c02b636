"""Choosing the relevant tools when a team has many."""

from __future__ import annotations

from langchain_core.tools import StructuredTool

from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from orchestra.tools.registry import ToolRegistry, tool_document
from tests.conftest import make_team, run_collect

DESCRIPTIONS = {
    "web_search": "Search the web for pages about a topic.",
    "send_email": "Send an email message to a recipient.",
    "get_weather": "Get the weather forecast for a city.",
    "convert_currency": "Convert an amount between two currencies.",
    "translate_text": "Translate a text into another language.",
    "book_flight": "Book a flight between two airports.",
    "count_words": "Count the words in a text.",
    "read_file": "Read a file from the workspace.",
    "write_file": "Write a file to the workspace.",
    "list_directory": "List the files in a workspace directory.",
}


def make_tools(names=DESCRIPTIONS):
    return {
        n: StructuredTool.from_function(lambda text="": text, name=n, description=DESCRIPTIONS[n])
        for n in names
    }


def test_tool_documents_split_names_into_words():
    doc = tool_document(make_tools()["get_weather"])
    assert doc.startswith("get weather Get the weather forecast")


def test_relevant_tools_are_ranked_and_narrowed_only_when_needed():
    registry = ToolRegistry(make_tools(), top_k=3)
    top = registry.relevant("What will the weather be in Lisbon tomorrow?")
    assert len(top) == 3 and top[0] == "get_weather"
    assert registry.relevant("email the flight booking to Ann")[:2] in (
        ["send_email", "book_flight"],
        ["book_flight", "send_email"],
    )
    # no more candidates than top_k: all of them, in their own order
    assert registry.relevant("weather", among=["count_words", "send_email"]) == [
        "count_words",
        "send_email",
    ]
    assert registry.relevant("the of and") == ["web_search", "send_email", "get_weather"]
    assert ToolRegistry({}, top_k=3).relevant("anything") == []


async def test_agents_see_only_the_most_relevant_tools_of_a_large_team():
    tools = make_tools()
    script = {
        "planner": [plan(subtask("w", "Weather", "Get the weather forecast for Lisbon."))],
        "role_designer": role_spec("forecaster", "Report the weather.", ["get_weather"]),
        "executor@w": [tool_call("get_weather", {"text": "Lisbon"}), "sunny"],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script, tools=list(tools.values()), tool_top_k=2)
    result, _ = await run_collect(team, "What is the weather in Lisbon?")
    model.assert_complete()
    assert result.succeeded
    designer = model.calls_for("role_designer")[0].prompt
    shown = [n for n in DESCRIPTIONS if f"- {n}:" in designer]
    assert len(shown) == 2 and "get_weather" in shown
    planner = model.calls_for("planner")[0].prompt
    assert len([n for n in DESCRIPTIONS if f"- {n}:" in planner]) == 2


async def test_an_executor_binds_only_the_relevant_tools_of_a_big_role():
    tools = make_tools()
    script = {
        "planner": [plan(subtask("w", "Weather", "Get the weather forecast for Lisbon."))],
        "role_designer": role_spec("do-all", "Do anything.", list(tools)),
        "executor@w": ["sunny"],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, model = make_team(script, tools=list(tools.values()), tool_top_k=3)
    result, _ = await run_collect(team)
    model.assert_complete()
    bound = model.calls_for("executor", "w")[0].tools
    assert len(bound) == 3 and "get_weather" in bound
    assert result.roles["do-all"].tools == tuple(tools)  # the allowlist itself is unchanged


def test_embedding_and_hybrid_retrieval_find_paraphrases():
    from orchestra.engine.runtime import TeamRuntime
    from orchestra.testing import ScriptedChatModel

    tools = make_tools()
    for kind in ("embeddings", "hybrid"):
        rt = TeamRuntime(
            model=ScriptedChatModel({}), tools=tools, roles={}, tool_top_k=2, tool_retrieval=kind
        )
        # no word in common with "Get the weather forecast for a city"
        assert "get_weather" in rt.registry.relevant("Will it rain in Oslo tomorrow?")
