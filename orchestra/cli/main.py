"""The ``orchestra`` command line."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from orchestra.cli.approval_cmd import (
    approval_decision,
    ask_decisions,
    print_pending,
    shell_word,
)
from orchestra.cli.bench_cmd import app as bench_app
from orchestra.cli.errors import DEBUG_ENV, ErrorsAsLines, say_error
from orchestra.cli.eval_cmd import app as eval_app
from orchestra.cli.loader import load_team
from orchestra.cli.memory_cmd import app as memory_app
from orchestra.cli.render import event_line, print_record
from orchestra.cli.runs_cmd import DbOption, history
from orchestra.cli.runs_cmd import app as runs_app
from orchestra.core.approval import ApprovalRequest, Decision, Reject
from orchestra.core.budget import Budget
from orchestra.core.errors import ConfigError, InputError
from orchestra.core.events import Event, ToolStarted, UsageRecorded
from orchestra.core.home import check_store
from orchestra.core.record import RunResult, RunStatus
from orchestra.observability.dashboard import DashboardStopped, start_phoenix, stop_on_signals
from orchestra.observability.history import redacted, shown_redactor
from orchestra.observability.live import LiveView
from orchestra.observability.report import render_report
from orchestra.observability.terminal import one_line, safe_text
from orchestra.team import Team

app = typer.Typer(
    name="orchestra",
    help="Run and inspect orchestra agent teams.",
    no_args_is_help=True,
    cls=ErrorsAsLines,
    # --debug shows a traceback; never with local variables (they may hold secrets)
    pretty_exceptions_show_locals=False,
)


app.add_typer(memory_app, name="memory")
app.add_typer(bench_app, name="bench")
app.add_typer(eval_app, name="eval")
app.add_typer(runs_app, name="runs")


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar=DEBUG_ENV,
            help="Show the traceback of an error instead of one line (or ORCHESTRA_DEBUG=1)",
        ),
    ] = False,
) -> None:
    """Run and inspect orchestra agent teams.

    Errors are one line on stderr. Exit codes: 0 succeeded, 1 the run failed (or an
    unexpected error), 2 bad input, configuration, file, server or run store, 3 the
    budget ran out, 4 waiting for approval, 5 plan rejected, 6 partial (some branches
    given up, the answer built from the rest), 7 succeeded with unverified results (only
    with --strict), 130 interrupted.
    """


@dataclass(frozen=True, slots=True)
class Watch:
    """Who hears a command's run events, and whether replies stream (for the live view)."""

    on_event: Callable[[Event], None]
    tokens: bool


Starter = Callable[[Team[Any], Watch, str], Awaitable[RunResult[Any]]]
"""Starts or goes on with a run: the team, the watch and the run's (whole) id."""

_Begin = Callable[[Team[Any], Watch], Awaitable[RunResult[Any]]]
"""Starts (or goes on with) a run, watched."""


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON run record and nothing else")
]
LiveOption = Annotated[
    bool | None,
    typer.Option(
        "--live/--no-live",
        help="Redraw the task tree as the run goes (default: on when stderr is a terminal)",
    ),
]


InteractiveOption = Annotated[
    bool | None,
    typer.Option(
        "--interactive/--no-interactive",
        help="Ask at the terminal when the run waits for approval (default: when stdin is a"
        " terminal)",
    ),
]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
"""Addresses ``serve`` and ``mcp`` bind without a token: reachable from this machine only."""

StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit 7 when the run succeeded but kept results no check and critic accepted"
        " (RunResult.unverified)",
    ),
]
UNVERIFIED_EXIT = 7

MaxTokens = Annotated[
    int | None, typer.Option("--max-tokens", help="Budget: input plus output tokens")
]
MaxUsd = Annotated[float | None, typer.Option("--max-usd", help="Budget: USD")]
MaxSeconds = Annotated[
    float | None, typer.Option("--max-seconds", help="Budget: wall-clock seconds")
]
MaxModelCalls = Annotated[int | None, typer.Option("--max-model-calls", help="Budget: model calls")]
MaxToolCalls = Annotated[int | None, typer.Option("--max-tool-calls", help="Budget: tool calls")]


