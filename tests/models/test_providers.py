"""Provider wiring without network: the real langchain clients against a fake provider.

The OpenAI and Anthropic SDKs now ship their own HTTP stack (``httpx2``), which ``respx``
cannot intercept, so the fake sits one level lower: a small HTTP server on 127.0.0.1
answering in each provider's wire format (``tests/fixtures/providers``), reached through
the real client with a ``provider:model@URL`` model string. Unexpected requests get a 500
and fail the run. The same team runs on both providers: structured output (plans, roles,
verdicts), native tool calls, and token usage.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from orchestra import ConfigError, RunStatus, Team
from orchestra.models.resolve import resolve_model
from tests.conftest import word_count

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
REPLIES = json.loads((FIXTURES / "replies.json").read_text())
GOAL = "How many words are in 'the quick brown fox'?"


def agent_of(system: str) -> str:
    """Which orchestra agent sent a request, from its system prompt."""
    for marker, agent in [
        ("You are the planner", "planner"),
        ("You design the specialist", "role_designer"),
        ("You are the critic", "critic"),
        ("You write the final answer", "synthesizer"),
    ]:
        if system.startswith(marker):
            return agent
    return "executor"


def structured_reply(agent: str, request: str) -> Any:
    """The fixture reply to a structured call; the role designer's names each task asked
    about (it designs a plan's roles in one call: ``Task <id>: ...`` in ``request``)."""
    if agent != "role_designer":
        return REPLIES[agent]
    tasks = re.findall(r"^Task (\S+): ", request, re.MULTILINE)
    assert tasks, "a role-design call names its tasks"
    return {"roles": [{"task": t, **REPLIES["role_designer"]} for t in tasks]}


def text_of(content: Any) -> str:
    """A message's text, whether its content is a string or a list of parts."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def task_of(text: str) -> str:
    found = re.search(r"Your task \(([^)]+)\)", text)
    return found.group(1) if found else ""


# -- OpenAI ------------------------------------------------------------------------------


Handler = Callable[[dict[str, Any]], Any]


@contextmanager
def fake_provider(path: str, answer: Handler) -> Iterator[str]:
    """Serve ``answer(request body)`` at POST ``path`` on 127.0.0.1; yields the base URL."""
    errors: list[str] = []

    class Handle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                assert self.path == path, f"unexpected path {self.path}"
                status, payload = 200, answer(body)
            except Exception as exc:  # reported to the client and to the test
                errors.append(repr(exc))
                status, payload = 500, {"error": {"message": repr(exc)}}
            if isinstance(payload, list):  # a streamed reply: server-sent events
                events = [f"data: {json.dumps(p)}\n\n" for p in payload] + ["data: [DONE]\n\n"]
                data, kind = "".join(events).encode(), "text/event-stream"
            else:
                data, kind = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors


def openai_server(seen: list[dict[str, Any]]) -> Handler:
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body)
        system = body["messages"][0]["content"]
        agent = agent_of(system)
        reply = copy.deepcopy(json.loads((FIXTURES / "openai_chat_completion.json").read_text()))
        message = reply["choices"][0]["message"]
        if agent in ("planner", "role_designer", "critic"):
            assert body["response_format"]["type"] == "json_schema"
            request = text_of(body["messages"][-1]["content"])
            message["content"] = json.dumps(structured_reply(agent, request))
        elif agent == "executor":
            has_result = any(m["role"] == "tool" for m in body["messages"])
            if task_of(body["messages"][1]["content"]) == "count" and not has_result:
                assert [t["function"]["name"] for t in body["tools"]] == ["word_count"]
                call = REPLIES["executor_tool_call"]
                message["tool_calls"] = [
                    {
                        "id": "call_fake01",
                        "type": "function",
                        "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
                    }
                ]
                reply["choices"][0]["finish_reason"] = "tool_calls"
            else:
                message["content"] = REPLIES["executor_final"]
        else:
            message["content"] = REPLIES["synthesizer"]
        return reply

    return answer


def test_a_team_runs_on_openai_through_the_real_client(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    seen: list[dict[str, Any]] = []
    with fake_provider("/v1/chat/completions", openai_server(seen)) as url:
        team = Team(f"openai:gpt-4.1-mini@{url}/v1", tools=[word_count])
        result = team.run(GOAL)
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == REPLIES["synthesizer"]
    assert result.roles["counter"].tools == ("word_count",)
    assert result.tree.get("report").depends_on == ["count"]
    tool_results = [m for b in seen for m in b["messages"] if m["role"] == "tool"]
    assert tool_results and "4" in tool_results[0]["content"]
    # plan, roles (one call for both tasks), attempts (3 calls for 'count', 1 for
    # 'report'), verdicts (2), synthesis and the critic's verdict on the answer
    assert result.usage.model_calls == len(seen) == 1 + 1 + 3 + 2 + 1 + 1
    assert result.usage.input_tokens == 412 * len(seen)
    assert result.usage.cost_usd == pytest.approx(len(seen) * (412 * 0.4 + 57 * 1.6) / 1e6)
    assert all(b["model"] == "gpt-4.1-mini" for b in seen)


def test_a_typed_answer_goes_through_the_providers_structured_output(monkeypatch):
    from pydantic import BaseModel

    class Count(BaseModel):
        sentence: str
        words: int

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    seen: list[dict[str, Any]] = []
    plain = openai_server(seen)

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        reply = plain(body)
        if agent_of(body["messages"][0]["content"]) == "synthesizer":
            schema = body["response_format"]["json_schema"]["schema"]
            assert set(schema["properties"]) == {"sentence", "words"}
            typed = {"sentence": "the quick brown fox", "words": 4}
            reply["choices"][0]["message"]["content"] = json.dumps(typed)
        return reply

    with fake_provider("/v1/chat/completions", answer) as url:
        team = Team(f"openai:gpt-4.1-mini@{url}/v1", tools=[word_count], output_type=Count)
        result = team.run(GOAL)
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == Count(sentence="the quick brown fox", words=4)
    assert result.to_record().typed_output == {"sentence": "the quick brown fox", "words": 4}


def as_openai_stream(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat completion as the chunks OpenAI streams it in, usage last."""
    message = reply["choices"][0]["message"]
    base = {k: reply[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    text = message.get("content") or ""
    pieces = [chunk({"role": "assistant", "content": ""})]
    pieces += [chunk({"content": w}) for w in re.findall(r"\S+\s*", text)]
    for n, call in enumerate(message.get("tool_calls") or []):
        pieces.append(chunk({"tool_calls": [call | {"index": n}]}))
    pieces.append(chunk({}, reply["choices"][0]["finish_reason"]))
    return [*pieces, base | {"choices": [], "usage": reply["usage"]}]


def test_streamed_replies_from_openai_carry_the_same_usage(monkeypatch):
    import asyncio

    from orchestra.core.events import TokenStreamed

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    seen: list[dict[str, Any]] = []
    plain = openai_server(seen)

    def answer(body: dict[str, Any]) -> Any:
        reply = plain(body)
        if body.get("stream"):
            assert body["stream_options"] == {"include_usage": True}
            return as_openai_stream(reply)
        return reply

    with fake_provider("/v1/chat/completions", answer) as url:
        team = Team(f"openai:gpt-4.1-mini@{url}/v1", tools=[word_count])

        async def run() -> tuple[list[Any], Any]:
            events = [e async for e in team.astream(GOAL, run_id="streamed", tokens=True)]
            return events, await team.aget_run("streamed")

        events, result = asyncio.run(run())
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == REPLIES["synthesizer"]
    assert result.tree.get("count").result == REPLIES["executor_final"]
    streamed = [b for b in seen if b.get("stream")]
    assert streamed  # executors and the synthesizer streamed; structured replies did not
    assert result.usage.model_calls == len(seen) == 1 + 1 + 3 + 2 + 1 + 1
    assert result.usage.input_tokens == 412 * len(seen)  # streamed calls counted in full
    pieces = [e for e in events if isinstance(e, TokenStreamed) and e.agent == "synthesizer"]
    assert "".join(p.text for p in pieces) == REPLIES["synthesizer"] and len(pieces) > 1


# -- Anthropic ---------------------------------------------------------------------------


def anthropic_server(seen: list[dict[str, Any]]) -> Handler:
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body)
        system = body["system"] if isinstance(body["system"], str) else body["system"][0]["text"]
        agent = agent_of(system)
        reply = copy.deepcopy(json.loads((FIXTURES / "anthropic_message.json").read_text()))
        forced = (body.get("tool_choice") or {}).get("name")
        if agent in ("planner", "role_designer", "critic"):
            assert forced, "structured output goes through a forced tool call"
            data = structured_reply(agent, text_of(body["messages"][-1]["content"]))
            reply["content"] = [
                {"type": "tool_use", "id": "toolu_fake01", "name": forced, "input": data}
            ]
            reply["stop_reason"] = "tool_use"
        elif agent == "executor":
            first_user = body["messages"][0]["content"]
            text = first_user if isinstance(first_user, str) else first_user[0]["text"]
            has_result = any(
                isinstance(m["content"], list)
                and any(part.get("type") == "tool_result" for part in m["content"])
                for m in body["messages"]
            )
            if task_of(text) == "count" and not has_result:
                call = REPLIES["executor_tool_call"]
                reply["content"] = [
                    {
                        "type": "tool_use",
                        "id": "toolu_fake02",
                        "name": call["name"],
                        "input": call["args"],
                    }
                ]
                reply["stop_reason"] = "tool_use"
            else:
                reply["content"] = [{"type": "text", "text": REPLIES["executor_final"]}]
        else:
            reply["content"] = [{"type": "text", "text": REPLIES["synthesizer"]}]
        return reply

    return answer


def test_a_team_runs_on_anthropic_through_the_real_client(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-real")
    seen: list[dict[str, Any]] = []
    with fake_provider("/v1/messages", anthropic_server(seen)) as url:
        team = Team(f"anthropic:claude-sonnet-4-6@{url}", tools=[word_count])
        result = team.run(GOAL)
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == REPLIES["synthesizer"]
    assert result.tree.get("count").result == REPLIES["executor_final"]
    # one role-design call for the plan; the answer's verdict included
    assert result.usage.model_calls == len(seen) == 9
    assert result.usage.output_tokens == 61 * len(seen)
    assert result.usage.cost_usd == pytest.approx(len(seen) * (398 * 3.0 + 61 * 15.0) / 1e6)


# -- model strings -----------------------------------------------------------------------


def test_model_strings_with_a_base_url_and_the_environment_default(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    model = resolve_model("openai:qwen2.5-7b@http://127.0.0.1:8080/v1")
    assert model.model_name == "qwen2.5-7b"
    assert str(model.openai_api_base) == "http://127.0.0.1:8080/v1"
    monkeypatch.setenv("ORCHESTRA_MODEL", "anthropic:claude-haiku-4-5")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-real")
    assert type(Team().runtime.model).__name__ == "ChatAnthropic"
    assert Team().runtime.fallbacks is False  # fallbacks are for the embedded model


def test_per_role_and_per_agent_models_by_name(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    from orchestra import Role

    team = Team(
        "openai:gpt-4.1-mini",
        models={"planner": "openai:gpt-4.1"},
        roles=[Role(name="writer", instructions="Write.", model="openai:gpt-4.1-nano")],
    )
    rt = team.runtime
    assert rt.model_for_agent("planner").model_name == "gpt-4.1"
    assert rt.model_for_agent("critic").model_name == "gpt-4.1-mini"
    assert rt.model_for(rt.initial_roles()["writer"]).model_name == "gpt-4.1-nano"


def test_missing_provider_package_names_the_extra():
    with pytest.raises(ConfigError, match=r"orchestra-teams\[ollama\]"):
        resolve_model("ollama:qwen2.5")
    with pytest.raises(ConfigError, match="could not be created"):
        resolve_model("nosuchprovider:model")
