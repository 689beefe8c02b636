"""A live terminal view of a run, built from its events alone.

``orchestra run`` shows it on a terminal; any program can feed it events::

    view = LiveView()
    with rich.live.Live(view, console=console):
        await team.arun(goal, on_event=view.update)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.text import Text
from rich.tree import Tree

from orchestra.core.events import (
    ApprovalRequested,
    Event,
    GoalRefined,
    LeadAssigned,
    Replanned,
    RoleAssigned,
    RunFinished,
    RunStarted,
    SearchStepped,
    TaskEscalated,
    TaskFailed,
    TaskFinished,
    TaskIntegrating,
    TaskPlanned,
    TaskStarted,
    TokenStreamed,
    ToolCalled,
    ToolProgress,
    ToolStarted,
    UsageRecorded,
    VerdictGiven,
)
from orchestra.core.statement import TaskStatement
from orchestra.core.surgery import sinks
from orchestra.core.tree import ROOT_ID
from orchestra.core.usage import Usage
from orchestra.observability.history import history_redactor
from orchestra.observability.terminal import clean, one_line, safe_text

__all__ = ["LiveView"]

_ICON = {
    "pending": ("○", "dim"),
    "running": ("◐", "cyan"),
    "done": ("●", "green"),
    "failed": ("✗", "red"),
    "replaced": ("↻", "magenta"),
    "waiting": ("⏸", "yellow"),
    "skipped": ("–", "yellow"),
    "integrating": ("◑", "cyan"),
}


def _shown(text: str) -> str:
    """``text`` with secrets redacted, as the run history shows it."""
    redact = history_redactor()
    return redact(text) if redact else text


@dataclass(slots=True)
class _Task:
    id: str
    parent_id: str | None
    title: str
    depends_on: list[str]
    status: str = "pending"
    role: str | None = None
    lead: str | None = None
    escalated_from: str | None = None
    attempt: int = 0
    started: float | None = None
    ended: float | None = None
    usage: Usage = field(default_factory=Usage)
    tools: dict[str, str] = field(default_factory=dict)
    """Running tool calls: key → tool name."""
    progress: dict[str, str] = field(default_factory=dict)
    """The latest progress of running tool calls: key → ``2/3 step 2``."""
    tool_calls: int = 0
    verdict: str | None = None
    verdict_source: str = "critic"
    """Who gave ``verdict``: ``critic`` or ``check:<name>``."""
    search: SearchStepped | None = None
    """The latest step of the current attempt's workflow search."""
    alternative: str | None = None
    """The sampled alternative that replaced the task (plan sampling's action tree)."""
    writing: str = ""
    """The end of the reply being streamed for the task (``tokens=True``), one line."""
    stream: str | None = None


