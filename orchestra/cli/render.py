"""Showing runs in the terminal with rich."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from orchestra.core.events import Event
from orchestra.core.plan_selection import PlanSelection
from orchestra.core.record import RunRecord, TaskRecord
from orchestra.core.tree import ROOT_ID, TaskStatus
from orchestra.observability.history import RunSummary, history_redactor, redacted
from orchestra.observability.terminal import clean, one_line, safe_text

__all__ = ["event_line", "print_record", "print_unverified", "record_tree", "runs_table"]

_STYLE = {
    TaskStatus.DONE: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.SKIPPED: "yellow",
    TaskStatus.RUNNING: "cyan",
    TaskStatus.WAITING: "yellow",
}
_RUN_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "error": "red",
    "running": "cyan",
    "awaiting_approval": "yellow",
    "budget_exceeded": "yellow",
    "rejected": "yellow",
    "partial": "yellow",
}


def event_line(event: Event) -> Text:
    """One line describing ``event``."""
    at = event.at.strftime("%H:%M:%S.%f")[:-3]
    fields = event.model_dump(exclude={"run_id", "at", "type"}, exclude_none=True)
    detail = " ".join(f"{k}={_short(_rounded(v), _LIMITS.get(k, 60))}" for k, v in fields.items())
    return Text.assemble((f"{at} ", "dim"), (f"{event.type:<14} ", "bold"), detail)


_LIMITS = {"message": 240}
"""Fields an event line keeps longer: a notice's message is what it says."""


def _rounded(value: object) -> object:
    """Floats as a person reads them (``duration_s=0.004``, not 17 digits)."""
    return float(f"{value:.3g}") if isinstance(value, float) else value


def _short(value: object, limit: int = 60) -> str:
    """One line, secrets redacted before the cut (a cut must never keep half a key)."""
    redact = history_redactor()
    text = str(value)
    return one_line(redact(text) if redact else text, limit)


def record_tree(record: RunRecord) -> Tree:
    """The task tree: status, role, executions, timing, tokens and verdicts per node."""
    status = record.status.value
    if record.unverified:
        status += f" (unverified: {', '.join(u.task_id for u in record.unverified)})"
    root = Tree(safe_text(f"{status}: {record.goal}", style="bold"))
    escalations: dict[str, list[str]] = {}
    alternatives: dict[str, str] = {}
    for replan in record.replans:
        if replan.scope is not None and replan.escalated_from is not None:
            escalations.setdefault(replan.scope, []).append(replan.escalated_from)
        if replan.alternative is not None:
            alternatives[replan.task_id] = replan.alternative
    _add_children(root, record.children(), ROOT_ID, escalations, alternatives)
    return root


def _add_children(
    branch: Tree,
    children: dict[str, list[TaskRecord]],
    parent_id: str,
    escalations: dict[str, list[str]],
    alternatives: dict[str, str],
) -> None:
    for task in children.get(parent_id, []):
        label = Text(f"{clean(task.id)} ", style="bold")
        label.append(f"[{task.status.value}]", style=_STYLE.get(task.status, ""))
        label.append(f" {one_line(task.title)}")
        if task.role and task.kind == "leaf":
            label.append(f"  role={one_line(task.role)}", style="dim")
        if task.lead:
            label.append(f"  lead={one_line(task.lead)}", style="dim")
        if task.team:
            label.append(f"  team={one_line(task.team)}", style="cyan")
        if task.executions:
            label.append(f" runs={task.executions}", style="dim")
        if task.started_at and task.finished_at:
            secs = (task.finished_at - task.started_at).total_seconds()
            label.append(f" {secs:.2f}s", style="dim")
        if task.total_usage.total_tokens:
            label.append(f" {task.total_usage.total_tokens} tok", style="dim")
        if task.verdicts:
            label.append(f" verdicts={'/'.join(v.verdict for v in task.verdicts)}", style="dim")
        if task.searches:
            nodes = "/".join(str(len(s.nodes) - 1) for s in task.searches)
            label.append(f" searched={nodes} steps", style="cyan")
        if task.depends_on:
            label.append(f" after {one_line(', '.join(task.depends_on))}", style="dim")
        if task.replaced_by:
            label.append(f" → replaced by {one_line(', '.join(task.replaced_by))}", style="magenta")
            if alternative := alternatives.get(task.id):
                label.append(f" (alternative {one_line(alternative)})", style="magenta")
        if escalated := escalations.get(task.id):
            label.append(f" ⇡ re-planned after {one_line(', '.join(escalated))} failed", "magenta")
        _add_children(branch.add(label), children, task.id, escalations, alternatives)


def selection_line(selection: PlanSelection) -> str:
    """One line on how the run's first plan was drawn and chosen, and what it cost."""
    estimated = "~" if selection.sampling != "parallel" else ""
    cost = (
        f"planning {selection.usage.total_tokens} tokens,"
        f" one plan {estimated}{selection.single_shot_usage.total_tokens}"
    )
    tree = selection.action_tree
    edit = tree.edit if tree is not None else None
    edited = f"; a person edited the alternatives: {edit.describe()}" if edit else ""
    if selection.sampling == "alternatives":
        alternatives = edit.offered if edit else tree.alternatives if tree is not None else 0
        return (
            f"plan written with {alternatives} alternatives to its tasks in one call (up to"
            f" {selection.k} ways a task; {len(selection.rejected)} left out){edited}; {cost}"
        )
    return (
        f"plan {selection.chosen} chosen by {selection.chosen_by} among"
        f" {len(selection.candidates)} distinct of {selection.k} samples"
        f"{' (one call)' if selection.sampling == 'one_call' else ''}"
        f" ({len(selection.rejected)} rejected)"
        f"{'; started with the majority at each branch' if selection.start else ''}"
        f"{edited}; {cost}"
    )


