"""``orchestra eval``: score the planner (task graphs) and the judge (labelled results)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestra.agents.plan_sampling import PlanChoiceMode, PlanSamplingMode
from orchestra.checks import DEFAULT_CHECKS
from orchestra.core.checks import Check
from orchestra.evals.critic_eval import (
    CaseVerdict,
    CriticEvalReport,
    JudgeScores,
    evaluate_critic,
    load_cases,
)
from orchestra.evals.dags import load_dags
from orchestra.evals.plan_eval import PlanEvalReport, PlanScore, evaluate_plans
from orchestra.models.resolve import resolve_model
from orchestra.observability.terminal import one_line, safe_text

app = typer.Typer(
    help="Quality evaluations in JSONL: the planner on task graphs, the judge on results.",
    no_args_is_help=True,
)


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
            help="Plans sampled per goal (one is chosen: --plan-choice); above 1 the"
            " single-shot scores are reported next to the chosen plan's",
        ),
    ] = 1,
    plan_sampling: Annotated[
        PlanSamplingMode,
        typer.Option(
            "--plan-sampling",
            help=(
                "parallel: one planner call a sample; one_call: one call writes them all;"
                " alternatives: one call writes a plan and alternatives to its tasks"
            ),
        ),
    ] = "parallel",
    plan_choice: Annotated[
        PlanChoiceMode,
        typer.Option(
            "--plan-choice",
            help="critic: a plan critic call chooses; votes: the plan most samples wrote",
        ),
    ] = "critic",
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
                    + (
                        f", {score.valid_samples} of {plan_samples} plans valid, chosen by"
                        f" {score.chosen_by}"
                        if score.valid_samples is not None
                        else ""
                    )
                    + (
                        f", {score.alternatives} alternatives to its tasks"
                        f" ({score.alternatives_left_out} left out)"
                        if score.alternatives is not None
                        else ""
                    )
                )
            )

    settings = {
        "model": model or "default",
        "dags": str(dags),
        "max_repairs": max_repairs,
        "plan_samples": plan_samples,
        "plan_sampling": plan_sampling,
        "plan_choice": plan_choice,
    }
    report = asyncio.run(
        evaluate_plans(
            chat,
            records,
            max_repairs=max_repairs,
            plan_samples=plan_samples,
            plan_sampling=plan_sampling,
            plan_choice=plan_choice,
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
    if m.alternatives_per_record is not None:
        out.print(
            f"one plan with alternatives (up to {m.plan_samples} ways a task): alternatives a"
            f" record {m.alternatives_per_record:.1f}; tokens a record"
            f" {m.tokens_per_record:.0f}, of which the plan alone ~{m.k1_tokens_per_record:.0f}"
        )
    elif m.k1_node_f1 is not None:
        out.print(
            f"single-shot (K=1, the first samples): node F1 {m.k1_node_f1:.3f}, edge F1"
            f" {m.k1_edge_f1:.3f}, exact {m.k1_exact_rate:.1%}; tokens a record"
            f" {m.k1_tokens_per_record:.0f} against {m.tokens_per_record:.0f} for"
            f" K={m.plan_samples}; valid plans a record {m.valid_samples_per_record:.1f}"
            f" of {m.plan_samples}"
        )


@app.command("critic")
def critic_cmd(
    cases: Annotated[
        Path,
        typer.Option(
            "--cases",
            help='Labelled results, one JSON object a line: {"id", "task", "criteria",'
            ' "result", "label": "pass" | "fail"} (docs/benchmarks.md)',
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="The critic's model: any model string (openai:gpt-4.1-mini, ollama:qwen2.5,"
            " a .gguf path); default: ORCHESTRA_MODEL, else the embedded model",
        ),
    ] = None,
    checks: Annotated[
        Literal["default", "none"],
        typer.Option(
            "--checks",
            help="default: the built-in checks before the critic (orchestra.checks);"
            " none: the critic alone",
        ),
    ] = "default",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N cases")
    ] = None,
    max_repairs: Annotated[
        int, typer.Option("--max-repairs", min=0, help="Repair rounds for an invalid verdict")
    ] = 2,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object and nothing else")
    ] = False,
) -> None:
    """Judge each labelled result as a run would (checks, then the critic) and score it.

    Accuracy, junk caught (recall on label fail) and good kept (recall on label pass), for
    the checks alone and for the checks and the critic; model calls, tokens and time.
    """
    err = Console(stderr=True)
    loaded = load_cases(cases, limit=limit)  # errors: one line from the CLI's handler
    chat = resolve_model(model)
    chosen: tuple[Check, ...] = DEFAULT_CHECKS if checks == "default" else ()

    def progress(verdict: CaseVerdict) -> None:
        if not json_output:
            mark = "ok" if verdict.correct else "WRONG"
            err.print(
                safe_text(
                    f"{verdict.id}: {verdict.verdict} by {verdict.source} (label"
                    f" {verdict.label}, {mark}), {verdict.seconds:.1f}s"
                )
            )

    report = asyncio.run(
        evaluate_critic(
            chat,
            loaded,
            chosen,
            checks_name=checks,
            model_name=model or "default",
            max_repairs=max_repairs,
            on_case=progress,
        )
    )
    if json_output:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        _print_critic(Console(), report)


def _scores_line(name: str, scores: JudgeScores) -> str:
    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return (
        f"{name}: accuracy {scores.accuracy:.2f}, junk caught {rate(scores.junk_caught)},"
        f" good kept {rate(scores.good_kept)}"
    )


def _print_critic(out: Console, report: CriticEvalReport) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("case", "label", "verdict", "source"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for v in report.cases:
        verdict = Text(v.verdict, style="" if v.correct else "bold red")
        table.add_row(
            Text(one_line(v.id)),
            v.label,
            verdict,
            Text(one_line(v.source)),
            Text(one_line(v.reason, 80)),
        )
    out.print(table)
    m = report.summary
    out.print(
        safe_text(
            f"{m.n} cases ({m.n_fail} labelled fail, {m.n_pass} pass); checks {m.checks},"
            f" model {m.model}"
        )
    )
    if m.checks_alone is not None:
        out.print(safe_text(_scores_line("checks alone", m.checks_alone)))
    out.print(
        safe_text(
            _scores_line(
                "checks + critic" if m.checks_alone is not None else "critic", m.checks_and_critic
            )
        )
    )
    out.print(
        safe_text(
            f"caught by checks {m.caught_by_checks}, sent to the critic {m.critic_cases},"
            f" critic errors {m.errors}; model calls {m.model_calls}, tokens"
            f" {m.input_tokens} in / {m.output_tokens} out; {m.seconds:.1f}s"
        )
    )
    if m.checks_ms_median is not None:
        out.print(
            safe_text(
                f"checks per result: median {m.checks_ms_median:.2f} ms, mean"
                f" {m.checks_ms_mean or 0:.2f} ms, max {m.checks_ms_max or 0:.2f} ms (with the"
                " first load of anything a check loads)"
            )
        )
