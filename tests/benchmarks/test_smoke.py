"""Benchmarks are not tests, but they must keep working: a smoke size of each."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    if str(ROOT / "benchmarks") not in sys.path:  # as when run: `python benchmarks/x.py`
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would: type hints resolve in it
    spec.loader.exec_module(module)
    return module


def tool(name: str, description: str) -> dict:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }


def test_tool_retrieval_benchmark_runs_on_any_file_in_the_format(tmp_path: Path):
    records = [
        {
            "id": "r1",
            "goal": "What is the weather in Oslo?",
            "tools": [
                tool("get_weather", "Weather forecast for a city"),
                tool("send_mail", "Send mail"),
            ],
            "nodes": [{"id": "n0", "tool": "get_weather", "args": {}, "deps": []}],
        },
        {
            "id": "r2",
            "goal": "Mail the report to Bo and translate it to French",
            "tools": [
                tool("send_mail", "Send mail to someone"),
                tool("translate", "Translate text"),
            ],
            "nodes": [
                {"id": "n0", "tool": "translate", "args": {}, "deps": []},
                {"id": "n1", "tool": "send_mail", "args": {}, "deps": ["n0"]},
            ],
        },
    ]
    path = tmp_path / "dags.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    bench = load("tool_retrieval")
    result = bench.run(path, [1, 2], seed=1)
    assert result["pool_size"] == 3 and result["records"] == 2
    assert result["recall_at_k"]["bm25"]["2"] == 1.0
    assert 0 < result["recall_at_k"]["random"]["2"] < 1.0
    assert result["recall_at_k"]["embeddings"]["2"] >= 0.5
    assert result["recall_at_k"]["hybrid"]["2"] == 1.0
    assert result["ratio_over_random"]["bm25"]["2"] > 1


@pytest.mark.slow
def test_memory_benchmark_runs_at_a_smoke_size():
    bench = load("memory")
    result = bench.run(1000, embed_texts=200)
    assert result["embedding"]["texts_per_s"] > 0 and result["embedding"]["ratio"] > 1
    assert result["query_at_1k"]["p95_ms"] > 0


def test_tracing_benchmark_runs_at_a_smoke_size():
    bench = load("tracing")
    result = bench.run(leaves=12, reps=1)
    assert result["spans_per_run"]["off"] == 0
    # per leaf: role design, executor, critic, tool, and their model calls
    assert result["spans_per_run"]["on"] >= 12 * 4
    assert result["spans_per_run"]["on+content"] == result["spans_per_run"]["on"]
    assert set(result["on"]) == {"overhead_ms_per_node", "ratio_vs_off"}


def test_scale_benchmark_runs_at_a_smoke_size():
    result = load("scale").run(wide=20, deep=12)
    assert set(result) == {"wide/memory", "wide/sqlite", "deep/memory", "deep/sqlite"}
    for entry in result.values():
        assert entry["run"]["ms_per_node"] > 0 and entry["heap_per_node_kb"] > 0


SMALL_DAGS = ROOT / "tests" / "fixtures" / "dags-small.jsonl"


def test_overhead_benchmark_runs_at_a_smoke_size():
    import asyncio

    from orchestra.evals.dags import load_dags

    bench = load("overhead")
    result = asyncio.run(bench.measure(load_dags(SMALL_DAGS), reps=1))
    assert result["records"] == 4 and result["nodes"] == 20
    assert result["per_run"]["median_ratio"] > 0
    assert result["per_node"]["orchestra_ms"] > 0 and result["per_node"]["bare_ms"] > 0


def test_replay_benchmark_runs_at_a_smoke_size():
    import asyncio

    result = asyncio.run(load("replay").measure(SMALL_DAGS, None, seed=1))
    assert result["records"] == 4
    for spec in ("0.05", "uniform:0.01:0.3"):
        assert result[spec]["exactly_once"] == 4 and result[spec]["order_ok"] == 4
        assert 0 < result[spec]["median_efficiency"] <= 1


@pytest.mark.slow
def test_planner_benchmark_runs_on_the_embedded_model_at_a_smoke_size():
    import asyncio

    result = asyncio.run(load("planner").run(SMALL_DAGS, 1, "embedded"))
    assert result["records"] == 1 and result["model"] == "embedded"
    assert 0 <= result["planner"]["node_f1"] <= 1
    assert result["chain_baseline"]["node_f1"] == 1.0  # it lists exactly the gold tools
    assert result["planner"]["n"] == 1 and result["seconds_per_record"] > 0


@pytest.mark.slow
@pytest.mark.ray
def test_cluster_benchmark_runs_at_a_smoke_size():
    import asyncio

    result = asyncio.run(load("cluster").measure(chain_length=3, width=16, reps=1))
    for latency in ("0ms", "50ms"):
        entry = result["overhead"][latency]
        assert entry["ray_overhead_ms_per_subtask"] > 0 and entry["ratio_ray_local"] > 0
    scaling = result["scaling"]
    assert scaling["width"] == 16 and scaling["cluster_cpus"] > 0
    # which is faster is the benchmark's to measure, not a test's: at this size worker
    # start-up on a loaded machine can outweigh the 16 x 50 ms of work
    assert scaling["makespan_s_1_worker"] > 0 and scaling["makespan_s_4_workers"] > 0
    assert scaling["speedup_4_vs_1"] == pytest.approx(  # of unrounded makespans
        scaling["makespan_s_1_worker"] / scaling["makespan_s_4_workers"], rel=0.05
    )
    assert scaling["ideal_makespan_s"] == {"4_workers": 0.2, "1_worker": 0.8}


def test_search_benchmark_scores_its_task_family_and_draws_its_plot(tmp_path: Path):
    bench = load("search")
    # a model that is always right and a critic that is never wrong: every strategy succeeds
    perfect = bench.run(3, [1.0], critic_accuracy=1.0)["by_p"]["1.0"]
    assert {s: perfect[s]["success"] for s in bench.STRATEGIES} == dict.fromkeys(
        bench.STRATEGIES, 1.0
    )
    assert perfect["single"]["tokens_ratio"] == 1.0
    assert perfect["plan_sampling"]["tokens"] > perfect["single"]["tokens"]
    # a model that is never right: nothing succeeds, whatever the search
    hopeless = bench.run(3, [0.0], critic_accuracy=1.0)["by_p"]["0.0"]
    assert all(hopeless[s]["success"] == 0.0 for s in bench.STRATEGIES)
    # seeded: the same instances and draws give the same outcomes (tokens of a failed run
    # may differ a little: which siblings its failure cancels depends on thread timing)
    noisy = bench.run(4, [0.6], seed=3)
    again = bench.run(4, [0.6], seed=3)
    assert {s: noisy["by_p"]["0.6"][s]["success"] for s in bench.STRATEGIES} == {
        s: again["by_p"]["0.6"][s]["success"] for s in bench.STRATEGIES
    }

    image = tmp_path / "curves.png"
    bench.plot(noisy, image)
    assert image.read_bytes().startswith(b"\x89PNG")

    # with noisy role designs: a right designer and critic leave every strategy right
    roles = bench.run(3, [1.0], critic_accuracy=1.0, noisy_roles=True)
    assert roles["noisy_roles"] is True
    assert {s: roles["by_p"]["1.0"][s]["success"] for s in bench.ROLE_STRATEGIES} == dict.fromkeys(
        bench.ROLE_STRATEGIES, 1.0
    )
    bench.plot(roles, tmp_path / "roles.png")
    assert (tmp_path / "roles.png").read_bytes().startswith(b"\x89PNG")


def test_search_benchmark_backtracking_family(tmp_path: Path):
    bench = load("search")
    result = bench.run(3, [1.0], critic_accuracy=1.0, action_tree=True)
    perfect = result["by_p"]["1.0"]
    assert {s: perfect[s]["success"] for s in bench.ACTION_TREE_STRATEGIES} == dict.fromkeys(
        bench.ACTION_TREE_STRATEGIES, 1.0
    )
    assert all(perfect[s]["grafts"] == 0 for s in bench.ACTION_TREE_STRATEGIES)  # none rejected
    # one planner call for five plans costs less than five; no plan critic less again
    tokens = {s: perfect[s]["tokens"] for s in bench.ACTION_TREE_STRATEGIES}
    assert tokens["replan"] < tokens["one_call_votes"] < tokens["one_call"] < tokens["action_tree"]
    assert tokens["one_call_k3"] < tokens["one_call"]
    # samples that all agree: the plan with alternatives writes none, a plan's tokens
    assert tokens["replan"] < tokens["alternatives"] < tokens["one_call_votes"]
    bench.plot_action_tree(result, tmp_path / "tree.png")
    assert (tmp_path / "tree.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow  # eight fresh processes, each importing orchestra
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_bounded_io_benchmark_runs_at_a_smoke_size():
    result = load("bounded_io").run(body_mb=2, bomb_mb=4, file_mb=4, search_mb=4)
    assert set(result) == {"http_body", "http_gzip_bomb", "read_file", "search_files"}
    for case in result.values():
        assert case["baseline_added_mb"] > 0 and case["tool_added_mb"] >= 0


def test_hierarchy_benchmark_runs_at_a_smoke_size():
    bench = load("hierarchy")
    result = bench.run(4, [0.9], seed=3)
    row = result["by_p"]["0.9"]
    assert set(row) == {"flat", "hierarchy"}
    for stats in row.values():
        assert 0 <= stats["success"] <= stats["usable"] <= 1 and stats["tokens"] > 0
    assert row["flat"]["tokens_ratio"] == 1.0


def test_checks_benchmark_runs_on_its_held_out_cases():
    bench = load("checks")
    result = bench.run([ROOT / "benchmarks" / "data" / "check_cases.jsonl"], repeat=1)
    [quality] = result["files"].values()
    assert quality["cases"] == quality["junk"] + quality["good"] > 0
    assert 0 <= quality["junk_caught"] <= 1 and 0 <= quality["good_kept"] <= 1
    assert result["cost"]["embed"]["mean_ms"] > 0


def test_serve_benchmark_runs_at_a_smoke_size():
    bench = load("serve")
    result = bench.run(runs=6, clients=3, max_runs=2)
    assert result["streams_gap_free"] == result["streams_with_one_run_finished"] == 6
    assert result["runs_per_s"] > 0 and result["baseline_runs_per_s"] > 0


def test_prompt_cache_benchmark_measures_each_agents_prefix_reuse():
    bench = load("prompt_cache")
    result = bench.run()
    for order in bench.ORDERS:
        after = result[order]["after"]
        assert {"planner", "executor", "critic", "synthesizer"} <= set(after)
        for row in after.values():
            assert 0 <= row["reused_tokens"] <= row["tokens"] and row["calls"] >= 1
            assert row["share"] == round(row["reused_tokens"] / row["tokens"], 3)
        # the second call of a conversation repeats the first, whatever the layout
        assert after["critic"]["share"] > 0 and after["executor"]["share"] > 0
        # no layout repeats less than the one measured
        for row in after.values():
            assert row["share"] <= row["ceiling"] <= 1
    # the prefix measure itself: the longest common start, in tokens
    assert bench._common_prefix([1, 2, 3, 4], [1, 2, 9]) == 2
    assert bench._common_prefix([], [1]) == 0


def test_prompt_cache_ceiling_lets_the_opening_turn_be_laid_out_freely():
    bench = load("prompt_cache")
    tools, system = ["<tool>", 1, 2], ["<system>", 3, 4, 5]
    task_a, task_b = ["<human>", "a", "a"], ["<human>", "b"]
    inputs = ["<human>", "shared", "inputs"]
    call, result = ["<ai>"], ["<tool>", "r", "s"]
    best = bench._best_against
    # another tool set ends the repeat inside the tool definitions
    assert best([["<tool>", 1, 9], system], [task_a], ([tools, system], [task_a])) == 2
    # the inputs both openings share can come first, then the shared start of the task
    # (its role marker)
    assert best([tools, system], [task_a, inputs], ([tools, system], [inputs, task_b])) == 11
    # the tool loop repeats only after the same opening
    same = ([tools, system], [task_a, call, result])
    assert best([tools, system], [task_a, call, ["<tool>", "r", "x"]], same) == 13
    assert best([tools, system], [task_b, call, result], same) == 8
