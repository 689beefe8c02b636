"""Scale: a 200-wide fan-out and a 120-deep chain on the scripted model, time and memory.

    python benchmarks/scale.py [--wide N] [--deep N] [--prompt-sizes 10,200,1000]
                                                        (BENCH_SIZE=full: 800 and 480)

Each shape runs with in-memory and with SQLite checkpoints (the default). Reported per
run: wall time, milliseconds per task node, peak Python heap (tracemalloc) and resident
memory growth; the baseline is the same shape at a tenth of the size, measured in the same
run, so the ratios say whether cost per node grows with the size of the plan. Times are
taken with tracemalloc on, which makes them about 3x slower than plain runs.

``executor_prompt_tokens``: bounded context. A fan-out and a chain of 10 and 200 tasks,
and a fan-out of 1000, each run once; per run the mean and largest executor prompt (input
tokens as the scripted model counts them: 4 characters a token) and the ratios to the
10-task run of the same shape. An executor sees its task, the titles on its path from the
goal and its prerequisites' results (each cut to ``max_dependency_chars``), never its
siblings or the rest of the tree, so the ratios stay near 1 (the path is one title longer
per level the bigger plans nest).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from common import publish, rss_mb

from orchestra import Team
from orchestra.testing import ScriptedChatModel, chain, fan_out, role_spec, verdict


def _team(shape: str, n: int, checkpointer: str) -> Team:
    ids = [f"t{i}" for i in range(n)]
    script = {
        "planner": [fan_out(ids) if shape == "wide" else chain(ids)],
        "role_designer": role_spec("worker", "Do the task.", []),
        "executor": "ok",
        "lead": "the group's results, integrated",  # leads of the plan's groups
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    return Team(
        ScriptedChatModel(script),
        max_depth=5,
        max_parallel=8,
        history=False,
        checkpointer=checkpointer,
        name=f"scale-{shape}",
    )


def measure(shape: str, n: int, checkpointer: str) -> dict[str, Any]:
    team = _team(shape, n, checkpointer)
    gc.collect()
    rss_before = rss_mb()
    tracemalloc.start()
    start = time.perf_counter()
    result = asyncio.run(team.arun(f"{shape} goal"))
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.succeeded and len(result.tree.leaves()) == n, result.reason
    return {
        "leaves": n,
        "seconds": round(elapsed, 3),
        "ms_per_node": round(elapsed / n * 1000, 3),
        "peak_heap_mb": round(peak / 2**20, 2),
        "rss_growth_mb": round(rss_mb() - rss_before, 1),
    }


def run(wide: int, deep: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for shape, n in (("wide", wide), ("deep", deep)):
            for store in ("memory", "sqlite"):
                target = "memory" if store == "memory" else str(Path(tmp) / f"{shape}.db")
                small = measure(shape, max(n // 10, 2), target)
                big = measure(shape, n, target)
                out[f"{shape}/{store}"] = {
                    "baseline": small,
                    "run": big,
                    "ms_per_node_ratio": round(big["ms_per_node"] / small["ms_per_node"], 2),
                    "heap_per_node_kb": round(big["peak_heap_mb"] * 1024 / n, 1),
                }
    return out


def executor_prompts(shape: str, n: int) -> dict[str, Any]:
    """Executor prompt tokens per call in one run of ``shape`` with ``n`` leaves."""
    team = _team(shape, n, "memory")
    model = team.runtime.model
    assert isinstance(model, ScriptedChatModel)
    result = asyncio.run(team.arun(f"{shape} goal"))
    assert result.succeeded and len(result.tree.leaves()) == n, result.reason
    sizes = [max(1, len(c.prompt) // 4) for c in model.calls_for("executor")]
    return {
        "leaves": n,
        "executor_calls": len(sizes),
        "mean_tokens": round(sum(sizes) / len(sizes), 1),
        "max_tokens": max(sizes),
        "depth": max(len(result.tree.ancestors(leaf.id)) for leaf in result.tree.leaves()),
    }


def prompt_growth(sizes: tuple[int, ...] = (10, 200, 1000)) -> dict[str, Any]:
    """Executor prompt tokens per call as plans grow: 10 and 200 tasks (fan-out, chain)
    and the larger ``sizes`` as a fan-out; ratios to the smallest run of the shape."""
    small, *larger = sizes
    out: dict[str, Any] = {}
    for shape in ("wide", "deep"):
        runs = [s for s in larger if shape == "wide" or s <= 200]
        base = executor_prompts(shape, small)
        entry: dict[str, Any] = {str(small): base}
        for n in runs:
            got = executor_prompts(shape, n)
            entry[str(n)] = got
            entry[f"ratio_{n}_{small}"] = {
                "mean": round(got["mean_tokens"] / base["mean_tokens"], 3),
                "max": round(got["max_tokens"] / base["max_tokens"], 3),
            }
        out[shape] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    full = os.environ.get("BENCH_SIZE") == "full"
    parser.add_argument("--wide", type=int, default=800 if full else 200)
    parser.add_argument("--deep", type=int, default=480 if full else 120)
    parser.add_argument("--prompt-sizes", default="10,200,1000")
    args = parser.parse_args(argv)
    result = run(args.wide, args.deep)
    sizes = tuple(int(s) for s in args.prompt_sizes.split(","))
    result["executor_prompt_tokens"] = prompt_growth(sizes)
    publish("scale", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
