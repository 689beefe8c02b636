"""Token streaming: ``team.astream(goal, tokens=True)`` on the scripted model."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from orchestra import Event, Role, RunStatus
from orchestra.core.events import TokenStreamed
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, word_count


def _script() -> dict[str, Any]:
    return {
        "planner": [plan(subtask("a", "Count words"), subtask("b", "Write it up", deps=["a"]))],
        "role_designer": role_spec("worker", "Do the task.", ["word_count"]),
        "executor@a": [tool_call("word_count", {"text": "one two three"}), "there are three words"],
        "executor@b": "the text has three words in all",
        "critic": verdict("pass", "Meets the criteria."),
        "synthesizer": "The answer: three words.",
    }


async def _run(team: Any, *, tokens: bool) -> tuple[list[Event], Any]:
    events = [e async for e in team.astream("count the words", run_id=f"r{tokens}", tokens=tokens)]
    return events, await team.aget_run(f"r{tokens}")


async def test_tokens_stream_every_reply_and_join_to_it_at_no_extra_cost():
    team, model = make_team(_script(), tools=[word_count], checkpointer="memory")
    events, result = await _run(team, tokens=True)
    assert result.status is RunStatus.SUCCEEDED
    pieces = [e for e in events if isinstance(e, TokenStreamed)]
    by_stream: dict[str, list[TokenStreamed]] = {}
    for piece in pieces:
        by_stream.setdefault(piece.stream, []).append(piece)
    replies = {
        ("".join(p.text for p in ps), ps[0].agent, ps[0].task_id) for ps in by_stream.values()
    }
    assert ("there are three words", "executor", "a") in replies
    assert ("the text has three words in all", "executor", "b") in replies
    assert ("The answer: three words.", "synthesizer", "root") in replies
    # structured replies stream as their raw JSON, still validated whole
    critic = [r for r in replies if r[1] == "critic"]
    assert critic and all(json.loads(text)["verdict"] == "pass" for text, _, _ in critic)
    assert any(agent == "planner" for _, agent, _ in replies)
    assert max(len(ps) for ps in by_stream.values()) > 1  # in pieces, not whole
    # a piece arrives before its task finishes
    first_b = next(
        i for i, e in enumerate(events) if isinstance(e, TokenStreamed) and e.task_id == "b"
    )
    done_b = next(i for i, e in enumerate(events) if e.type == "task_finished" and e.task_id == "b")
    assert first_b < done_b
    # the same calls and usage as without streaming
    plain_team, plain_model = make_team(_script(), tools=[word_count], checkpointer="memory")
    plain_events, plain = await _run(plain_team, tokens=False)
    assert not any(isinstance(e, TokenStreamed) for e in plain_events)
    assert len(model.calls) == len(plain_model.calls)
    assert result.usage.model_calls == plain.usage.model_calls
    assert result.usage.input_tokens == plain.usage.input_tokens
    assert result.usage.output_tokens == plain.usage.output_tokens
    assert result.tree.get("a").result == plain.tree.get("a").result == "there are three words"
    assert [c.tool for c in result.tool_calls] == ["word_count"]


async def test_a_typed_answer_streams_its_json():
    class Count(BaseModel):
        words: int

    script = _script() | {"synthesizer": '{"words": 3}'}
    team, _ = make_team(script, tools=[word_count], checkpointer="memory", output_type=Count)
    events, result = await _run(team, tokens=True)
    assert result.output == Count(words=3)
    answer = "".join(
        e.text for e in events if isinstance(e, TokenStreamed) and e.agent == "synthesizer"
    )
    assert json.loads(answer) == {"words": 3}


async def test_a_sub_teams_tokens_are_named_under_the_delegated_task():
    sub_model = ScriptedChatModel(
        {
            "planner": [plan(subtask("find", "Find it"), subtask("check", deps=["find"]))],
            "role_designer": role_spec("finder", "Find.", []),
            "executor": lambda call: f"{call.task_id} found it",
            "critic": verdict("pass"),
            "synthesizer": "the sub answer",
        }
    )
    from orchestra import Team

    sub = Team(sub_model, name="sub", history=False)
    script = {
        "planner": [plan(subtask("law", "Check the law", role="legal"))],
        "critic": verdict("pass"),
        "synthesizer": "the answer",
    }
    team, _ = make_team(
        script,
        roles=[Role(name="legal", team=sub, description="Checks")],
        checkpointer="memory",
    )
    events, result = await _run(team, tokens=True)
    assert result.status is RunStatus.SUCCEEDED
    sub_pieces = [
        e for e in events if isinstance(e, TokenStreamed) and e.task_id.startswith("law/")
    ]
    assert {e.task_id for e in sub_pieces} >= {"law/find", "law/check"}
    assert {e.run_id for e in events} == {"rTrue"}


async def test_the_live_view_shows_what_each_running_task_is_writing():
    from rich.console import Console

    from orchestra.observability.live import LiveView

    team, _ = make_team(_script(), tools=[word_count], checkpointer="memory")
    view = LiveView()
    frames: list[str] = []
    async for event in team.astream("count the words", tokens=True):
        view.update(event)
        if isinstance(event, TokenStreamed) and event.task_id in ("b", "root"):
            console = Console(width=160, record=True, color_system=None)
            with console.capture() as capture:
                console.print(view)
            frames.append(capture.get())
    writing_b = [f for f in frames if "✎ the text" in f]
    assert writing_b and all(len(line) <= 160 for f in writing_b for line in f.splitlines())
    line = next(x for x in writing_b[-1].splitlines() if " b " in x)
    assert line.rstrip().endswith("✎ the text has three words in all")
    # the planner's and role designer's lines went once their replies were in
    assert not any("✎ planner" in f or "✎ role_designer" in f for f in writing_b)
    assert any("✎ synthesizer: The answer: three words." in f for f in frames)
    console = Console(width=160, record=True, color_system=None)
    with console.capture() as capture:
        console.print(view)
    assert "✎" not in capture.get()  # nothing is being written once the run ended