def print_record(console: Console, record: RunRecord) -> None:
    """The tree, the critic's objections, then the answer or why the run failed.

    Secrets are redacted first (unless ``ORCHESTRA_REDACT_HISTORY=0``).
    """
    redact = history_redactor()
    record = redacted(record, redact) if redact else record
    console.print(record_tree(record))
    selection = record.plan_selection
    if selection is not None:
        console.print(Text(selection_line(selection), style="cyan"))
    for notice in record.notices:
        if notice.kind == "plan_edited":  # what a person changed before the run went on
            console.print(safe_text(notice.message, "cyan"))
    for n, verdict in enumerate(record.answer_verdicts, 1):
        if verdict.verdict != "pass":
            console.print(
                safe_text(f"{verdict.source} on the answer ({n}): {verdict.verdict}: ", "yellow")
                + safe_text(verdict.reason)
            )
    for task in record.tasks:
        what = "integration" if task.kind == "inner" else "attempt"
        for n, verdict in enumerate(task.verdicts, 1):
            if verdict.verdict != "pass":
                console.print(
                    safe_text(
                        f"{verdict.source} on {task.id} ({what} {n}): {verdict.verdict}: ",
                        "yellow",
                    )
                    + safe_text(verdict.reason)
                )
    if record.stages:
        console.print(Text(stages_line(record), style="dim"))
    usage = record.usage
    console.print(
        Text(
            f"{usage.model_calls} model calls, {usage.input_tokens} in"
            + (f" ({usage.cached_input_tokens} cached)" if usage.cached_input_tokens else "")
            + f" / {usage.output_tokens} out tokens, ${usage.cost_usd:.4f}",
            style="dim",
        )
    )
    if record.model_calls_per_task:
        calls = record.model_calls_per_task
        shares = ", ".join(f"{a} {n:g}" for a, n in calls.items() if a != "total")
        console.print(Text(f"model calls per task: {calls['total']:g} ({shares})", style="dim"))
    if record.output:
        console.rule("answer")
        console.print(safe_text(record.output))
    for missing in record.missing:
        console.print(safe_text(f"missing: {missing.task_id}: {missing.reason}", style="yellow"))
    if record.reason:
        console.print(safe_text(f"reason: {record.reason}", style="red"))
    print_unverified(console, record)


def print_unverified(console: Console, record: RunRecord) -> None:
    """A warning a user cannot miss: results kept although nothing accepted them."""
    if not record.unverified:
        return
    what = "result" if len(record.unverified) == 1 else "results"
    console.print(
        safe_text(
            f"warning: {len(record.unverified)} {what} of this {record.status.value} run"
            " kept although a check or the critic never accepted them; read before trusting:",
            style="bold yellow",
        )
    )
    for item in record.unverified:
        name = "the answer" if item.task_id == ROOT_ID else item.task_id
        console.print(safe_text(f"  {name}: {item.kind}: {item.reason}", style="yellow"))


def stages_line(record: RunRecord) -> str:
    """The team's own stages and how long each took, e.g. ``planning 1.20s · role design 0.40s``."""
    parts = [
        f"{s.label} {(s.finished_at - s.started_at).total_seconds():.2f}s" for s in record.stages
    ]
    return "stages: " + " · ".join(parts)


NARROW = 100
"""Below this many columns ``runs list`` leaves out the team and the seconds."""


def runs_table(runs: Sequence[RunSummary], width: int = NARROW) -> Table:
    """The runs of ``orchestra runs list``, newest first, for a terminal ``width`` wide.

    From 80 columns up, ids, statuses, times and numbers are not cut; the goal takes
    what is left (below 100 columns the team and the seconds give it room).
    """
    narrow = width < NARROW
    names = ["run", "team", "status", "started", "secs", "tasks", "tokens", "goal"]
    if narrow:
        names = [n for n in names if n not in ("team", "secs")]
    table = Table(box=None, pad_edge=False)
    for name in names:
        table.add_column(
            name,
            no_wrap=name != "goal",
            overflow="ellipsis" if name in ("team", "goal") else "fold",
            max_width=14 if name == "team" else None,
            justify="right" if name in ("secs", "tasks", "tokens") else "left",
        )
    this_year = datetime.now().astimezone().year
    for run in runs:
        started = run.started_at.astimezone()
        cells: dict[str, Text | str] = {
            "run": Text(one_line(run.run_id)[:12]),
            "team": Text(one_line(run.team)),
            "status": Text(run.status, style=_RUN_STYLE.get(run.status, "")),
            "started": started.strftime("%m-%d %H:%M" if started.year == this_year else "%Y-%m-%d"),
            "secs": "" if run.seconds is None else f"{run.seconds:.1f}",
            "tasks": str(run.tasks),
            "tokens": str(run.input_tokens + run.output_tokens),
            "goal": Text(_short(run.goal, 50)),
        }
        table.add_row(*(cells[name] for name in names))
    return table
