"""Token usage and cost are recorded per node and per run."""

from __future__ import annotations

from orchestra.core.usage import DEFAULT_PRICES, Price, Usage, price_for
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect


def test_prices_match_the_longest_prefix():
    assert price_for("gpt-4.1-mini-2025-04-14", DEFAULT_PRICES) == Price(input=0.4, output=1.6)
    assert price_for("gpt-4.1-2025-04-14", DEFAULT_PRICES) == Price(input=2.0, output=8.0)
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
    # a: one role design call, one executor call, one critic call
    assert a.usage.model_calls == 3
    assert a.usage.output_tokens >= 100
    assert tree.root.usage.model_calls == 3  # planner, synthesizer, critic on the answer
    total = result.usage
    assert total.model_calls == len(model.calls) == 3 + 3 + 3
    assert total.input_tokens == sum(n.usage.input_tokens for n in tree.nodes.values())
    expected = (total.input_tokens * 1.0 + total.output_tokens * 2.0) / 1e6
    assert abs(total.cost_usd - expected) < 1e-6
    record = result.to_record()
    assert record.usage == total
    assert {t.id: t.usage.model_calls for t in record.tasks} == {"a": 3, "b": 3}