def _budget(
    tokens: int | None,
    usd: float | None,
    seconds: float | None,
    model_calls: int | None,
    tool_calls: int | None,
) -> Budget | None:
    """A budget from the --max-* options, or None (the team's own) when none is given."""
    limits = {
        "tokens": tokens,
        "usd": usd,
        "seconds": seconds,
        "model_calls": model_calls,
        "tool_calls": tool_calls,
    }
    if all(v is None for v in limits.values()):
        return None
    try:
        return Budget(**limits)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")],
    goal: Annotated[str, typer.Argument(help="What the team should achieve")],
    json_output: JsonOption = False,
    live: LiveOption = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="The run's id (default: a new random one)")
    ] = None,
    max_tokens: MaxTokens = None,
    max_usd: MaxUsd = None,
    max_seconds: MaxSeconds = None,
    max_model_calls: MaxModelCalls = None,
    max_tool_calls: MaxToolCalls = None,
    interactive: InteractiveOption = None,
    strict: StrictOption = False,
) -> None:
    """Run GOAL with the team at TARGET.

    Exits 0 when the run succeeds, 1 when it fails, 3 at its budget, 4 when it waits for
    approval ('orchestra approve' / 'orchestra reject' go on) and 5 when a person
    rejected its plan. Ctrl-C stops the run and keeps its checkpoint: 'orchestra
    resume' continues it. The --max-* options set the run's budget (instead of the
    team's own).
    """
    the_id = run_id or uuid.uuid4().hex
    budget = _budget(max_tokens, max_usd, max_seconds, max_model_calls, max_tool_calls)
    _execute(
        target,
        the_id,
        lambda team, watch, _: team.arun(
            goal, run_id=the_id, on_event=watch.on_event, budget=budget, tokens=watch.tokens
        ),
        json_output=json_output,
        live=live,
        interactive=interactive,
        budget=budget,
        strict=strict,
    )


@app.command()
def resume(
    target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")],
    run_id: Annotated[str, typer.Argument(help="The id of the interrupted run")],
    json_output: JsonOption = False,
    live: LiveOption = None,
    max_tokens: MaxTokens = None,
    max_usd: MaxUsd = None,
    max_seconds: MaxSeconds = None,
    max_model_calls: MaxModelCalls = None,
    max_tool_calls: MaxToolCalls = None,
    strict: StrictOption = False,
) -> None:
    """Continue run RUN_ID of the team at TARGET from its last checkpoint.

    Finished work is not done again; side-effecting tool calls that completed are not
    repeated; a run stopped at its budget goes on under the --max-* budget (what it spent
    before counts). Exits like 'run'.
    """
    budget = _budget(max_tokens, max_usd, max_seconds, max_model_calls, max_tool_calls)

    def go_on(team: Team[Any], watch: Watch, whole_id: str) -> Awaitable[RunResult[Any]]:
        _say_if_ended(team, whole_id)
        return team.aresume(whole_id, on_event=watch.on_event, budget=budget, tokens=watch.tokens)

    _execute(
        target,
        run_id,
        go_on,
        json_output=json_output,
        live=live,
        budget=budget,
        strict=strict,
        stored=True,
    )


RequestOption = Annotated[
    str | None,
    typer.Option("--request", help="The pending request this decides (default: every one)"),
]


@app.command()
def approve(
    target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")],
    run_id: Annotated[str, typer.Argument(help="The id of the run waiting for approval")],
    request: RequestOption = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="Go on with this plan instead (JSON, the planner's format; an"
            ' "alternatives" list sets those kept for backtracking)',
        ),
    ] = None,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="Drop task ID")] = None,
    reword: Annotated[
        list[str] | None, typer.Option("--reword", help="ID=NEW TITLE: retitle a task")
    ] = None,
    add: Annotated[
        list[str] | None, typer.Option("--add", help="ID=TITLE: add a top-level task")
    ] = None,
    args_json: Annotated[
        str | None,
        typer.Option("--args", help="Make the waiting tool call with these arguments (JSON)"),
    ] = None,
    in_editor: Annotated[
        bool,
        typer.Option(
            "--edit",
            help="Edit what it waits for in $EDITOR first: the plan and its alternatives"
            " as JSON (the format --plan takes), or the tool call's arguments",
        ),
    ] = False,
    json_output: JsonOption = False,
    live: LiveOption = None,
    max_tokens: MaxTokens = None,
    max_usd: MaxUsd = None,
    max_seconds: MaxSeconds = None,
    max_model_calls: MaxModelCalls = None,
    max_tool_calls: MaxToolCalls = None,
) -> None:
    """Approve what run RUN_ID waits for, edited if asked, and go on with the run.

    Exits like 'run'. --plan, --drop, --reword and --add edit a plan; --args the
    arguments of a waiting tool call; --edit opens either in $EDITOR. 'orchestra runs
    show RUN_ID' shows what the run waits for.
    """
    budget = _budget(max_tokens, max_usd, max_seconds, max_model_calls, max_tool_calls)

    def decide(team: Team[Any], watch: Watch, whole_id: str) -> Awaitable[RunResult[Any]]:
        return _decided(team, whole_id, request, watch, budget, partial(edit, team))

    def edit(team: Team[Any], pending: ApprovalRequest) -> Decision:
        return approval_decision(
            pending,
            in_editor=in_editor,
            plan_file=plan_file,
            drop=drop or (),
            reword=reword or (),
            add=add or (),
            args_json=args_json,
            check_args=team.runtime.approved_args_problem,
        )

    _execute(target, run_id, decide, json_output=json_output, live=live, budget=budget, stored=True)


