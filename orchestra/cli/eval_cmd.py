"""``orchestra eval``: score the planner on gold task graphs."""

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
from orchestra.evals.plan_eval import PlanEvalReport, PlanScore, evaluate_plans
from orchestra.models.resolve import resolve_model
from orchestra.observability.terminal import one_line, safe_text

app = typer.Typer(help="Quality evaluations on task graphs in JSONL.", no_args_is_help=True)


@app.command("plan")
def plan_cmd(
    dags: Annotated[
        Path,
        typer.Option("--dags", help="Task graphs, one JSON record a line (docs/benchmarks.md)"),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Any model string (openai:gpt-4.1-mini, ollama:qwen2.5, a .gguf path);"
            " default: ORCHESTRA_MODEL, else the embedded model",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N records")
    ] = None,
    max_repairs: Annotated[
        int, typer.Option("--max-repairs", min=0, help="Repair rounds for an invalid plan")
    ] = 2,
    plan_samples: Annotated[
        int,
        typer.Option(
            "--plan-samples",
            min=1,
            max=8,
            help="Plans sampled per goal (the plan critic chooses); above 1 the single-shot"
            " scores are reported next to the chosen plan's",
        ),
    ] = 1,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object and nothing else")
    ] = False,
) -> None:
    """Let the planner decompose each goal, seeing the record's tools, and score it.

    TaskBench node F1 (tool names), edge F1 (dependency pairs), exact-DAG rate, and plans
    valid on the first try, after repair, or never.
    """
    err = Console(stderr=True)
    records = load_dags(dags, limit=limit)  # errors: one line from the CLI's handler
    chat = resolve_model(model)

    def progress(score: PlanScore) -> None:
        if not json_output:
            err.print(
                safe_text(
                    f"{score.id}: node F1 {score.node_f1:.2f}, edge F1 {score.edge_f1:.2f},"
                    f" {score.valid}, {score.seconds:.1f}s"
                )
            )

    settings = {
        "model": model or "default",
        "dags": str(dags),
        "max_repairs": max_repairs,
        "plan_samples": plan_samples,
    }
    report = asyncio.run(
        evaluate_plans(
            chat,
            records,
            max_repairs=max_repairs,
            plan_samples=plan_samples,
            on_record=progress,
            settings=settings,
        )
    )
    if json_output:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        _print(Console(), report)


def _print(out: Console, report: PlanEvalReport) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("record", "node F1", "edge F1", "exact", "valid", "calls", "s"):
        table.add_column(column, justify="left" if column in ("record", "valid") else "right")
    for s in report.records:
        table.add_row(
            Text(one_line(s.id)),
            f"{s.node_f1:.2f}",
            f"{s.edge_f1:.2f}",
            "yes" if s.exact else "no",
            s.valid,
            str(s.model_calls),
            f"{s.seconds:.1f}",
        )
    out.print(table)
    m = report.summary
    out.print(
        f"{m.n} records: node F1 {m.node_f1:.3f}, edge F1 {m.edge_f1:.3f}, exact"
        f" {m.exact_rate:.1%}; valid first try {m.valid_first_try}, after repair"
        f" {m.valid_after_repair}, never {m.invalid} (model {report.settings['model']})"
    )
    if m.k1_node_f1 is not None:
        out.print(
            f"single-shot (K=1, the first samples): node F1 {m.k1_node_f1:.3f}, edge F1"
            f" {m.k1_edge_f1:.3f}, exact {m.k1_exact_rate:.1%}; tokens a record"
            f" {m.k1_tokens_per_record:.0f} against {m.tokens_per_record:.0f} for"
            f" K={m.plan_samples}"
        )
