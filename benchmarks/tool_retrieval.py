"""Tool retrieval: recall@k of the gold tools per goal, against a random baseline.

    python benchmarks/tool_retrieval.py [--dags FILE] [--k 1 3 5 10] [--seed 0] [--json]

Reads task graphs in the JSONL format of ``shared/eval/sample-dags.jsonl`` (any file in that
format). All tools of all records form one pool, as in a team with hundreds of tools; for
each goal the pool is ranked and recall@k = |gold tools in the top k| / |gold tools|.
Retrievers: lexical BM25, MiniLM embeddings (offline, see orchestra.memory.embeddings) and
their reciprocal-rank fusion.
The baseline is a seeded random ranking measured in the same run; the ratio is
retriever / baseline.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from common import add_dags_argument, save
from langchain_core.tools import StructuredTool

from orchestra.memory.embeddings import MiniLMEmbedder
from orchestra.tools.registry import (
    BM25ToolRetriever,
    EmbeddingToolRetriever,
    HybridToolRetriever,
    tool_document,
)

Ranker = Callable[[str, int], list[str]]
RANDOM_DRAWS = 200


def load_records(path: Path) -> list[dict[str, Any]]:
    """Records of a task-graph JSONL file (blank lines skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def tool_pool(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Every tool of every record, name to retrieval document (first description wins)."""
    pool: dict[str, str] = {}
    for record in records:
        for spec in record["tools"]:
            if spec["name"] in pool:
                continue
            params = (spec.get("parameters") or {}).get("properties") or {}
            tool = StructuredTool.from_function(
                lambda **kw: kw, name=spec["name"], description=spec.get("description") or ""
            )
            pool[spec["name"]] = f"{tool_document(tool)} {' '.join(params)}"
    return pool


def recall_at(
    records: Sequence[dict[str, Any]], rank: Ranker, ks: Sequence[int]
) -> dict[int, float]:
    """Mean recall@k over records for each k."""
    per_k: dict[int, list[float]] = {k: [] for k in ks}
    for record in records:
        gold = {node["tool"] for node in record["nodes"]}
        ranked = rank(record["goal"], max(ks))
        for k in ks:
            per_k[k].append(len(gold & set(ranked[:k])) / len(gold))
    return {k: statistics.fmean(v) for k, v in per_k.items()}


def run(path: Path, ks: Sequence[int], seed: int) -> dict[str, Any]:
    """The whole benchmark as one JSON-able result."""
    records = load_records(path)
    pool = tool_pool(records)
    names = list(pool)
    bm25 = BM25ToolRetriever(pool)
    embeddings = EmbeddingToolRetriever(pool, MiniLMEmbedder().embed)
    hybrid = HybridToolRetriever(bm25, embeddings)
    rng = random.Random(seed)

    def random_rank(_: str, k: int) -> list[str]:
        return rng.sample(names, min(k, len(names)))

    # The random baseline is averaged over many draws so that its ratio is stable.
    draws = [recall_at(records, random_rank, ks) for _ in range(RANDOM_DRAWS)]
    results = {
        "bm25": recall_at(records, bm25.rank, ks),
        "embeddings": recall_at(records, embeddings.rank, ks),
        "hybrid": recall_at(records, hybrid.rank, ks),
        "random": {k: statistics.fmean(d[k] for d in draws) for k in ks},
    }
    return {
        "dags": str(path),
        "records": len(records),
        "pool_size": len(pool),
        "seed": seed,
        "random_draws": RANDOM_DRAWS,
        "recall_at_k": {
            name: {str(k): round(v, 5) for k, v in r.items()} for name, r in results.items()
        },
        "ratio_over_random": {
            name: {
                str(k): round(results[name][k] / results["random"][k], 1)
                if results["random"][k]
                else None
                for k in ks
            }
            for name in ("bm25", "embeddings", "hybrid")
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dags_argument(parser)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not args.dags.is_file():
        print(f"no task-graph file at {args.dags}; pass --dags FILE", file=sys.stderr)
        return 2
    result = run(args.dags, args.k, args.seed)
    save("tool_retrieval", result)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['records']} goals, {result['pool_size']} tools in the pool ({args.dags})")
    names = ("bm25", "embeddings", "hybrid")
    print(f"{'k':>4}" + "".join(f" {n:>11}" for n in (*names, "random")) + "  (× random)")
    rec, ratio = result["recall_at_k"], result["ratio_over_random"]
    for k in map(str, args.k):
        cells = "".join(f" {rec[n][k]:>5.3f} ({ratio[n][k] or 'n/a':>4})" for n in names)
        print(f"{k:>4}{cells} {rec['random'][k]:>11.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
