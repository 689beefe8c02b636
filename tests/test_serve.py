"""``orchestra serve``'s HTTP API on the scripted model, in process (httpx + ASGI)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from langchain_core.messages import ToolMessage

from orchestra import Team, tool
from orchestra.serve import create_app
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict

SENT: list[str] = []


@tool(side_effects=True, requires_approval=True)
def send(text: str) -> str:
    """Send a message."""
    SENT.append(text)
    return "sent"


def _team(**extra: Any) -> Team[Any]:
    script = {
        "planner": [plan(subtask("a", "Find"), subtask("b", "Send", deps=["a"]))],
        "role_designer": role_spec("worker", "Do it.", ["send"]),
        "executor@a": "a found it",
        "executor@b": lambda call: (
            "b sent it" if "sent" in call.prompt else tool_call("send", {"text": "hi"})
        ),
        "critic": verdict("pass"),
        "synthesizer": "the answer",
        **extra,
    }
    return Team(ScriptedChatModel(script), tools=[send], checkpointer="memory", name="served")


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _sse(body: str) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            out.append((int(fields["id"]), json.loads(fields["data"])))
    return out


async def _settled(app: Any, run_id: str) -> None:
    task = app.state.manager.logs[run_id].task
    await task  # the run's background task: no sleeping


@pytest.fixture(autouse=True)
def _clear() -> None:
    SENT.clear()


async def test_a_run_started_over_http_streams_its_events_waits_and_goes_on_when_approved():
    app = create_app(_team())
    async with _client(app) as client:
        started = await client.post("/runs", json={"goal": "send a note"})
        assert started.status_code == 201
        run_id = started.json()["run_id"]
        await _settled(app, run_id)
        first = _sse((await client.get(f"/runs/{run_id}/events")).text)
        assert [n for n, _ in first] == list(range(1, len(first) + 1))  # gap-free
        assert first[-1][1]["type"] == "approval_requested" and not SENT
        record = (await client.get(f"/runs/{run_id}")).json()
        assert record["status"] == "awaiting_approval"
        approved = await client.post(f"/runs/{run_id}/approve")
        assert approved.status_code == 202
        await _settled(app, run_id)
        assert SENT == ["hi"]
        after = _sse(
            (await client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": "3"})).text
        )
        everything = _sse((await client.get(f"/runs/{run_id}/events")).text)
        assert after == everything[3:]  # resumed right after event 3
        assert everything[-1][1]["type"] == "run_finished"
        assert everything[-1][1]["status"] == "succeeded"
        with_tokens = _sse((await client.get(f"/runs/{run_id}/events?tokens=1")).text)
        assert any(e["type"] == "token" for _, e in with_tokens)
        assert [n for n, _ in with_tokens] == list(range(1, len(with_tokens) + 1))
        assert not any(e["type"] == "token" for _, e in everything)
        assert (await client.get(f"/runs/{run_id}")).json()["output"] == "the answer"


async def test_bad_requests_are_refused_with_the_field():
    app = create_app(_team())
    async with _client(app) as client:
        empty = await client.post("/runs", json={"goal": ""})
        assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "goal"]
        budget = await client.post("/runs", json={"goal": "x", "budget": {"tokens": -1}})
        assert budget.status_code == 422
        assert (await client.get("/runs/nope")).status_code == 404
        assert (await client.get("/runs/nope/events")).status_code == 404
        assert (await client.post("/runs/nope/approve")).status_code == 404


async def test_with_a_token_every_request_needs_it():
    app = create_app(_team(), token="s3cret")
    async with _client(app) as client:
        assert (await client.post("/runs", json={"goal": "x"})).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get("/runs", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer s3cret"}
        assert (await client.get("/runs", headers=right)).status_code == 200
        assert (await client.get("/openapi.json", headers=right)).status_code == 200


async def test_past_the_queue_bound_a_new_run_is_429():
    gate = asyncio.Event()

    @tool
    async def hold(x: str) -> str:
        """Wait until the test lets go."""
        await gate.wait()
        return "held"

    script = {
        "planner": plan(subtask("a", "Hold")),
        "role_designer": role_spec("worker", "Do it.", ["hold"]),
        "executor@a": lambda call: (
            "done"
            if any(m.type == "tool" for m in call.messages)
            else tool_call("hold", {"x": "1"})
        ),
        "critic": verdict("pass"),
        "synthesizer": "the answer",
    }
    team = Team(ScriptedChatModel(script), tools=[hold], checkpointer="memory", name="held")
    app = create_app(team, max_runs=1, max_queued=1)
    async with _client(app) as client:
        first = (await client.post("/runs", json={"goal": "one"})).json()["run_id"]
        log = app.state.manager.logs[first]
        async with log.changed:  # the first run holds the only slot, in its tool call
            await log.changed.wait_for(lambda: any(e["type"] == "tool_started" for e in log.events))
        second = await client.post("/runs", json={"goal": "two"})  # waits for the slot
        third = await client.post("/runs", json={"goal": "three"})
        assert second.status_code == 201 and third.status_code == 429
        assert "wait for a slot" in third.json()["detail"]
        gate.set()
        await _settled(app, first)
        await _settled(app, second.json()["run_id"])
        record = (await client.get(f"/runs/{second.json()['run_id']}")).json()
        assert record["status"] == "succeeded"


def _serve(port: int, target: str = "examples/approval_demo.py:team", *more: str) -> Any:
    from tests.conftest import background_server

    command = [sys.executable, "-m", "orchestra.cli", "serve", target, "--port", str(port)]
    return background_server([*command, *more], r"Uvicorn running on")


def _events(base: str, run_id: str) -> list[tuple[int, dict[str, Any]]]:
    with httpx.Client(base_url=base, timeout=60) as client:
        return _sse(client.get(f"/runs/{run_id}/events").text)  # ends when the run settles


def test_a_run_survives_a_server_restart_and_goes_on_through_the_api():
    from tests.conftest import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with _serve(port):
        run_id = httpx.post(f"{base}/runs", json={"goal": "Send the report to Ann"}).json()[
            "run_id"
        ]
        first = _events(base, run_id)
        assert first[-1][1]["type"] == "approval_requested"  # the plan waits for a yes
    with _serve(port):  # a new server process, the same checkpoints
        record = httpx.get(f"{base}/runs/{run_id}").json()
        assert record["status"] == "awaiting_approval"
        for _ in range(5):  # the plan, then each email, waits for a yes
            assert httpx.post(f"{base}/runs/{run_id}/approve").status_code == 202
            went_on = _events(base, run_id)
            if went_on[-1][1]["type"] == "run_finished":
                break
            assert went_on[-1][1]["type"] == "approval_requested"
        assert went_on[-1][1]["status"] == "succeeded"
        assert [n for n, _ in went_on] == list(range(1, len(went_on) + 1))
        assert httpx.get(f"{base}/runs/{run_id}").json()["status"] == "succeeded"


def test_binding_beyond_loopback_needs_a_token():
    proc = subprocess.run(
        [sys.executable, "-m", "orchestra.cli", "serve", "tests/cli/teams.py:plain"]
        + ["--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "ORCHESTRA_API_TOKEN"},
        check=False,
    )
    assert proc.returncode == 2 and "set ORCHESTRA_API_TOKEN" in proc.stderr


async def test_the_page_is_served_with_the_team_name_escaped_and_takes_a_query_token():
    hostile = Team(ScriptedChatModel({}), name="<script>alert(1)</script>", checkpointer="memory")
    app = create_app(hostile, token="s3cret")
    async with _client(app) as client:
        assert (await client.get("/")).status_code == 401
        assert (await client.get("/?access_token=nope")).status_code == 401
        page = await client.get("/?access_token=s3cret")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "http://" not in page.text and "https://" not in page.text  # no outside assets


async def test_decisions_and_resumes_that_do_not_fit_are_refused_up_front():
    app = create_app(_team(), max_runs=1, max_queued=0)
    async with _client(app) as client:
        blank = await client.post("/runs", json={"goal": "   "})
        assert blank.status_code == 422
        run_id = (await client.post("/runs", json={"goal": "send"})).json()["run_id"]  # a free slot
        await _settled(app, run_id)
        wrong = await client.post(f"/runs/{run_id}/approve", json={"request": "nope"})
        assert wrong.status_code == 400 and "no pending request 'nope'" in wrong.json()["detail"]
        # an edit this endpoint cannot make is refused, never taken as an approval
        for body in ({"plan": {"tasks": []}}, {"alternatives": []}, {"decision": "edit_plan"}):
            refused = await client.post(f"/runs/{run_id}/approve", json=body)
            assert refused.status_code == 422, body
        unfit = await client.post(f"/runs/{run_id}/approve", json={"args": {"txt": "hi"}})
        assert unfit.status_code == 400
        assert "invalid arguments for send: text: Field required" in unfit.json()["detail"]
        waiting = await client.post(f"/runs/{run_id}/resume")
        assert waiting.status_code == 409 and "approve or reject" in waiting.json()["detail"]
        assert (await client.post(f"/runs/{run_id}/approve")).status_code == 202
        await _settled(app, run_id)
        assert (await client.post(f"/runs/{run_id}/approve")).status_code == 409
        ended = await client.post(f"/runs/{run_id}/resume")
        assert ended.status_code == 409 and "ended succeeded" in ended.json()["detail"]
        assert (await client.post("/runs/nope/cancel")).status_code == 404


async def test_the_token_guards_the_api_docs_too_and_any_case_of_bearer():
    app = create_app(_team(), token="s3cret")
    async with _client(app) as client:
        assert (await client.get("/openapi.json")).status_code == 401
        assert (await client.get("/docs")).status_code == 401
        ok = await client.get("/openapi.json", headers={"Authorization": "bearer s3cret"})
        assert ok.status_code == 200


async def test_the_history_is_listed_in_pages(tmp_path: Any):
    from orchestra.observability.history import RunHistory

    team = Team(
        ScriptedChatModel({"planner": plan(subtask("a")), "*": "done", "critic": verdict("pass")}),
        checkpointer="memory",
        history=RunHistory(tmp_path / "h.db"),
        name="paged",
    )
    app = create_app(team)
    async with _client(app) as client:
        ids = []
        for n in range(3):
            ids.append((await client.post("/runs", json={"goal": f"goal {n}"})).json()["run_id"])
            await _settled(app, ids[-1])
        first = (await client.get("/runs?limit=2")).json()
        second = (await client.get("/runs?limit=2&offset=2")).json()
    assert [r["run_id"] for r in first + second] == ids[::-1]


async def test_a_negative_last_event_id_is_refused_not_replayed_twice():
    app = create_app(_team())
    async with _client(app) as client:
        run_id = (await client.post("/runs", json={"goal": "send a note"})).json()["run_id"]
        await _settled(app, run_id)
        refused = await client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": "-5"})
        assert refused.status_code == 422 and "last-event-id" in refused.text.lower()
        everything = _sse((await client.get(f"/runs/{run_id}/events")).text)
        zero = _sse(
            (await client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": "0"})).text
        )
        assert zero == everything


async def test_a_run_going_on_reads_running_and_a_cancelled_one_interrupted_and_resumes():
    started, release = asyncio.Event(), asyncio.Event()

    @tool
    async def slow(q: str) -> str:
        """Take a while."""
        started.set()
        await release.wait()
        return "slow done"

    script = {
        "planner": plan(subtask("a", "Wait")),
        "role_designer": role_spec("w", "Do it.", ["slow"]),
        "executor": lambda call: (
            "a done"
            if any(isinstance(m, ToolMessage) for m in call.messages)
            else tool_call("slow", {"q": "x"})
        ),
        "critic": verdict("pass"),
        "synthesizer": "the answer",
    }
    team = Team(ScriptedChatModel(script), tools=[slow], checkpointer="memory", history=False)
    app = create_app(team)
    async with _client(app) as client:
        run_id = (await client.post("/runs", json={"goal": "wait"})).json()["run_id"]
        await started.wait()
        assert (await client.get(f"/runs/{run_id}")).json()["status"] == "running"
        assert (await client.post(f"/runs/{run_id}/cancel")).json()["cancelled"] is True
        await app.state.manager.logs[run_id].task
        assert (await client.get(f"/runs/{run_id}")).json()["status"] == "interrupted"
        release.set()
        assert (await client.post(f"/runs/{run_id}/resume")).status_code == 202
        await app.state.manager.logs[run_id].task
        done = (await client.get(f"/runs/{run_id}")).json()
        assert done["status"] == "succeeded" and done["output"] == "the answer"
