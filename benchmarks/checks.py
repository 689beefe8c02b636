"""Checks: what the built-in checks catch on labelled results, and what they cost.

    python benchmarks/checks.py [--cases FILE ...] [--repeat 5] [--json]

Reads case files in the format of ``orchestra eval critic`` (one JSON object a line:
``{"id", "task", "criteria", "result", "label": "pass" | "fail"}``; by default the public
sample ``shared/eval/critic-sample.jsonl`` and the held-out ``benchmarks/data/
check_cases.jsonl``) and runs ``orchestra.checks.DEFAULT_CHECKS`` on each result alone,
without the critic, as a run does (``run_checks``, the task's title and criteria).

* Quality per file: junk caught (``fail`` results a check failed), good kept (``pass``
  results every check passed), accuracy, and the check that caught each result.
* Cost per result, in ms (median, p95, mean over every case of every file, ``--repeat``
  times), after a warm-up and excluding the embedding model's first load (reported on its
  own). Each timing starts from empty text caches; "warm task" keeps the task's embedding
  (a retry, or a task seen before), "cold task" embeds it too (a task's first attempt).
  Baselines measured in the same run, on the same results: the model-free checks alone
  (``on_topic`` left out) and one bare embedder call on the result (what every result
  cost before ``on_topic`` learned to skip the model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import save

from orchestra import checks
from orchestra.checks import DEFAULT_CHECKS, Check, CheckedTask, OnTopic, run_checks
from orchestra.memory.embeddings import shared_embedder

HERE = Path(__file__).resolve().parent
DEFAULT_CASES = (
    HERE.parents[1] / "shared" / "eval" / "critic-sample.jsonl",
    HERE / "data" / "check_cases.jsonl",
)
MODEL_FREE: tuple[Check, ...] = tuple(c for c in DEFAULT_CHECKS if not isinstance(c, OnTopic))


def load_cases(path: Path) -> list[dict[str, Any]]:
    """The cases of a JSONL file (blank lines skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def checked_task(case: dict[str, Any]) -> CheckedTask:
    """The task as a run's checks see it: the task as title, its criteria."""
    return CheckedTask(
        id=str(case["id"]), title=case["task"], criteria=tuple(case.get("criteria") or ())
    )


async def quality(cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What DEFAULT_CHECKS alone say of each case, and the recall on each label."""
    rows = []
    for case in cases:
        outcome = await run_checks(DEFAULT_CHECKS, checked_task(case), case["result"])
        verdict = "pass" if outcome is None else "fail"
        rows.append(
            {
                "id": case["id"],
                "label": case["label"],
                "verdict": verdict,
                "check": outcome.name if outcome else None,
                "reason": outcome.reason if outcome else None,
                "correct": verdict == case["label"],
            }
        )
    junk = [r for r in rows if r["label"] == "fail"]
    good = [r for r in rows if r["label"] == "pass"]
    return {
        "cases": len(rows),
        "junk": len(junk),
        "good": len(good),
        "junk_caught": round(sum(r["correct"] for r in junk) / len(junk), 3) if junk else None,
        "good_kept": round(sum(r["correct"] for r in good) / len(good), 3) if good else None,
        "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 3),
        "rows": rows,
    }


def summary(timings: Sequence[float]) -> dict[str, float]:
    """Median, p95 and mean of ``timings`` (ms)."""
    ordered = sorted(timings)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[max(0, int(0.95 * len(ordered)) - 1)], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


async def cost(cases: Sequence[dict[str, Any]], repeat: int) -> dict[str, Any]:
    """ms per result of the checks and of the baselines, the model already loaded."""
    embedder = shared_embedder()
    pairs = [(checked_task(c), c["result"]) for c in cases]
    for task, result in pairs:  # warm-up: code paths, allocator, ONNX kernels
        await run_checks(DEFAULT_CHECKS, task, result)
        embedder.embed([result])
    runs: dict[str, list[float]] = {"warm": [], "cold": [], "model_free": [], "embed": []}
    embedded = 0
    for _ in range(repeat):
        for task, result in pairs:
            for name, chosen, tasks in (
                ("warm", DEFAULT_CHECKS, False),
                ("cold", DEFAULT_CHECKS, True),
                ("model_free", MODEL_FREE, True),
            ):
                if name == "warm":  # what the task's first attempt left behind
                    await run_checks(chosen, task, result)
                checks.clear_caches(tasks=tasks)
                before = checks.topic._task_vector.cache_info().misses
                start = time.perf_counter()
                await run_checks(chosen, task, result)
                runs[name].append((time.perf_counter() - start) * 1000)
                if name == "cold" and checks.topic._task_vector.cache_info().misses > before:
                    embedded += 1
            start = time.perf_counter()
            embedder.embed([result])
            runs["embed"].append((time.perf_counter() - start) * 1000)
    out: dict[str, Any] = {name: summary(t) for name, t in runs.items()}
    out["results_timed"] = len(runs["warm"])
    out["share_embedded"] = round(embedded / len(runs["cold"]), 3)
    for name in ("warm", "cold"):
        out[name]["ratio_to_embed_mean"] = round(out[name]["mean_ms"] / out["embed"]["mean_ms"], 3)
        out[name]["ratio_to_model_free_mean"] = round(
            out[name]["mean_ms"] / out["model_free"]["mean_ms"], 1
        )
    return out


def run(paths: Sequence[Path], repeat: int) -> dict[str, Any]:
    """The whole benchmark as one JSON-able result."""
    start = time.perf_counter()
    shared_embedder().embed(["load the model"])
    load_ms = (time.perf_counter() - start) * 1000
    files = {str(p): load_cases(p) for p in paths}

    async def measure() -> dict[str, Any]:
        per_file = {}
        for name, cases in files.items():
            per_file[name] = await quality(cases)
            per_file[name]["cost"] = await cost(cases, repeat)
        every = [c for cases in files.values() for c in cases]
        return {"files": per_file, "cost": await cost(every, repeat)}

    result = asyncio.run(measure())
    return {
        "checks": [checks.check_name(c) for c in DEFAULT_CHECKS],
        "model_load_ms": round(load_ms, 1),
        "repeat": repeat,
        **result,
    }


def print_table(result: dict[str, Any]) -> None:
    """The result for a reader."""
    for name, q in result["files"].items():
        print(f"\n{name}: {q['cases']} cases ({q['junk']} junk, {q['good']} good)")
        print(
            f"  checks alone: junk caught {q['junk_caught']:.3f}, good kept"
            f" {q['good_kept']:.3f}, accuracy {q['accuracy']:.3f}"
        )
        for row in q["rows"]:
            mark = " " if row["correct"] else "x"
            caught = row["check"] or "-"
            reason = f"  {row['reason'][:70]}" if row["reason"] else ""
            print(f"  {mark} {row['label']:4} {row['id'][:28]:<28} {caught:<16}{reason}")
    print(f"\ncost per result, ms (model load {result['model_load_ms']:.0f} ms not included)")
    print(f"  {'':<44}{'median':>8}{'p95':>8}{'mean':>8}  mean vs bare embed")
    labels = {
        "warm": "DEFAULT_CHECKS, task embedded before",
        "cold": "DEFAULT_CHECKS, task not embedded yet",
        "model_free": "without on_topic (baseline)",
        "embed": "one bare embedder call (baseline)",
    }
    costs = {Path(n).name: q["cost"] for n, q in result["files"].items()}
    for file, c in {**costs, "all files": result["cost"]}.items():
        print(
            f"  {file}: {c['results_timed']} timings, on_topic embedded"
            f" {c['share_embedded']:.0%} of results"
        )
        for name, label in labels.items():
            row = c[name]
            ratio = f"  {row['ratio_to_embed_mean']:.2f}x" if "ratio_to_embed_mean" in row else ""
            print(
                f"    {label:<42}{row['median_ms']:>8.2f}{row['p95_ms']:>8.2f}"
                f"{row['mean_ms']:>8.2f}{ratio}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the public sample sits beside the repository on our machines, not in a clone
    present = [p for p in DEFAULT_CASES if p.is_file()]
    parser.add_argument("--cases", type=Path, nargs="+", default=present)
    parser.add_argument("--repeat", type=int, default=5, help="timings per result")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    missing = [p for p in args.cases if not p.is_file()]
    if missing:
        print(f"no case file at {missing[0]}; pass --cases FILE ...", file=sys.stderr)
        return 2
    result = run(args.cases, max(args.repeat, 1))
    save("checks", result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
