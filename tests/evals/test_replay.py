"""Gold-DAG replay through the real engine: exactly once, in order, near the critical path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestra.evals.dags import load_dags
from orchestra.evals.latency import LatencySpec
from orchestra.evals.replay import replay, replay_record
from tests.conftest import GUARD_S
from tests.forked_cli import ForkedCli

SMALL = Path(__file__).parents[1] / "fixtures" / "dags-small.jsonl"


async def test_every_shape_replays_exactly_once_and_in_order():
    report = await replay(load_dags(SMALL), LatencySpec.parse("0.02"))
    for record in report.records:
        assert record.exactly_once and record.order_ok, (record.id, record.problems)
        assert record.status == "succeeded"
        assert record.makespan_s >= record.critical_path_s
    summary = report.summary
    assert (summary.n, summary.exactly_once, summary.order_ok) == (4, 4, 4)
    by_id = {r.id: r for r in report.records}
    assert by_id["chain-3"].critical_path_s == 0.06  # three nodes in a row
    assert by_id["wide-10"].critical_path_s == 0.02  # ten at once


async def test_independent_calls_are_in_flight_at_the_same_time(monkeypatch):
    """Parallelism shown without timing: each stub call waits until another one is in flight
    too (a serial run would time out here), and the most in flight at once is counted."""
    from orchestra.evals import replay as replay_module

    real_sleep = asyncio.sleep
    in_flight = {"now": 0, "most": 0}
    two = asyncio.Event()

    async def sleep(seconds: float) -> None:
        in_flight["now"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["now"])
        if in_flight["now"] >= 2:
            two.set()
        try:
            await asyncio.wait_for(two.wait(), GUARD_S)
            await real_sleep(seconds)
        finally:
            in_flight["now"] -= 1

    shim = SimpleNamespace(
        **{k: getattr(asyncio, k) for k in dir(asyncio) if not k.startswith("_")}
    )
    shim.sleep = sleep
    monkeypatch.setattr(replay_module, "asyncio", shim)
    wide = next(r for r in load_dags(SMALL) if r.id == "wide-10")
    done = await replay_record(wide, LatencySpec.parse("0.02"))
    assert done.exactly_once and done.status == "succeeded"
    assert in_flight["most"] >= 2


async def test_references_reach_the_tools_as_the_outputs_of_earlier_nodes():
    chain = load_dags(SMALL)[0]
    seen: list[dict] = []
    from orchestra.evals import replay as replay_module

    original = replay_module._claim

    def spy(record, calls, tool, args):
        seen.append({"tool": tool, "args": dict(args)})
        return original(record, calls, tool, args)

    replay_module._claim = spy
    try:
        done = await replay_record(chain, LatencySpec.parse("0"))
    finally:
        replay_module._claim = original
    assert done.exactly_once
    assert seen == [
        {"tool": "find_city", "args": {"q": "capital of France"}},
        {"tool": "weather", "args": {"city": "n0.city"}},
        {"tool": "advise", "args": {"temp": "n1.temp", "note": "for n0.city today"}},
    ]


async def test_a_limit_on_parallel_attempts_is_respected_and_shows_as_overhead():
    wide = load_dags(SMALL)[3]
    free = await replay_record(wide, LatencySpec.parse("0.02"))
    limited = await replay_record(wide, LatencySpec.parse("0.02"), max_parallel=2)
    assert limited.exactly_once and limited.order_ok
    assert limited.makespan_s >= 5 * 0.02  # ten calls, two at a time
    assert limited.efficiency < free.efficiency


def test_the_cli_prints_one_json_object_with_the_summary(forked_cli: ForkedCli):
    done = forked_cli.run(
        "bench",
        "replay",
        "--dags",
        str(SMALL),
        "--tool-latency",
        "uniform:0.001:0.01",
        "--seed",
        "3",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"records", "summary", "settings"}
    assert set(report["summary"]) == {
        "n",
        "exactly_once",
        "order_ok",
        "median_efficiency",
        "p10_efficiency",
        "median_overhead_ms_per_node",
        "median_tool_span_efficiency",
        "p10_tool_span_efficiency",
        "median_run_ms",
        "model_calls_per_task",
        "tokens_per_task",
    }
    assert report["summary"]["exactly_once"] == 4
    per_task = report["summary"]["model_calls_per_task"]
    # one executor call a node (the role finishes on its tool), one critic call a node
    # plus the answer's; planning and synthesis spread over the nodes
    assert per_task["executor"] == 1.0 and per_task["critic"] > 1.0
    assert per_task["total"] == pytest.approx(
        sum(v for k, v in per_task.items() if k != "total"), abs=0.01
    )
    assert report["settings"]["tool_latency"] == "uniform:0.001:0.01"
    first = report["records"][0]
    assert {
        "exactly_once",
        "order_ok",
        "makespan_s",
        "critical_path_s",
        "efficiency",
        "overhead_ms_per_node",
    } <= set(first)


def test_the_cli_rejects_a_bad_file_or_latency(tmp_path: Path, forked_cli: ForkedCli):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    done = forked_cli.run("bench", "replay", "--dags", str(bad))
    assert done.returncode == 2 and "bad.jsonl:1" in done.stderr
    done = forked_cli.run("bench", "replay", "--dags", str(SMALL), "--tool-latency", "soon")
    assert done.returncode == 2 and "latency 'soon'" in done.stderr