@app.command()
def reject(
    target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")],
    run_id: Annotated[str, typer.Argument(help="The id of the run waiting for approval")],
    reason: Annotated[str, typer.Option("--reason", help="Why (the executor is told it)")],
    request: RequestOption = None,
    json_output: JsonOption = False,
    live: LiveOption = None,
) -> None:
    """Reject what run RUN_ID waits for, then go on with the run.

    A rejected plan ends the run (exit code 5); a rejected tool call is not made, and
    its task's executor is told so and why.
    """

    def decide(team: Team[Any], watch: Watch, whole_id: str) -> Awaitable[RunResult[Any]]:
        return _decided(team, whole_id, request, watch, None, lambda _: Reject(reason=reason))

    _execute(target, run_id, decide, json_output=json_output, live=live, budget=None, stored=True)


async def _decided(
    team: Team[Any],
    run_id: str,
    request_id: str | None,
    watch: Watch,
    budget: Budget | None,
    decide: Callable[[ApprovalRequest], Decision],
) -> RunResult[Any]:
    """Resume ``run_id`` with ``decide``'s decision on one pending request or on all."""
    pending = (await team.aget_run(run_id)).pending
    if not pending:
        raise InputError(f"run {run_id!r} is not waiting for any approval")
    chosen = [r for r in pending if request_id is None or r.id == request_id]
    if not chosen:
        ids = [r.id for r in pending]
        raise InputError(f"run {run_id!r} has no pending request {request_id!r}; pending: {ids}")
    if len(chosen) < len(pending):
        raise InputError(
            "a run goes on once every pending request is decided; decide them all at once"
            f" (pending: {[r.id for r in pending]})"
        )
    decisions = {r.id: decide(r) for r in chosen}
    return await team.aresume(
        run_id, decisions=decisions, on_event=watch.on_event, budget=budget, tokens=watch.tokens
    )


_EXIT_CODES = {
    RunStatus.SUCCEEDED: 0,
    RunStatus.FAILED: 1,
    RunStatus.BUDGET_EXCEEDED: 3,
    RunStatus.AWAITING_APPROVAL: 4,
    RunStatus.REJECTED: 5,
    RunStatus.PARTIAL: 6,
}


def _execute(
    target: str,
    run_id: str,
    start: Starter,
    *,
    json_output: bool,
    live: bool | None,
    budget: Budget | None,
    interactive: bool | None = False,
    strict: bool = False,
    stored: bool = False,
) -> None:
    """Start or go on with run ``run_id``.

    ``stored``: a run of the history, which may be named by the start of its id, as
    ``orchestra runs list`` shows it.
    """
    err = Console(stderr=True, soft_wrap=True)
    out = Console()
    team = load_team(target)
    _check_stores(team)
    if stored:
        run_id = _whole_run_id(team, run_id)
    if live is None:
        live = err.is_terminal and not json_output
    if interactive is None:
        interactive = sys.stdin.isatty() and not json_output
    watch = partial(_watched, team, err, live=live and not json_output, quiet=json_output)
    result = watch(partial(_with_id, start, run_id), target=target, run_id=run_id)
    while result.status is RunStatus.AWAITING_APPROVAL and interactive:
        print_pending(err, result.pending)
        try:
            decisions = ask_decisions(err, result.pending, team.runtime.approved_args_problem)
        except (typer.Abort, click.exceptions.Abort):  # end of input or Ctrl-C: still waiting
            err.print()
            break
        go_on = partial(_resume_with, run_id, decisions, budget)
        try:
            result = watch(go_on, target=target, run_id=run_id, retry_input=True)
        except _BadDecision as exc:
            say_error(str(exc))
    if json_output:
        record = result.to_record()
        redact = shown_redactor(team.tracing.redactor)  # the team's knows its marked values
        if redact is not None:
            record = redacted(record, redact)
        sys.stdout.write(record.model_dump_json(indent=2) + "\n")
    else:
        print_record(out, result.to_record())
        if result.pending:
            print_pending(err, result.pending)
            err.print(
                Text(
                    f"the run waits for approval. Go on with:\n"
                    f"  orchestra approve {shell_word(target)} {_id_arg(run_id)}\n"
                    f"  orchestra reject {shell_word(target)} {_id_arg(run_id)} --reason '...'"
                )
            )
        if team.history is not None:
            short = _id_arg(result.run_id[:12])
            err.print(
                Text(
                    f"run {one_line(result.run_id)}: orchestra runs show {short}"
                    f" · orchestra report {short} -o run.html",
                    style="dim",
                )
            )
    if strict and result.status is RunStatus.SUCCEEDED and result.unverified:
        raise typer.Exit(UNVERIFIED_EXIT)
    raise typer.Exit(_EXIT_CODES.get(result.status, 1))


