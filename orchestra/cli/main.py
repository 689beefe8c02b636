"""The ``orchestra`` command line."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console

from orchestra.cli.loader import load_team
from orchestra.cli.memory_cmd import app as memory_app
from orchestra.cli.render import event_line, print_result
from orchestra.core.errors import OrchestraError
from orchestra.core.events import Event
from orchestra.core.record import RunResult

app = typer.Typer(
    name="orchestra", help="Run and inspect orchestra agent teams.", no_args_is_help=True
)


app.add_typer(memory_app, name="memory")


@app.callback()
def main() -> None:
    """Run and inspect orchestra agent teams."""


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")],
    goal: Annotated[str, typer.Argument(help="What the team should achieve")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON run record and nothing else")
    ] = False,
) -> None:
    """Run GOAL with the team at TARGET; exits 1 when the run fails."""
    err = Console(stderr=True, soft_wrap=True)
    out = Console()
    try:
        team = load_team(target)
    except OrchestraError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc

    def show(event: Event) -> None:
        if not json_output:
            err.print(event_line(event))

    try:
        result: RunResult = asyncio.run(team.arun(goal, on_event=show))
    except OrchestraError as exc:
        err.print(f"[red]{type(exc).__name__}:[/red] {exc}")
        raise typer.Exit(1) from exc
    if json_output:
        sys.stdout.write(result.to_record().model_dump_json(indent=2) + "\n")
    else:
        print_result(out, result)
    raise typer.Exit(0 if result.succeeded else 1)


@app.command()
def graph(target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")]) -> None:
    """Print the team's state machine as a Mermaid diagram."""
    try:
        team = load_team(target)
    except OrchestraError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    sys.stdout.write(team.graph.get_graph().draw_mermaid())
