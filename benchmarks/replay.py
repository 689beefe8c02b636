"""Parallel efficiency on real task graphs: gold-DAG replay at fixed and uneven latencies.

    python benchmarks/replay.py [--dags FILE] [--records N] [--seed S]            (BENCH_SIZE=full)
    python benchmarks/replay.py --compare [--dags FILE] [--records N] [--seed S]

Runs ``orchestra bench replay`` (``orchestra.evals.replay``) over the records twice: every
tool taking 50 ms, and latencies drawn per node from uniform(10 ms, 300 ms) under the seed,
because a dispatcher that waits for unrelated siblings only shows its cost when tools
differ. Efficiency is the critical path (summing each node's own latency) over the
measured makespan, so 1.0 means the engine reached the critical path. Defaults: the
first 30 records of ``../shared/eval/sample-dags.jsonl`` (all of them with
``BENCH_SIZE=full``), seed 0.

Targets (issue 23), for orchestra: at ``0.05`` median efficiency >= 0.95 and p10 >= 0.90;
at ``uniform:0.01:0.3`` median >= 0.97.

Plain mode publishes ``results/replay.json``: per latency spec ``replay``'s summary
(counts, median and p10 efficiency, median overhead ms per node, by tool spans, model
calls and tokens per task) and ``meets_targets`` against the targets above.

``--compare`` runs the same graphs with the same per-node latencies (the same seed gives
each node the same draw) on four engines (``orchestra.evals.replay_baselines``):

* ``orchestra``: ``replay``, unchanged;
* ``send_waves``: a bare LangGraph ``StateGraph`` fanning out with ``Send`` in supersteps
  (a wave waits for its slowest member);
* ``functional``: LangGraph's ``@entrypoint`` + ``@task``, each node launched once its
  dependencies are done;
* ``functional_calls``: ``functional`` making the two model calls orchestra makes around
  each tool call (the executor's before, the critic's after; same scripted model and
  replies) and nothing else, measured as orchestra is (first call to last verdict): the
  floor for any engine that makes those calls.

After one unmeasured warm-up run each, the engines take turns record by record (who
goes first rotates, and each run starts after a garbage collection), so the machine's
load drifts alike for all. It publishes ``results/replay-compare.json``; per spec:

* per engine, ``replay``'s summary (``exactly_once`` and ``order_ok`` counts, median and
  p10 efficiency, median overhead ms per node) plus ``median_run_ms`` (the whole run:
  orchestra's includes planning, critique and synthesis by the scripted model, the
  baselines' is one graph invocation), ``median_tool_span_efficiency`` and
  ``p10_tool_span_efficiency`` (see below) and ``meets_targets``;
* ``ratios_vs_orchestra``: each engine's figures over orchestra's;
* ``send_waves_ceiling_median_efficiency`` and ``..._p10_...``: the analytic
  zero-overhead Send-wave efficiency, critical path over the sum of each wave's longest
  latency: the best wave execution can do (always 1.0 at a fixed latency);
* ``per_record_efficiency``: each engine's, orchestra's by tool spans, and the ceiling.

Makespans differ in one way: ``replay`` takes orchestra's from its task events (a task
starts before its tool call and ends after it), the tool-only baselines' run from first
tool start to last tool end. So orchestra's efficiency by tool spans is reported too (the
replay's ``tool_span_efficiency``), and those baselines' equals their efficiency;
``functional_calls`` is measured both ways, like orchestra.

Then it prints a table per spec: exactly-once/order-ok counts, median and p10
efficiency, median overhead ms per node, median run ms, the median efficiency and run
time over orchestra's, and two dim rows: orchestra by tool spans and the wave ceiling.
Timings are wall-clock, so they carry whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from common import add_dags_argument, publish
from rich import box
from rich.console import Console
from rich.table import Table

from orchestra.evals.dags import DagRecord, critical_path_s, load_dags
from orchestra.evals.latency import LatencySpec
from orchestra.evals.replay import ReplayRecord, replay, summarize
from orchestra.evals.replay_baselines import ENGINES as BASELINES
from orchestra.evals.replay_baselines import (
    Engine,
    node_latencies,
    replay_baseline_record,
    wave_makespan_s,
)

LATENCIES = ("0.05", "uniform:0.01:0.3")
TARGETS: dict[str, dict[str, float]] = {
    "0.05": {"median_efficiency": 0.95, "p10_efficiency": 0.90},
    "uniform:0.01:0.3": {"median_efficiency": 0.97},
}
ENGINES = ("orchestra", *BASELINES)
LABELS = {"functional_calls": "fn + calls"}
"""Table labels for engine names too wide for an 80-column table."""
RATIO_KEYS = (
    "median_efficiency",
    "p10_efficiency",
    "median_overhead_ms_per_node",
    "median_run_ms",
)


def meets(summary: dict[str, Any], targets: dict[str, float]) -> bool:
    """Whether every figure named in ``targets`` is at least its target."""
    return all(summary[key] >= floor for key, floor in targets.items())


async def measure(dags: Path, records: int | None, seed: int) -> dict[str, Any]:
    loaded = load_dags(dags, limit=records)
    out: dict[str, Any] = {"dags": str(dags), "records": len(loaded), "seed": seed}
    for spec in LATENCIES:
        report = await replay(loaded, LatencySpec.parse(spec), seed=seed)
        summary = report.summary.model_dump()
        if spec in TARGETS:
            summary["targets"] = TARGETS[spec]
            summary["meets_targets"] = meets(summary, TARGETS[spec])
        out[spec] = summary
    return out


async def run_engine(
    engine: str, record: DagRecord, latency: LatencySpec, seed: int
) -> tuple[ReplayRecord, float | None]:
    """One record on one engine, and its efficiency by tool spans (None if not seen).

    Orchestra runs through ``replay``, the baselines through ``replay_baseline_record``.
    """
    if engine != "orchestra":
        done = await replay_baseline_record(cast(Engine, engine), record, latency, seed=seed)
        return done, done.tool_span_efficiency
    done = (await replay([record], latency, seed=seed)).records[0]
    if not done.played:
        return done, None
    return done, done.tool_span_efficiency


def engine_row(played: Sequence[ReplayRecord], by_spans: Sequence[float | None]) -> dict[str, Any]:
    """``replay``'s summary of one engine's records, the median run time in ms, and the
    efficiency by tool spans (median and p10, None where the spans were not seen)."""
    row = summarize(played).model_dump()
    row["median_run_ms"] = round(statistics.median(r.run_s for r in played) * 1000, 3)
    spans = [e for e, r in zip(by_spans, played, strict=True) if r.played]
    known = [e for e in spans if e is not None]
    whole = bool(known) and len(known) == len(spans)
    row["median_tool_span_efficiency"] = round(statistics.median(known), 4) if whole else None
    row["p10_tool_span_efficiency"] = round(percentile(known, 10), 4) if whole else None
    problems = {r.id: r.problems for r in played if r.problems}
    if problems:
        row["problems"] = problems
    return row


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile, linearly interpolated, as ``replay``'s summary takes it."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratios(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each engine's figures over orchestra's (None where orchestra's is 0)."""
    base = rows["orchestra"]
    return {
        engine: {k: round(row[k] / base[k], 3) if base[k] else None for k in RATIO_KEYS}
        for engine, row in rows.items()
    }