def _id_arg(run_id: str) -> str:
    """A run id as the shell word after the target (``--`` first if it looks like an option)."""
    return ("-- " if run_id.startswith("-") else "") + shell_word(run_id)


def _with_id(
    start: Starter, run_id: str, team: Team[Any], watch: Watch
) -> Awaitable[RunResult[Any]]:
    return start(team, watch, run_id)


_ENDED = ("succeeded", "failed", "rejected", "partial")
"""History statuses of runs that ended: nothing is left to resume (an error, an
interrupted run or a budget stop goes on)."""


def _say_if_ended(team: Team[Any], run_id: str) -> None:
    """Say so when the history has the run as ended: resuming it does nothing.

    Not an error: a script may resume until a run is done, and the exit code and the
    record stay the run's own.
    """
    if team.history is None or not team.history.exists(run_id):
        return
    status = team.history.get(run_id).summary.status
    if status in _ENDED:
        Console(stderr=True).print(
            safe_text(f"run {one_line(run_id)} already ended {status}: nothing to resume", "yellow")
        )


def _whole_run_id(team: Team[Any], run_id: str) -> str:
    """``run_id``, or the id of the one run in the team's history that starts with it.

    Raises:
        InputError: several runs start with it, or the run is another team's.
    """
    if team.history is None:
        return run_id
    whole = team.history.whole_id(run_id)
    if whole is None:  # not in the history: the checkpoints have the last word
        return run_id
    owner = team.history.get(whole).summary.team
    if owner != team.name:
        raise InputError(
            f"run {one_line(whole)!r} is a run of team {one_line(owner)!r}, not of"
            f" {one_line(team.name)!r}: give that team's file"
        )
    return whole


def _check_stores(team: Team[Any]) -> None:
    """Fail in one line, before anything is written, if the team's SQLite files are unusable."""
    if team.checkpoints.kind == "sqlite" and team.checkpoints.target:
        check_store(team.checkpoints.target, write=True)
    if team.history is not None:
        check_store(team.history.path, write=True)


def _resume_with(
    run_id: str,
    decisions: dict[str, Decision],
    budget: Budget | None,
    team: Team[Any],
    watch: Watch,
) -> Awaitable[RunResult[Any]]:
    return team.aresume(
        run_id, decisions=decisions, on_event=watch.on_event, budget=budget, tokens=watch.tokens
    )


class _BadDecision(Exception):
    """Decisions the run did not accept (asked again in interactive mode)."""


def _watched(
    team: Team[Any],
    err: Console,
    start: _Begin,
    *,
    live: bool,
    quiet: bool,
    target: str,
    run_id: str,
    retry_input: bool = False,
) -> RunResult[Any]:
    """Run ``start`` under :func:`_watch`.

    Ctrl-C exits 130; an ``InputError`` is a :class:`_BadDecision` when ``retry_input``
    (the decisions are asked again); other errors go to the CLI's one-line handler.
    """
    try:
        return _watch(team, start, err, live=live, quiet=quiet)
    except KeyboardInterrupt:
        err.print(
            Text(
                f"interrupted; the run is checkpointed. Continue it with:\n"
                f"  orchestra resume {shell_word(target)} {_id_arg(run_id)}"
            )
        )
        raise typer.Exit(130) from None
    except InputError as exc:
        if retry_input:
            raise _BadDecision(str(exc)) from exc
        raise


def _watch(
    team: Team[Any],
    start: _Begin,
    err: Console,
    *,
    live: bool,
    quiet: bool,
) -> RunResult[Any]:
    """Run with the live view, event lines, or silently."""
    if live:
        view = LiveView()
        with Live(view, console=err, refresh_per_second=8, transient=False):
            return asyncio.run(_awaited(start(team, Watch(view.update, tokens=True))))

    def show(event: Event) -> None:
        # usage and tool_started feed live views; as log lines they are noise
        if not quiet and not isinstance(event, (UsageRecorded, ToolStarted)):
            err.print(event_line(event))

    return asyncio.run(_awaited(start(team, Watch(show, tokens=False))))


