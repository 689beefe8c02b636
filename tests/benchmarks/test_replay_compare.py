"""The replay comparison: LangGraph baselines run every node once, in order; the wave bound."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console

from orchestra.evals.dags import DagRecord, critical_path_s, load_dags
from orchestra.evals.latency import LatencySpec
from orchestra.evals.replay import StubCalls, calls_in_order, stub_tools
from orchestra.evals.replay_baselines import (
    ENGINES,
    ScriptedNodeCalls,
    functional_workflow,
    node_latencies,
    replay_baseline,
    replay_baseline_record,
    send_waves_graph,
    wave_makespan_s,
    waves,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL_DAGS = ROOT / "tests" / "fixtures" / "dags-small.jsonl"
TINY = LatencySpec.parse("uniform:0.001:0.005")


def load_bench(name: str) -> ModuleType:
    """A benchmark script as a module, importable as when run: `python benchmarks/x.py`."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def small_records() -> list[DagRecord]:
    """Three shapes: a chain with a reference to a non-adjacent node, a diamond, and
    identical twin calls (the stub must tell them apart)."""
    by_id = {r.id: r for r in load_dags(SMALL_DAGS)}
    return [by_id["chain-3"], by_id["diamond"], by_id["twins"]]


def record(nodes: list[tuple[str, list[str]]]) -> DagRecord:
    return DagRecord.model_validate(
        {
            "id": "hand-made",
            "goal": "g",
            "nodes": [{"id": i, "tool": "t", "args": {"k": i}, "deps": d} for i, d in nodes],
        }
    )


async def run_builder(engine: str, dag: DagRecord) -> tuple[StubCalls, Counter[str]]:
    latencies = node_latencies(dag, TINY, seed=3)
    calls = StubCalls()
    tools = {t.name: t for t in stub_tools(dag, latencies, calls)}
    ran: Counter[str] = Counter()
    if engine == "send_waves":
        graph = send_waves_graph(dag, tools, ran)
        await graph.ainvoke({"outputs": {}}, config={"recursion_limit": 50})
    else:
        nodes = ScriptedNodeCalls.for_record(dag, tools, calls)
        model_calls = nodes if engine == "functional_calls" else None
        await functional_workflow(dag, tools, ran, model_calls).ainvoke(dag.id)
    return calls, ran


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dag", small_records(), ids=lambda r: r.id)
async def test_each_baseline_runs_every_node_once_after_its_deps(engine: str, dag: DagRecord):
    calls, ran = await run_builder(engine, dag)
    assert calls.strays == []  # every call matched a node, references resolved alike
    assert dict(ran) == dict.fromkeys((n.id for n in dag.nodes), 1)
    assert {n.id: len(calls.spans[n.id]) for n in dag.nodes} == dict.fromkeys(
        (n.id for n in dag.nodes), 1
    )
    for node in dag.nodes:
        start = calls.spans[node.id][0][0]
        for dep in node.deps:
            assert start >= calls.spans[dep][0][1], f"{node.id} started before {dep} ended"


@pytest.mark.parametrize("engine", ENGINES)
async def test_replay_baseline_reports_exactly_once_and_order(engine: str):
    report = await replay_baseline(engine, small_records(), TINY, seed=1)
    for done in report.records:
        assert done.status == "succeeded", done.problems
        assert done.exactly_once and done.order_ok, (done.id, done.problems)
        assert done.makespan_s >= done.critical_path_s > 0
    assert (report.summary.n, report.summary.exactly_once, report.summary.order_ok) == (3, 3, 3)
    assert report.settings["engine"] == engine


async def test_baselines_draw_the_latencies_orchestra_draws():
    dag = small_records()[1]
    done = await replay_baseline_record("functional", dag, TINY, seed=7)
    latencies = {n.id: TINY.draw(7, dag.id, n.id) for n in dag.nodes}
    assert node_latencies(dag, TINY, 7) == latencies
    assert done.critical_path_s == round(critical_path_s(dag, latencies), 6)


@pytest.mark.parametrize("dag", small_records(), ids=lambda r: r.id)
async def test_functional_calls_make_the_executor_and_critic_calls_around_each_tool(
    dag: DagRecord,
):
    calls = StubCalls()
    tools = {t.name: t for t in stub_tools(dag, node_latencies(dag, TINY, seed=3), calls)}
    nodes = ScriptedNodeCalls.for_record(dag, tools, calls)
    ran: Counter[str] = Counter()
    await functional_workflow(dag, tools, ran, nodes).ainvoke(dag.id)

    assert calls.strays == []  # the executor's replies resolved every reference
    by_task = Counter((c.agent, c.task_id) for c in nodes.model.calls)
    assert by_task == {
        (agent, nodes.task_ids[n.id]): 1 for n in dag.nodes for agent in ("executor", "critic")
    }
    # each node's span covers its tool call: before the executor's call, after the critic's
    assert len(nodes.spans) == len(dag.nodes)
    tool_spans = sorted(span for node in dag.nodes for span in calls.spans[node.id])
    for (begin, end), (tool_begin, tool_end) in zip(sorted(nodes.spans), tool_spans, strict=True):
        assert begin <= tool_begin and tool_end <= end


async def test_functional_calls_measure_from_the_first_call_to_the_last_verdict():
    dag = small_records()[0]
    done = await replay_baseline_record("functional_calls", dag, TINY, seed=5)
    assert done.exactly_once and done.order_ok, done.problems
    # the makespan covers the model calls, so it is longer than the tools' own
    assert 0 < done.efficiency <= done.tool_span_efficiency


