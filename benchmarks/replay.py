"""Parallel efficiency on real task graphs: gold-DAG replay at fixed and uneven latencies.

    python benchmarks/replay.py --dags FILE [--records N] [--seed S]     (BENCH_SIZE=full)

Runs ``orchestra bench replay`` (``orchestra.evals.replay``) over the records twice: every
tool taking 50 ms, and latencies drawn per node from uniform(10 ms, 300 ms) under the seed,
because a dispatcher that waits for unrelated siblings only shows its cost when tools
differ. Efficiency is the critical path (summing each node's own latency) over the
measured makespan, so 1.0 means the engine reached the critical path. Target: median
efficiency of at least 0.9 under both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from common import publish

from orchestra.evals.dags import load_dags
from orchestra.evals.latency import LatencySpec
from orchestra.evals.replay import replay

DEFAULT_DAGS = Path(__file__).resolve().parents[2] / "shared" / "eval" / "sample-dags.jsonl"
LATENCIES = ("0.05", "uniform:0.01:0.3")


async def measure(dags: Path, records: int | None, seed: int) -> dict[str, Any]:
    loaded = load_dags(dags, limit=records)
    out: dict[str, Any] = {"dags": str(dags), "records": len(loaded), "seed": seed}
    for spec in LATENCIES:
        report = await replay(loaded, LatencySpec.parse(spec), seed=seed)
        summary = report.summary.model_dump()
        summary["meets_target"] = summary["median_efficiency"] >= 0.9
        out[spec] = summary
    out["target_median_efficiency"] = 0.9
    return out


def main() -> None:
    full = os.environ.get("BENCH_SIZE") == "full"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dags", type=Path, default=DEFAULT_DAGS)
    parser.add_argument("--records", type=int, default=None if full else 30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    publish("replay", asyncio.run(measure(args.dags, args.records, args.seed)))


if __name__ == "__main__":
    main()
