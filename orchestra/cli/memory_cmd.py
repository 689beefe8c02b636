"""``orchestra memory``: search and forget the shared memory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestra.memory import Memory
from orchestra.memory.store import DEFAULT_PATH, MEMORY_URL_ENV
from orchestra.observability.terminal import one_line

app = typer.Typer(help="Search and forget the shared memory.", no_args_is_help=True)

PathOption = Annotated[
    Path | None, typer.Option("--path", help=f"local store folder (default {DEFAULT_PATH})")
]
UrlOption = Annotated[
    str | None, typer.Option("--url", envvar=MEMORY_URL_ENV, help="chromadb server URL")
]


def _open(path: Path | None, url: str | None) -> Memory:
    return Memory.connect(url) if url else Memory.local(path or DEFAULT_PATH)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    team: Annotated[str, typer.Option(help="the team whose memories to search")] = "orchestra-team",
    run: Annotated[str | None, typer.Option(help="also see this run's memories")] = None,
    k: Annotated[int, typer.Option("-k", help="how many results")] = 5,
    path: PathOption = None,
    url: UrlOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show the memories most similar to QUERY, with their provenance."""
    hits = _open(path, url).search(query, team=team, run_id=run, k=k)
    if json_output:
        sys.stdout.write(json.dumps([h.model_dump(mode="json") for h in hits], indent=2) + "\n")
        return
    table = Table("score", "text", "scope", "source", "run / task / role", "id")
    for hit in hits:
        r = hit.record
        where = " / ".join(x or "-" for x in (r.run_id, r.task_id, r.role))
        table.add_row(
            f"{hit.score:.2f}",
            Text(one_line(r.text, 80)),
            r.scope.value,
            r.source.value,
            Text(one_line(where)),
            Text(one_line(r.id)[:12]),
        )
    Console().print(table)


@app.command()
def forget(
    ids: Annotated[list[str] | None, typer.Option("--id", help="a memory id (repeatable)")] = None,
    run: Annotated[str | None, typer.Option(help="every memory written by this run")] = None,
    path: PathOption = None,
    url: UrlOption = None,
) -> None:
    """Delete memories by id or by run."""
    if not ids and not run:
        raise typer.BadParameter("give --id or --run")
    gone = _open(path, url).forget(ids=ids or None, run_id=run)
    Console().print(f"forgot {gone} memor{'y' if gone == 1 else 'ies'}")
