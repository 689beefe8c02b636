"""Prompt caching: cache breakpoints in Anthropic requests, cached tokens counted and priced.

The real langchain clients talk to the fake providers of ``test_providers`` (their wire
format, on 127.0.0.1); the fake replies report cache reads (and Anthropic cache writes)
in the providers' own usage fields.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from orchestra import Role, RunStatus, Team
from orchestra.core.usage import DEFAULT_PRICES, Usage
from orchestra.models.caching import CACHE_CONTROL, cache_tokens, with_cache_breakpoints
from orchestra.testing import plan, subtask
from tests.conftest import word_count
from tests.models.test_providers import (
    GOAL,
    anthropic_server,
    fake_provider,
    openai_server,
)

PLAN = plan(
    subtask("count", "Count the words", "Count the words of the sentence.", role="counter"),
    subtask("report", "Report", "Say how many words it has.", deps=["count"], role="counter"),
)
COUNTER = Role(
    name="counter", instructions="Count things exactly, using tools.", tools=["word_count"]
)


def _team(model: str) -> Team:
    return Team(model, tools=[word_count], roles=[COUNTER], history=False)


# -- Anthropic ---------------------------------------------------------------------------


def test_anthropic_requests_mark_the_stable_prefix_and_cached_tokens_are_priced(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-real")
    seen: list[dict[str, Any]] = []
    plain = anthropic_server(seen)

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        reply = plain(body)
        if body["system"][0]["text"].startswith("You are the planner"):
            reply["content"][0]["input"] = PLAN
        # 398 input tokens in all: 48 new, 300 read from the cache, 50 written to it
        reply["usage"] |= {
            "input_tokens": 48,
            "cache_read_input_tokens": 300,
            "cache_creation_input_tokens": 50,
        }
        return reply

    with fake_provider("/v1/messages", answer) as url:
        result = _team(f"anthropic:claude-sonnet-4-6@{url}").run(GOAL)
    assert result.status is RunStatus.SUCCEEDED, result.reason
    for body in seen:
        # the system prompt is the stable prefix: its last block is the breakpoint
        *_, last = body["system"]
        assert last["cache_control"] == CACHE_CONTROL
        assert all("cache_control" not in b for b in body["system"][:-1])
    executors = [b for b in seen if b["system"][0]["text"].startswith("You are one member")]
    opening = [b for b in executors if len(b["messages"]) == 1]
    assert opening and all(isinstance(b["messages"][0]["content"], str) for b in opening)
    assert "Overall goal:" in opening[0]["system"][0]["text"]  # the goal is in the prefix
    assert "Your task (" in opening[0]["messages"][0]["content"]  # the task comes after it
    # a tool loop goes on: its conversation so far is a breakpoint of its own
    [going_on] = [b for b in executors if len(b["messages"]) > 1]
    tool_result = going_on["messages"][-1]["content"][-1]
    assert tool_result["type"] == "tool_result" and tool_result["cache_control"] == CACHE_CONTROL

    usage = result.usage
    assert usage.model_calls == len(seen)
    assert usage.input_tokens == 398 * len(seen)
    assert usage.cached_input_tokens == 300 * len(seen)
    assert usage.cache_write_tokens == 50 * len(seen)
    per_call = (48 * 3.0 + 300 * 0.30 + 50 * 3.75 + 61 * 15.0) / 1e6
    assert usage.cost_usd == pytest.approx(len(seen) * per_call)
    record = result.to_record()
    assert record.usage.cached_input_tokens == usage.cached_input_tokens
    assert sum(t.usage.cached_input_tokens for t in result.tree.nodes.values()) == (
        usage.cached_input_tokens
    )


# -- OpenAI ------------------------------------------------------------------------------


def test_openai_cached_tokens_are_counted_at_the_cached_rate(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    seen: list[dict[str, Any]] = []
    plain = openai_server(seen)

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        reply = plain(body)
        if body["messages"][0]["content"].startswith("You are the planner"):
            reply["choices"][0]["message"]["content"] = json.dumps(PLAN)
        reply["usage"]["prompt_tokens_details"]["cached_tokens"] = 256
        return reply

    with fake_provider("/v1/chat/completions", answer) as url:
        result = _team(f"openai:gpt-4.1-mini@{url}/v1").run(GOAL)
    assert result.status is RunStatus.SUCCEEDED, result.reason
    # OpenAI caches prefixes by itself: the request is left as it was
    assert "cache_control" not in json.dumps(seen)
    assert all(isinstance(m["content"], str) for b in seen for m in b["messages"][:1])
    usage = result.usage
    assert usage.input_tokens == 412 * len(seen)
    assert usage.cached_input_tokens == 256 * len(seen) and usage.cache_write_tokens == 0
    per_call = ((412 - 256) * 0.40 + 256 * 0.10 + 57 * 1.60) / 1e6
    assert usage.cost_usd == pytest.approx(len(seen) * per_call)


# -- units -------------------------------------------------------------------------------


def test_breakpoints_only_for_anthropic_and_never_on_the_callers_messages():
    messages = [SystemMessage(content="rules"), HumanMessage(content="task")]
    assert with_cache_breakpoints(messages, "openai") == messages
    marked = with_cache_breakpoints(messages, "anthropic")
    assert marked[0].content == [{"type": "text", "text": "rules", "cache_control": CACHE_CONTROL}]
    assert marked[1] is messages[1]  # an opening call: only the stable prefix is marked
    assert messages[0].content == "rules"  # the caller's conversation stays plain
    loop = [
        *messages,
        AIMessage(content="", tool_calls=[{"name": "t", "args": {}, "id": "c1"}]),
        ToolMessage(content="out", tool_call_id="c1"),
    ]
    last = with_cache_breakpoints(loop, "anthropic")[-1]
    assert last.content == [{"type": "text", "text": "out", "cache_control": CACHE_CONTROL}]
    media = HumanMessage(content=[{"type": "text", "text": "look"}, {"type": "image_url"}])
    marked_media = with_cache_breakpoints([*loop[:3], media], "anthropic")[-1].content
    assert marked_media[0] == {"type": "text", "text": "look", "cache_control": CACHE_CONTROL}


def test_cache_tokens_from_usage_metadata():
    assert cache_tokens({"input_tokens": 10}) == (0, 0)
    anthropic = {"input_token_details": {"cache_read": 300, "cache_creation": 50}}
    assert cache_tokens(anthropic) == (300, 50)
    with_ttl = {
        "input_token_details": {
            "cache_read": 5,
            "cache_creation": 0,
            "ephemeral_5m_input_tokens": 7,
            "ephemeral_1h_input_tokens": 2,
        }
    }
    assert cache_tokens(with_ttl) == (5, 9)
    assert cache_tokens({"input_token_details": {"priority_cache_read": 4}}) == (4, 0)


def test_cached_prices_and_old_records():
    sonnet = DEFAULT_PRICES["claude-sonnet-4"]
    assert (sonnet.cached_input, sonnet.cache_write) == (pytest.approx(0.3), 3.75)
    assert DEFAULT_PRICES["gpt-4.1"].cached_input == 0.5
    assert DEFAULT_PRICES["o4-mini"].cached_input == 0.275
    call = Usage.of_call("gpt-4.1", 1_000_000, 0, DEFAULT_PRICES, cached_input_tokens=1_000_000)
    assert call.cost_usd == 0.5
    # a usage saved before cached tokens were counted still loads, as none cached
    old = Usage.model_validate({"input_tokens": 5, "output_tokens": 1, "model_calls": 1})
    assert old.cached_input_tokens == 0 and old.cache_write_tokens == 0
    total = call + old
    assert total.cached_input_tokens == 1_000_000 and total.input_tokens == 1_000_005