async def run_all(
    loaded: list[DagRecord], latency: LatencySpec, seed: int
) -> tuple[dict[str, list[ReplayRecord]], dict[str, list[float | None]]]:
    """Every record on every engine, taking turns record by record (who goes first
    rotates), each run after a collection so none pays for another's garbage."""
    runs: dict[str, list[ReplayRecord]] = {engine: [] for engine in ENGINES}
    by_spans: dict[str, list[float | None]] = {engine: [] for engine in ENGINES}
    try:
        for i, record in enumerate(loaded):
            for engine in ENGINES[i % len(ENGINES) :] + ENGINES[: i % len(ENGINES)]:
                gc.collect()
                gc.freeze()  # the survivors need not be scanned again during the run
                done, spans = await run_engine(engine, record, latency, seed)
                runs[engine].append(done)
                by_spans[engine].append(spans)
    finally:
        gc.unfreeze()
    return runs, by_spans


async def compare_spec(loaded: list[DagRecord], spec: str, seed: int) -> dict[str, Any]:
    """All engines on ``loaded`` at one latency spec, and the analytic wave ceiling."""
    latency = LatencySpec.parse(spec)
    runs, by_spans = await run_all(loaded, latency, seed)
    ceiling: list[float] = []
    for record in loaded:
        latencies = node_latencies(record, latency, seed)
        cp = critical_path_s(record, latencies)
        ceiling.append(round(cp / wave_makespan_s(record, latencies), 4))
    played = [c for c, r in zip(ceiling, runs["orchestra"], strict=True) if r.played]
    rows = {engine: engine_row(runs[engine], by_spans[engine]) for engine in ENGINES}
    for engine in ENGINES:
        if spec in TARGETS:
            rows[engine]["meets_targets"] = meets(rows[engine], TARGETS[spec])
    return {
        **rows,
        "send_waves_ceiling_median_efficiency": round(statistics.median(played or [0.0]), 4),
        "send_waves_ceiling_p10_efficiency": round(percentile(played or [0.0], 10), 4),
        "ratios_vs_orchestra": ratios(rows),
        "per_record_efficiency": {
            record.id: {
                **{engine: runs[engine][i].efficiency for engine in ENGINES},
                "orchestra_by_tool_spans": by_spans["orchestra"][i],
                "send_waves_ceiling": ceiling[i],
            }
            for i, record in enumerate(loaded)
        },
    }