def test_the_order_check_catches_a_call_before_its_input_ended():
    dag = record([("a", []), ("b", ["a"])])
    calls = StubCalls(spans={"a": [(0.0, 2.0)], "b": [(1.0, 3.0)]})
    problems: list[str] = []
    assert not calls_in_order(dag, calls, problems)
    assert problems == ["b's call started before a's call ended"]


def test_wave_bound_of_a_chain_beside_a_long_node():
    # a -> b (0.1 s each) beside c (0.3 s): waves {a, c} then {b}
    dag = record([("a", []), ("b", ["a"]), ("c", [])])
    latency = {"a": 0.1, "b": 0.1, "c": 0.3}
    assert waves(dag) == [["a", "c"], ["b"]]
    assert wave_makespan_s(dag, latency) == pytest.approx(0.4)  # max(0.1, 0.3) + 0.1
    assert critical_path_s(dag, latency) == pytest.approx(0.3)  # c alone
    assert critical_path_s(dag, latency) / wave_makespan_s(dag, latency) == pytest.approx(0.75)


def test_wave_bound_when_waves_mix_chains():
    # a(0.1) -> b(0.05), c(0.2); d(0.1) after b and c; e(0.2) after b only
    dag = record([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"]), ("e", ["b"])])
    latency = {"a": 0.1, "b": 0.05, "c": 0.2, "d": 0.1, "e": 0.2}
    assert waves(dag) == [["a"], ["b", "c"], ["d", "e"]]
    assert wave_makespan_s(dag, latency) == pytest.approx(0.1 + 0.2 + 0.2)
    assert critical_path_s(dag, latency) == pytest.approx(0.4)  # a, c, d


def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "dags.jsonl"
    path.write_text("".join(json.dumps(r.model_dump()) + "\n" for r in small_records()))
    return path


def test_compare_mode_publishes_every_engine_and_prints_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    bench = load_bench("replay")
    published: dict[str, Any] = {}
    monkeypatch.setattr(bench, "publish", published.__setitem__)
    monkeypatch.setattr(bench, "LATENCIES", ("0.002", "uniform:0.001:0.004"))
    monkeypatch.setattr(
        sys, "argv", ["replay.py", "--compare", "--dags", str(small_file(tmp_path)), "--seed", "2"]
    )
    bench.main()

    assert set(published) == {"replay-compare"}
    result = published["replay-compare"]
    assert result["records"] == 3 and result["seed"] == 2
    assert result["engines"] == ["orchestra", "send_waves", "functional", "functional_calls"]
    assert result["latencies"] == ["0.002", "uniform:0.001:0.004"]
    for spec in result["latencies"]:
        entry = result[spec]
        assert set(entry) == {
            *result["engines"],
            "send_waves_ceiling_median_efficiency",
            "send_waves_ceiling_p10_efficiency",
            "ratios_vs_orchestra",
            "per_record_efficiency",
        }
        for engine in result["engines"]:
            row = entry[engine]
            assert {
                "median_efficiency",
                "p10_efficiency",
                "median_overhead_ms_per_node",
                "median_run_ms",
                "median_tool_span_efficiency",
                "p10_tool_span_efficiency",
            } <= set(row)
            assert (row["n"], row["exactly_once"], row["order_ok"]) == (3, 3, 3), row
            assert set(entry["ratios_vs_orchestra"][engine]) == set(bench.RATIO_KEYS)
        assert set(entry["ratios_vs_orchestra"]["orchestra"].values()) == {1.0}
        assert set(entry["per_record_efficiency"]) == {"chain-3", "diamond", "twins"}
        assert 0 < entry["send_waves_ceiling_p10_efficiency"] <= 1
        # orchestra's tool spans were seen; the baselines' makespans are tool spans already
        assert entry["orchestra"]["median_tool_span_efficiency"] is not None
        for engine in ("send_waves", "functional"):
            row = entry[engine]
            assert row["median_tool_span_efficiency"] == row["median_efficiency"]
        # the model calls' floor is measured as orchestra is: its model calls included
        calls_row = entry["functional_calls"]
        assert calls_row["median_tool_span_efficiency"] >= calls_row["median_efficiency"]
    json.dumps(result)  # what publish writes

    printed = capsys.readouterr().out
    labels = [bench.LABELS.get(engine, engine) for engine in result["engines"]]
    for word in ("tool latency 0.002", "uniform:0.001:0.004", *labels, "ceiling"):
        assert word in printed


def test_tables_render_a_row_per_engine_and_the_ceiling():
    bench = load_bench("replay")
    row = {
        "n": 2,
        "exactly_once": 2,
        "order_ok": 2,
        "median_efficiency": 0.9,
        "p10_efficiency": 0.8,
        "median_overhead_ms_per_node": 1.5,
        "median_run_ms": 12.0,
        "median_tool_span_efficiency": 0.95,
        "p10_tool_span_efficiency": 0.85,
    }
    ratio = dict.fromkeys(bench.RATIO_KEYS, 1.0)
    result = {
        "records": 2,
        "seed": 0,
        "latencies": ["0.05"],
        "0.05": {
            **dict.fromkeys(bench.ENGINES, row),
            "ratios_vs_orchestra": dict.fromkeys(bench.ENGINES, ratio),
            "send_waves_ceiling_median_efficiency": 0.75,
            "send_waves_ceiling_p10_efficiency": 0.5,
        },
    }
    out = io.StringIO()
    console = Console(file=out, width=80)
    for grid in bench.tables(result):
        console.print(grid)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.split()[:4] == ["waves", "ceiling", "0.750", "0.500"] for line in lines)
    assert any(line.split()[:4] == ["orch", "spans", "0.950", "0.850"] for line in lines)
    for engine in bench.ENGINES:
        label = bench.LABELS.get(engine, engine).split()
        assert any(line.split()[: len(label) + 1] == [*label, "2/2"] for line in lines)
