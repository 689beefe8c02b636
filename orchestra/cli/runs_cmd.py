"""``orchestra runs``: the runs this machine ran (list, show, prune)."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from orchestra.cli.approval_cmd import print_pending
from orchestra.cli.render import print_record, runs_table
from orchestra.observability.history import RunHistory
from orchestra.observability.terminal import one_line, safe_text

app = typer.Typer(help="List, show and prune the runs in the run history.", no_args_is_help=True)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="The history database (default: $ORCHESTRA_HOME/runs.db)"),
]


def history(db: Path | None) -> RunHistory:
    """The history at ``db``, else the default one."""
    return RunHistory(db) if db is not None else RunHistory.default()


@app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs")] = 20,
    team: Annotated[str | None, typer.Option(help="Only this team's runs")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only runs with this status (succeeded, failed, ...)")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    db: DbOption = None,
) -> None:
    """The newest runs first."""
    runs = history(db).list(limit=limit, team=team, status=status)
    if json_output:
        for run in runs:
            sys.stdout.write(run.model_dump_json() + "\n")
        return
    if not runs:
        Console(stderr=True).print("no runs yet")
        return
    console = Console()
    console.print(runs_table(runs, width=console.width))


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="A run id, or enough of its start")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the run record")] = False,
    db: DbOption = None,
) -> None:
    """The run's task tree, timings, tokens, verdicts and answer."""
    stored = history(db).get(run_id)
    if json_output:
        sys.stdout.write(stored.model_dump_json(indent=2) + "\n")
        return
    out = Console()
    summary = stored.summary
    out.print(
        Text.assemble(
            (one_line(summary.run_id), "bold"),
            f"  team={one_line(summary.team)}  status={summary.status}"
            f"  started={summary.started_at.astimezone():%Y-%m-%d %H:%M:%S}"
            + (f"  {summary.seconds:.1f}s" if summary.seconds is not None else ""),
        )
    )
    if stored.record is None:
        out.print(safe_text(f"goal: {summary.goal}"))
        out.print(safe_text(f"no run record yet{f': {summary.error}' if summary.error else ''}"))
        return
    if summary.status in ("error", "interrupted"):
        out.print(
            safe_text(
                f"the run stopped before it ended ({summary.status}"
                f"{f': {summary.error}' if summary.error else ''}); below is its last"
                " checkpoint, which 'orchestra resume' goes on from",
                "yellow",
            )
        )
    print_record(out, stored.record)
    if stored.record.pending:
        print_pending(out, stored.record.pending)


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` as a timedelta."""
    found = _DURATION.match(text.strip())
    if not found:
        raise typer.BadParameter(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@app.command("prune")
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age, e.g. 7d, 12h, 2w", show_default=False)
    ],
    db: DbOption = None,
) -> None:
    """Forget runs that started longer ago than --older-than."""
    gone = history(db).prune(parse_duration(older_than))
    Console(stderr=True).print(f"pruned {gone} run(s)")