async def _awaited(pending: Awaitable[RunResult[Any]]) -> RunResult[Any]:
    return await pending


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="A run id, or enough of its start")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the HTML page")
    ] = Path("run.html"),
    db: DbOption = None,
) -> None:
    """Write one self-contained HTML page for a run: tree, timeline, tokens, verdicts."""
    err = Console(stderr=True, soft_wrap=True)
    stored = history(db).get(run_id)
    page = render_report(stored)
    output.write_text(page, encoding="utf-8")
    err.print(Text(f"wrote {output} ({len(page) // 1024} KiB)"))


@app.command()
def serve(
    target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")],
    host: Annotated[str, typer.Option(help="The address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port")] = 8000,
    max_runs: Annotated[int, typer.Option("--max-runs", min=1, help="Runs at once")] = 4,
    max_queued: Annotated[
        int, typer.Option("--max-queued", min=0, help="Runs waiting for a slot (then 429)")
    ] = 64,
) -> None:
    """Serve the team at TARGET over HTTP: start runs, stream their events, approve.

    Binds 127.0.0.1 by default; any other address needs a bearer token in
    ORCHESTRA_API_TOKEN, which every request must then carry. The API and its OpenAPI
    schema (/docs, /openapi.json) are described in docs/serving.md.
    """
    import os

    import uvicorn

    from orchestra.serve import create_app

    token = os.environ.get("ORCHESTRA_API_TOKEN") or None
    if host not in LOOPBACK and token is None:
        raise ConfigError(
            f"binding {host} exposes the team beyond this machine: set ORCHESTRA_API_TOKEN"
            " (every request must then send it as a bearer token)"
        )
    team = load_team(target)
    _check_stores(team)
    api = create_app(team, token=token, max_runs=max_runs, max_queued=max_queued)
    uvicorn.run(api, host=host, port=port, log_level="info", access_log=False)


@app.command()
def mcp(
    target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")],
    http: Annotated[
        int | None,
        typer.Option("--http", help="Serve streamable HTTP on this port (default: stdio)"),
    ] = None,
    host: Annotated[str, typer.Option(help="The address to bind with --http")] = "127.0.0.1",
) -> None:
    """Serve the team at TARGET as an MCP server: a `run` tool and the run records.

    Over stdio by default (for an MCP client that starts it); with --http PORT over
    streamable HTTP at http://HOST:PORT/mcp (loopback by default). See docs/serving.md.
    """
    from orchestra.team_mcp import team_mcp_server

    if http is not None and host not in LOOPBACK:
        raise ConfigError(
            f"orchestra mcp serves loopback only ({host} was asked): it has no authentication;"
            " put an authenticating proxy in front to reach it from elsewhere"
        )
    team = load_team(target)
    _check_stores(team)
    server = team_mcp_server(team)
    if http is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=http)


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="The port of Phoenix's web UI and OTLP HTTP")] = 6006,
    working_dir: Annotated[
        Path | None,
        typer.Option("--dir", help="Phoenix's data (default: $ORCHESTRA_HOME/phoenix)"),
    ] = None,
) -> None:
    r"""Start a local Arize Phoenix and trace every team's runs to it until stopped.

    Ctrl-C, SIGTERM or SIGHUP stops Phoenix too. Needs the extra:
    pip install 'orchestra-teams\[dashboard]'.
    """
    err = Console(stderr=True, soft_wrap=True)
    with stop_on_signals():
        try:
            phoenix = start_phoenix(port, working_dir)
        except ConfigError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from exc
        except (KeyboardInterrupt, DashboardStopped):
            err.print("stopped before Phoenix was ready")
            return
        url = phoenix.info.url
        try:
            err.print(
                f"Phoenix is running at [bold]{url}[/bold] (loopback only, offline, gRPC"
                " receiver off).\nRuns started from this directory (same $ORCHESTRA_HOME) are"
                f" traced to it; elsewhere:\n  export OTEL_EXPORTER_OTLP_ENDPOINT={url}\n"
                "Ctrl-C stops it."
            )
            phoenix.process.wait()
        except (KeyboardInterrupt, DashboardStopped) as why:
            err.print(f"stopping Phoenix ({why or 'Ctrl-C'})")
        finally:
            phoenix.stop()


@app.command()
def graph(target: Annotated[str, typer.Argument(help="The team: path/to/file.py:name")]) -> None:
    """Print the team's state machine as a Mermaid diagram."""
    team = load_team(target)
    sys.stdout.write(team.graph.get_graph().draw_mermaid())
