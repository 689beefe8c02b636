"""Secrets leave ``orchestra serve`` redacted, as ``orchestra run --json`` redacts them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langchain_core.messages import ToolMessage

from orchestra import Team, Tracing, tool
from orchestra.core.events import Event
from orchestra.serve import create_app
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)

KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234567890"
MARKED = "customer-4711"


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return f"found; token {KEY} for {MARKED}"


def _executor(call: ScriptedCall) -> object:
    results = [m for m in call.messages if isinstance(m, ToolMessage)]
    return f"result: {results[-1].text}" if results else tool_call("lookup", {"q": "x"})


def secret_team(
    answer: str = f"answer with key {KEY} for {MARKED}", stream_words: int = 2
) -> Team[Any]:
    """A team whose tool result and answer hold an API key and a value the team marks."""
    script = {
        "planner": plan(subtask("a", "Look up")),
        "role_designer": role_spec("w", "Do it.", ["lookup"]),
        "executor": _executor,
        "critic": verdict("pass"),
        "synthesizer": answer,
    }
    return Team(
        ScriptedChatModel(script, stream_words=stream_words),
        tools=[lookup],
        name="secret-team",
        checkpointer="memory",
        history=False,
        tracing=Tracing(redact=[MARKED]),
    )


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def _run(app: Any, client: httpx.AsyncClient) -> str:
    run_id: str = (await client.post("/runs", json={"goal": "look up"})).json()["run_id"]
    task = app.state.manager.logs[run_id].task
    await task
    return run_id


def _leaks(text: str) -> list[str]:
    return [s for s in (KEY, "ABCDEFGHIJKLMNOP", MARKED) if s in text]


async def test_the_record_and_the_event_streams_are_redacted():
    app = create_app(secret_team())
    async with _client(app) as client:
        run_id = await _run(app, client)
        record = await client.get(f"/runs/{run_id}")
        assert record.status_code == 200 and record.json()["status"] == "succeeded"
        assert "[REDACTED]" in record.json()["output"]
        assert record.json()["run_id"] == run_id  # ids are left alone
        assert _leaks(record.text) == []
        for query in ("", "?tokens=1"):
            events = (await client.get(f"/runs/{run_id}/events{query}")).text
            assert "run_finished" in events and "[REDACTED]" in events
            assert _leaks(events) == [], query


async def test_raw_values_are_served_when_the_history_keeps_them(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("ORCHESTRA_REDACT_HISTORY", "0")
    app = create_app(secret_team())
    async with _client(app) as client:
        run_id = await _run(app, client)
        assert KEY in (await client.get(f"/runs/{run_id}")).json()["output"]


async def test_a_crash_reason_on_the_stream_is_redacted():
    team = secret_team()

    async def crashing(*args: Any, **kwargs: Any) -> AsyncIterator[Event]:
        raise RuntimeError(f"the database said password={KEY} for {MARKED}")
        yield  # an async generator

    team.astream = crashing  # type: ignore[method-assign]
    app = create_app(team)
    async with _client(app) as client:
        run_id = await _run(app, client)
        body = (await client.get(f"/runs/{run_id}/events")).text
    [finished] = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert finished["type"] == "run_finished" and finished["status"] == "error"
    assert "RuntimeError" in finished["reason"] and _leaks(finished["reason"]) == []


async def test_a_secret_written_in_many_token_pieces_is_redacted_whole():
    said = "the login is password: hunter2222xyz and that is all there is to say about it"
    app = create_app(secret_team(said, stream_words=1))
    async with _client(app) as client:
        run_id = await _run(app, client)
        events = _events((await client.get(f"/runs/{run_id}/events?tokens=1")).text)
    pieces = [e["text"] for e in events if e["type"] == "token" and e["agent"] == "synthesizer"]
    assert "".join(pieces) == said.replace("hunter2222xyz", "[REDACTED]")


def test_token_pieces_are_cut_only_where_no_secret_is_split():
    from orchestra.observability.redact import Redactor
    from orchestra.serve.tokens import TokenGate

    text = (
        "Here is what I found about the account. "
        f"The key {KEY} opens it, Authorization: Bearer abcdefgh12345678 is sent, "
        "and api_key = qwerty12345 is the old one. " * 3
    )
    gate = TokenGate(Redactor(environ={}), hold=16)
    out: list[dict[str, Any]] = []
    for n in range(0, len(text), 3):
        out += gate.send({"type": "token", "stream": "s1", "text": text[n : n + 3]})
    streamed = len(out)
    out += gate.send({"type": "run_finished", "reason": f"done {KEY}"})
    joined = "".join(e["text"] for e in out if e["type"] == "token")
    assert joined == Redactor(environ={})(text)
    assert streamed > 3  # still streamed as it was written, not only at the end
    assert out[-1] == {"type": "run_finished", "reason": "done [REDACTED]"}
    for leaked in (KEY[8:20], "abcdefgh1234", "qwerty12345"):
        assert leaked not in json.dumps(out)


def _events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