class LiveView:
    """The task tree with per-node status, running tools and searches, tokens and time.

    Feed it every event of a run with :meth:`update`; rich renders it (it is a rich
    renderable), so ``rich.live.Live(view)`` redraws it as the run goes.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._now = clock
        self.goal = ""
        self.statement: TaskStatement | None = None
        self.status = "starting"
        self.started = self._now()
        self.ended: float | None = None
        self.tasks: dict[str, _Task] = {}
        self.replaced_by: dict[str, list[str]] = {}
        self.usage = Usage()
        self.answer_verdicts: list[str] = []
        """The verdicts on the final answer (the goal's own), in order, with their source
        when not a pass."""
        self.writing: tuple[str, str] | None = None
        """(agent, the end of its reply) streamed for the goal: planning, synthesis."""
        self._goal_stream: str | None = None
        self.unverified: list[str] = []
        """Tasks whose kept results nothing accepted (from ``run_finished``)."""

    def update(self, event: Event) -> None:
        """Take one event of the run into the view."""
        now = self._now()
        if isinstance(event, _AFTER_GOAL_WRITING):
            self.writing = None  # the goal's agent has answered: its line goes
        match event:
            case RunStarted():
                self.goal, self.status, self.started = _shown(event.goal), "running", now
            case GoalRefined():
                self.statement = event.statement
            case UsageRecorded():
                self.usage = self.usage + event.usage
                if event.task_id != ROOT_ID:
                    self._task(event.task_id).usage += event.usage
            case ApprovalRequested():
                self._waiting(event)
            case RunFinished():
                self.status, self.ended = event.status, now
                self.unverified = list(event.unverified)
            case TokenStreamed():
                self._written(event)
            case VerdictGiven() if event.task_id == ROOT_ID:
                shown = (
                    event.verdict
                    if event.verdict == "pass"
                    else f"{event.verdict} ({event.source})"
                )
                self.answer_verdicts.append(shown)
            case _:
                self._task_event(event, now)

    def _task_event(self, event: Event, now: float) -> None:
        match event:
            case TaskPlanned():
                self.tasks[event.task_id] = _Task(
                    event.task_id, event.parent_id, _shown(event.title), event.depends_on
                )
            case RoleAssigned():
                self._task(event.task_id).role = event.role
            case TaskStarted():
                task = self._task(event.task_id)
                task.status, task.attempt, task.role = "running", event.attempt, event.role
                task.started = task.started or now
                task.search = None
            case ToolStarted():
                self._task(event.task_id).tools[event.key or event.tool] = event.tool
            case ToolProgress():
                task = self._task(event.task_id)
                if (event.key or event.tool) in task.tools:
                    task.progress[event.key or event.tool] = _progress_text(event)
            case ToolCalled():
                task = self._task(event.task_id)
                task.tools.pop(event.key or event.tool, None)
                task.progress.pop(event.key or event.tool, None)
                task.tool_calls += 1
            case SearchStepped():
                self._task(event.task_id).search = event
            case VerdictGiven():
                task = self._task(event.task_id)
                task.verdict, task.verdict_source = event.verdict, event.source
            case TaskFinished():
                self._end(event.task_id, "done", now)
            case TaskFailed():
                skipped = event.reason.startswith(("not run", "cancelled", "depends on"))
                self._end(event.task_id, "skipped" if skipped else "failed", now)
            case Replanned():
                self._end(event.task_id, "replaced", now)
                self.replaced_by[event.task_id] = list(event.new_task_ids)
                self._task(event.task_id).alternative = event.alternative
                self._rewire(event.task_id, event.new_task_ids)
            case _:
                self._hierarchy_event(event)

    def _rewire(self, replaced: str, new_ids: list[str]) -> None:
        """Tasks that waited for ``replaced`` now wait for its replacements' last tasks.

        As the engine rewires them (the replacements nothing else among them needs).
        """
        last = sinks(self.tasks[i] for i in new_ids if i in self.tasks)
        for task in self.tasks.values():
            if replaced in task.depends_on and task.id not in new_ids:
                kept = [d for d in task.depends_on if d != replaced]
                task.depends_on = list(dict.fromkeys([*kept, *last]))

    def _hierarchy_event(self, event: Event) -> None:
        """Leads, their integrations and failures climbing the tree."""
        match event:
            case LeadAssigned():
                self._task(event.task_id).lead = event.role
            case TaskIntegrating():
                task = self._task(event.task_id)
                task.status, task.attempt = "integrating", event.integration
            case TaskEscalated():
                self._task(event.task_id).escalated_from = event.from_task_id
            case _:
                pass

    def _written(self, event: TokenStreamed) -> None:
        """Keep the end of the reply being written, one line per task (bounded)."""
        if event.task_id == ROOT_ID:
            if self._goal_stream != event.stream or self.writing is None:
                self._goal_stream, self.writing = event.stream, (event.agent, "")
            agent, text = self.writing
            self.writing = (agent, _tail(text + event.text))
            return
        task = self._task(event.task_id)
        if task.stream != event.stream:
            task.stream, task.writing = event.stream, ""
        task.writing = _tail(task.writing + event.text)

    def _waiting(self, event: ApprovalRequested) -> None:
        if event.request.kind == "tool_call":
            self._task(event.request.task_id).status = "waiting"
        self.status = "awaiting_approval"

    def _task(self, task_id: str) -> _Task:
        if task_id not in self.tasks:  # an event about a task planned before we listened
            self.tasks[task_id] = _Task(task_id, ROOT_ID, task_id, [])
        return self.tasks[task_id]

    def _end(self, task_id: str, status: str, now: float) -> None:
        task = self._task(task_id)
        task.status, task.ended = status, now
        task.writing = ""
        task.tools.clear()
        task.progress.clear()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        now = self.ended if self.ended is not None else self._now()
        counts = {s: sum(t.status == s for t in self.tasks.values()) for s in _ICON}
        tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n and s != "pending")
        header = Text.assemble(
            (f"{self.status} ", "bold"),
            (f"{now - self.started:6.1f}s  ", "dim"),
            f"{len(self.tasks)} tasks: {tally or 'none started'}  ",
            (f"{self.usage.total_tokens} tokens", "dim"),
            (f"  ${self.usage.cost_usd:.4f}" if self.usage.cost_usd else "", "dim"),
        )
        if self.answer_verdicts:
            header.append(f"  answer {one_line('/'.join(self.answer_verdicts))}", style="dim")
        if self.unverified:
            header.append(
                f"  unverified: {one_line(', '.join(self.unverified))}", style="bold yellow"
            )
        root = Tree(safe_text(self.goal or "(goal)", style="bold"))
        if self.statement is not None:
            root.add(safe_text(_shown(self.statement.render()), style="italic dim"))
        if self.writing is not None and self.ended is None:
            agent, text = self.writing
            root.add(safe_text(f"✎ {agent}: {_writing(text)}", style="dim"))
        self._add(root, ROOT_ID, now)
        yield Group(header, root)

    def _children(self, parent_id: str) -> list[_Task]:
        """Planned order, except that replacements follow the task they replaced."""
        siblings = [t for t in self.tasks.values() if t.parent_id == parent_id]
        ids = {t.id for t in siblings}
        replacing = {new for old in ids for new in self.replaced_by.get(old, []) if new in ids}
        out: list[_Task] = []

        def place(task: _Task) -> None:
            out.append(task)
            for new in self.replaced_by.get(task.id, []):
                if new in ids:
                    place(self.tasks[new])

        for task in siblings:
            if task.id not in replacing:
                place(task)
        return out

    def _add(self, branch: Tree, parent_id: str, now: float) -> None:
        for task in self._children(parent_id):
            icon, style = _ICON.get(task.status, ("?", ""))
            label = Text.assemble(
                (f"{icon} ", style), (clean(task.id), "bold"), f" {one_line(task.title)}"
            )
            if task.lead:
                label.append(f"  lead {one_line(task.lead)}", style="dim")
            elif task.role:
                label.append(f"  {one_line(task.role)}", style="dim")
            if task.escalated_from:
                label.append(f"  ⇡ from {one_line(task.escalated_from)}", style="magenta")
            if task.alternative:
                label.append(f"  ↻ alternative {one_line(task.alternative)}", style="magenta")
            if task.attempt > 1:
                label.append(f" attempt {task.attempt}", style="yellow")
            if task.started is not None:
                label.append(f"  {(task.ended or now) - task.started:.1f}s", style="dim")
            if task.usage.total_tokens:
                label.append(f"  {task.usage.total_tokens} tok", style="dim")
            if task.verdict is not None and task.verdict != "pass":
                label.append(f"  {task.verdict} by {one_line(task.verdict_source)}", style="yellow")
            if task.search is not None:
                found = task.search
                label.append(
                    f"  search {found.evaluations}/{found.max_evaluations} best {found.best:.2f}",
                    style="cyan",
                )
            if task.tools:
                running = sorted(
                    {
                        f"{name} {task.progress[key]}" if key in task.progress else name
                        for key, name in task.tools.items()
                    }
                )
                label.append(f"  ⚙ {one_line(', '.join(running))}", style="cyan")
            elif task.writing and task.status in ("running", "integrating"):
                label.append(f"  ✎ {_writing(task.writing)}", style="dim")
            elif task.status == "pending" and task.depends_on:
                label.append(f"  waits for {one_line(', '.join(task.depends_on))}", style="dim")
            self._add(branch.add(label), task.id, now)


_KEPT_CHARS = 400
"""How much of a reply being written is kept: enough that a secret in the shown end is
redacted whole (redaction runs on what is kept, the cut to one line after)."""
_SHOWN_CHARS = 60


def _tail(text: str) -> str:
    """The end of a reply being written (made one line when shown)."""
    return text[-_KEPT_CHARS:]


_AFTER_GOAL_WRITING = (GoalRefined, TaskPlanned, RoleAssigned, TaskStarted)
"""Events that follow what an agent working for the goal streamed (the refiner's
statement, the planner's tasks, the role designer's roles): its reply is complete, so
the goal's ✎ line is cleared (a stream that goes on starts it again)."""


def _writing(text: str) -> str:
    """What the live view shows of a reply being written: its end, secrets redacted."""
    return one_line(_shown(text))[-_SHOWN_CHARS:]


def _progress_text(event: ToolProgress) -> str:
    """A call's progress as ``2/3 step 2`` (or ``7``).

    The message comes from a tool or a server: untrusted, so printable characters only.
    """
    if event.total:
        done = f"{event.progress:g}/{event.total:g}"
    else:
        done = f"{event.progress:g}"
    message = "".join(c for c in (event.message or "") if c.isprintable())[:40]
    return f"{done} {message}".strip()
