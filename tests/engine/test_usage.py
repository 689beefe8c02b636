"""Token usage and cost are recorded per node and per run."""

from __future__ import annotations

from orchestra.core.usage import DEFAULT_PRICES, Price, Usage, price_for
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect


def test_prices_match_the_longest_prefix():
    assert price_for("gpt-4.1-mini-2025-04-14", DEFAULT_PRICES) == Price(
        input=0.4, output=1.6, cached_input=0.1
    )
    assert price_for("gpt-4.1-2025-04-14", DEFAULT_PRICES) == Price(
        input=2.0, output=8.0, cached_input=0.5
    )
    assert price_for("mystery-model", DEFAULT_PRICES) is None
    call = Usage.of_call("gpt-4.1", 1_000_000, 500_000, DEFAULT_PRICES)
    assert call.cost_usd == 6.0 and call.model_calls == 1
    assert Usage.of_call("mystery", 10, 10, DEFAULT_PRICES).unpriced_calls == 1


async def test_usage_rolls_up_from_nodes_to_the_run():
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do it."),
        "executor": lambda call: "x" * 400,  # 100 estimated output tokens
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, model = make_team(script, prices={"scripted": Price(input=1.0, output=2.0)})
    result, _ = await run_collect(team)
    tree = result.tree
    a = tree.get("a")
    # a: one executor call, one critic call
    assert a.usage.model_calls == 2
    assert a.usage.output_tokens >= 100
    # planner, one role design call for the whole plan, synthesizer, critic on the answer
    assert tree.root.usage.model_calls == 4
    assert len(model.calls_for("role_designer")) == 1
    total = result.usage
    assert total.model_calls == len(model.calls) == 4 + 2 + 2
    assert total.input_tokens == sum(n.usage.input_tokens for n in tree.nodes.values())
    expected = (total.input_tokens * 1.0 + total.output_tokens * 2.0) / 1e6
    assert abs(total.cost_usd - expected) < 1e-6
    record = result.to_record()
    assert record.usage == total
    assert {t.id: t.usage.model_calls for t in record.tasks} == {"a": 2, "b": 2}


async def test_usage_is_split_by_agent_and_per_task_in_the_record():
    script = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do it."),
        "executor": lambda call: "x" * 400,
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, model = make_team(script)
    result, _ = await run_collect(team)
    by_agent = result.usage.by_agent
    calls = {agent: share.model_calls for agent, share in by_agent.items()}
    seen: dict[str, int] = {}
    for call in model.calls:
        seen[call.agent or "?"] = seen.get(call.agent or "?", 0) + 1
    assert calls == seen  # every call counted once, for the agent that made it
    assert sum(s.input_tokens for s in by_agent.values()) == result.usage.input_tokens
    record = result.to_record()
    assert record.model_calls_per_task["executor"] == 1.0  # one call a task
    assert record.model_calls_per_task["total"] == result.usage.model_calls / 2
    assert record.tokens_per_task["total"] == result.usage.total_tokens / 2
    # the field survives a JSON round trip (run history, `orchestra runs show`)
    again = type(record).model_validate_json(record.model_dump_json())
    assert again.usage.by_agent == by_agent
