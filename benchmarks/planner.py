"""Planner quality on gold task graphs: TaskBench node and edge F1, exact DAGs, validity.

    python benchmarks/planner.py --dags FILE [--records N] [--model M]   (BENCH_SIZE=full)

The real planner (validation and repair rounds included) decomposes each record's goal
with the record's tools (``orchestra eval plan``, ``orchestra.evals.plan_eval``). The
model is ``--model``, else ``ORCHESTRA_MODEL``, else the embedded default model (offline;
about 20 s a record on 2 cores, so the default size is small). As a baseline in the same
run, the "one task per tool call in a chain" plan is scored against the same gold
graphs: a planner that only listed the tools in the order the record names them would
score this without understanding the goal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import add_dags_argument, publish

from orchestra.core.plan import DraftTask, PlanDraft
from orchestra.evals.dags import DagRecord, load_dags
from orchestra.evals.plan_eval import evaluate_plans, score_plan
from orchestra.models.resolve import resolve_model


def chain_baseline(record: DagRecord) -> PlanDraft:
    """One task per gold call, in the record's node order, each after the one before.

    Knows the gold tools (more than a planner is shown) but not their dependencies, so it
    bounds what listing tools without planning can reach on edges.
    """
    tasks = [
        DraftTask(
            id=f"t{i}",
            title=node.tool[:100],
            description=f"Call {node.tool}.",
            depends_on=[f"t{i - 1}"] if i else [],
            tools=[node.tool],
        )
        for i, node in enumerate(record.nodes)
    ]
    return PlanDraft(tasks=tasks)


async def run(dags: Path, records: int | None, model_name: str | None) -> dict[str, Any]:
    loaded = load_dags(dags, limit=records)
    model = resolve_model(model_name)
    start = time.perf_counter()
    report = await evaluate_plans(model, loaded)
    seconds = time.perf_counter() - start
    baseline = [score_plan(r, chain_baseline(r)) for r in loaded]
    valid = Counter(s.valid for s in report.records)
    return {
        "dags": str(dags),
        "records": len(loaded),
        "model": model_name or os.environ.get("ORCHESTRA_MODEL") or "embedded",
        "planner": report.summary.model_dump(),
        "chain_baseline": {
            "node_f1": round(sum(node for node, _, _, _ in baseline) / len(baseline), 4),
            "edge_f1": round(sum(edge for _, edge, _, _ in baseline) / len(baseline), 4),
            "exact_rate": round(sum(exact for _, _, exact, _ in baseline) / len(baseline), 4),
        },
        "valid_share": round((valid["first_try"] + valid["after_repair"]) / len(loaded), 4),
        "seconds_per_record": round(seconds / len(loaded), 2),
    }


def main() -> None:
    full = os.environ.get("BENCH_SIZE") == "full"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_dags_argument(parser)
    parser.add_argument("--records", type=int, default=None if full else 4)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    publish("planner", asyncio.run(run(args.dags, args.records, args.model)))


if __name__ == "__main__":
    main()