async def compare(
    dags: Path, records: int | None, seed: int, latencies: Sequence[str]
) -> dict[str, Any]:
    """The ``--compare`` result (module docstring) at each latency spec of ``latencies``."""
    loaded = load_dags(dags, limit=records)
    out: dict[str, Any] = {
        "dags": str(dags),
        "records": len(loaded),
        "seed": seed,
        "engines": list(ENGINES),
        "latencies": list(latencies),
        "targets": {spec: TARGETS[spec] for spec in latencies if spec in TARGETS},
    }
    for engine in ENGINES:  # warm up: imports, caches, first-call costs; not measured
        await run_engine(engine, loaded[0], LatencySpec("fixed", 0.0), seed)
    for spec in latencies:
        out[spec] = await compare_spec(loaded, spec, seed)
    return out


def tables(result: dict[str, Any]) -> list[Table]:
    """The ``--compare`` result as one compact table per latency spec, a row per engine."""
    out = []
    for spec in result["latencies"]:
        entry = result[spec]
        grid = Table(
            title=f"tool latency {spec}: {result['records']} records, seed {result['seed']}",
            box=box.SIMPLE_HEAD,
            padding=(0, 1, 0, 0),
            pad_edge=False,
        )
        grid.add_column("engine", no_wrap=True)
        for name in ("once/ord", "med eff", "p10 eff", "ms/node", "run ms", "eff÷orch"):
            grid.add_column(name, justify="right")
        grid.add_column("run÷orch", justify="right")
        for engine in ENGINES:
            row, ratio = entry[engine], entry["ratios_vs_orchestra"][engine]
            grid.add_row(
                LABELS.get(engine, engine),
                f"{row['exactly_once']}/{row['order_ok']}",
                f"{row['median_efficiency']:.3f}",
                f"{row['p10_efficiency']:.3f}",
                f"{row['median_overhead_ms_per_node']:.2f}",
                f"{row['median_run_ms']:.1f}",
                _ratio(ratio["median_efficiency"]),
                _ratio(ratio["median_run_ms"]),
            )
        orchestra = entry["orchestra"]
        if orchestra.get("median_tool_span_efficiency") is not None:
            grid.add_row(
                "orch spans",
                "",
                f"{orchestra['median_tool_span_efficiency']:.3f}",
                f"{orchestra['p10_tool_span_efficiency']:.3f}",
                style="dim",
            )
        grid.add_row(
            "waves ceiling",
            "",
            f"{entry['send_waves_ceiling_median_efficiency']:.3f}",
            f"{entry['send_waves_ceiling_p10_efficiency']:.3f}",
            style="dim",
        )
        out.append(grid)
    return out


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def main() -> None:
    full = os.environ.get("BENCH_SIZE") == "full"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_dags_argument(parser)
    parser.add_argument("--records", type=int, default=None if full else 30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run orchestra, LangGraph Send waves and LangGraph's functional API side by side",
    )
    args = parser.parse_args()
    if not args.compare:
        publish("replay", asyncio.run(measure(args.dags, args.records, args.seed)))
        return
    result = asyncio.run(compare(args.dags, args.records, args.seed, LATENCIES))
    publish("replay-compare", result)
    console = Console()
    for grid in tables(result):
        console.print(grid)


if __name__ == "__main__":
    main()
