"""Tracing overhead: a run with spans recorded vs the same run with tracing off, per task node.

    python benchmarks/tracing.py [--leaves N] [--reps R]      (BENCH_SIZE=full: more of both)

The same scripted team (a fan-out of N leaves, each with one tool call, a critic verdict
and its role design) runs R times in each mode, interleaved, in one process:

* ``off``: no tracer provider (what a user gets without configuring anything: the
  OpenTelemetry API's no-op spans);
* ``on``: an SDK provider with a simple processor into the in-memory exporter;
* ``on+content``: the same with message content captured (prompts and replies as JSON).

Reported: median run time per mode, the overhead per task node in milliseconds
((on - off) / nodes) and the ratio on/off; spans per run. Target: under 1 ms of added
time per task node with tracing on.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
from typing import Any

from common import publish
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestra import Team, Tracing, tool
from orchestra.testing import ScriptedChatModel, fan_out, role_spec, tool_call, verdict


@tool
def lookup(q: str) -> str:
    """Look up a fact."""
    return f"fact about {q}"


def _script(leaves: int) -> dict[str, Any]:
    ids = [f"t{i}" for i in range(leaves)]
    return {
        "planner": [fan_out(ids)],
        "role_designer": role_spec("worker", "Do the task.", ["lookup"]),
        **{f"executor@{i}": [tool_call("lookup", {"q": i}), f"result {i}"] for i in ids},
        "lead": "the group's results, integrated",  # leads of the plan's groups
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }


def _team(leaves: int, tracing: Tracing) -> Team:
    return Team(
        ScriptedChatModel(_script(leaves)),
        tools=[lookup],
        tracing=tracing,
        history=False,
        checkpointer="memory",
        max_parallel=8,
        max_depth=4,
        name="bench",
    )


def _tracing(mode: str) -> tuple[Tracing, InMemorySpanExporter | None]:
    if mode == "off":
        return Tracing(), None
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider=provider, capture_content=mode == "on+content"), exporter


async def _one(mode: str, leaves: int) -> tuple[float, int]:
    tracing, exporter = _tracing(mode)
    team = _team(leaves, tracing)  # built outside the timing, as a user builds a team once
    gc.collect()  # each run starts from the same heap, not with the last run's garbage
    start = time.perf_counter()
    result = await team.arun("a wide goal")
    elapsed = time.perf_counter() - start
    assert result.succeeded, result.reason
    return elapsed, len(exporter.get_finished_spans()) if exporter else 0


def run(leaves: int, reps: int) -> dict[str, Any]:
    """Measure every mode ``reps`` times, interleaved (after one warm-up run of each)."""
    modes = ("off", "on", "on+content")
    times: dict[str, list[float]] = {m: [] for m in modes}
    spans: dict[str, int] = {}
    for m in modes:
        asyncio.run(_one(m, leaves))
    for _ in range(reps):
        for m in modes:
            elapsed, count = asyncio.run(_one(m, leaves))
            times[m].append(elapsed)
            spans[m] = count
    nodes = leaves + 1  # the leaves and the root (planning, synthesis)
    median = {m: statistics.median(ts) for m, ts in times.items()}
    result: dict[str, Any] = {
        "leaves": leaves,
        "reps": reps,
        "median_run_s": {m: round(v, 4) for m, v in median.items()},
        "spread_run_s": {m: [round(min(ts), 4), round(max(ts), 4)] for m, ts in times.items()},
        "spans_per_run": spans,
    }
    for m in ("on", "on+content"):
        result[m] = {
            "overhead_ms_per_node": round((median[m] - median["off"]) / nodes * 1000, 3),
            "ratio_vs_off": round(median[m] / median["off"], 3),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    full = os.environ.get("BENCH_SIZE") == "full"
    parser.add_argument("--leaves", type=int, default=200 if full else 50)
    parser.add_argument("--reps", type=int, default=21 if full else 9)
    args = parser.parse_args(argv)
    result = run(max(args.leaves, 2), max(args.reps, 1))
    publish("tracing", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
