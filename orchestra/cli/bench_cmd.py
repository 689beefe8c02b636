"""``orchestra bench``: replay gold task graphs through the engine and measure it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestra.evals.dags import load_dags
from orchestra.evals.latency import LatencySpec
from orchestra.evals.replay import ReplayRecord, ReplayReport, replay
from orchestra.observability.terminal import one_line, safe_text

app = typer.Typer(help="Benchmarks on task graphs in JSONL.", no_args_is_help=True)

DagsOption = Annotated[
    Path,
    typer.Option("--dags", help="Task graphs, one JSON record a line (see docs/benchmarks.md)"),
]


@app.command("replay")
def replay_cmd(
    dags: DagsOption,
    tool_latency: Annotated[
        str,
        typer.Option(
            "--tool-latency",
            help="Seconds per tool call (0.05), or a seeded law: uniform:LOW:HIGH, exp:MEAN,"
            " lognormal:MEDIAN:SIGMA",
        ),
    ] = "0.05",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the drawn latencies")] = 0,
    max_parallel: Annotated[
        int | None,
        typer.Option("--max-parallel", min=1, help="Attempts at once (default: a graph's size)"),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N records")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object and nothing else")
    ] = False,
) -> None:
    """Run each gold DAG through the real engine with stub tools and measure it.

    Per record: every node once, dependency order, makespan against the critical path,
    overhead per node. Exits 1 when a record breaks exactly-once or order, 2 on bad input.
    """
    err = Console(stderr=True)
    latency = LatencySpec.parse(tool_latency)  # errors: one line from the CLI's handler
    records = load_dags(dags, limit=limit)

    def progress(done: ReplayRecord) -> None:
        if not json_output:
            mark = "ok" if done.exactly_once and done.order_ok else "PROBLEM"
            err.print(
                safe_text(
                    f"{done.id}: {done.nodes} nodes, efficiency {done.efficiency:.2f},"
                    f" {done.overhead_ms_per_node:.1f} ms/node {mark}"
                )
            )

    report = asyncio.run(
        replay(records, latency, seed=seed, max_parallel=max_parallel, on_record=progress)
    )
    if json_output:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        _print(Console(), report)
    broken = report.summary.n - min(report.summary.exactly_once, report.summary.order_ok)
    raise typer.Exit(1 if broken else 0)


def _print(out: Console, report: ReplayReport) -> None:
    table = Table(box=None, pad_edge=False)
    for column in (
        "record",
        "nodes",
        "once",
        "order",
        "makespan s",
        "critical s",
        "eff.",
        "ms/node",
    ):
        table.add_column(column, justify="left" if column == "record" else "right")
    for r in report.records:
        table.add_row(
            Text(one_line(r.id)),
            str(r.nodes),
            "yes" if r.exactly_once else "NO",
            "yes" if r.order_ok else "NO",
            f"{r.makespan_s:.3f}",
            f"{r.critical_path_s:.3f}",
            f"{r.efficiency:.2f}",
            f"{r.overhead_ms_per_node:.1f}",
        )
    out.print(table)
    s = report.summary
    out.print(
        f"{s.n} records: exactly once {s.exactly_once}/{s.n}, order ok {s.order_ok}/{s.n},"
        f" efficiency median {s.median_efficiency:.3f} (p10 {s.p10_efficiency:.3f}),"
        f" overhead median {s.median_overhead_ms_per_node:.2f} ms/node"
        f" (latency {report.settings['tool_latency']}, seed {report.settings['seed']})"
    )
    if s.model_calls_per_task:
        out.print(
            "model calls per task: "
            + ", ".join(f"{agent} {n:g}" for agent, n in s.model_calls_per_task.items())
        )
        out.print(
            "tokens per task: "
            + ", ".join(f"{agent} {n:g}" for agent, n in s.tokens_per_task.items())
        )
    for r in report.records:
        for problem in r.problems:
            out.print(safe_text(f"{r.id}: {problem}", style="red"))
