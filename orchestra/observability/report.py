"""One self-contained HTML page per run: tree, timeline, tokens and cost, verdicts.

The page needs no network to open: styles and the timeline (an inline SVG) are in it,
and it loads nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files

from jinja2 import Environment, select_autoescape

from orchestra.core.errors import InputError
from orchestra.core.record import StageRecord, TaskRecord
from orchestra.core.tree import ROOT_ID
from orchestra.observability.history import StoredRun, history_redactor, redacted

__all__ = ["render_report"]

_WIDTH = 760
"""Width of the timeline's plotting area, in SVG units."""
_ROW = 22


@dataclass(frozen=True, slots=True)
class _Bar:
    ident: str
    """The task's id, or ``stage:<name>`` for a stage outside dispatch."""
    label: str
    status: str
    """The task's status (a CSS class), or ``stage``."""
    row: int
    x: float
    width: float
    start_s: float
    end_s: float

    @property
    def is_stage(self) -> bool:
        return self.status == "stage"


@dataclass(frozen=True, slots=True)
class _Timeline:
    bars: list[_Bar]
    span_s: float
    ticks: list[tuple[float, float]]
    """(x, seconds) of each axis tick."""
    peak_parallel: int
    height: int


def _timeline(
    tasks: list[TaskRecord], stages: list[StageRecord], run_start: datetime | None
) -> _Timeline:
    """Bars for every task and the stages outside dispatch (planning, ...), by start."""
    timed: list[tuple[datetime, datetime, str, str, str]] = [
        (t.started_at, t.finished_at, t.id, t.id[:24], t.status.value)
        for t in tasks
        if t.started_at and t.finished_at
    ]
    timed += [(s.started_at, s.finished_at, f"stage:{s.stage}", s.label, "stage") for s in stages]
    if not timed:
        return _Timeline([], 0.0, [], 0, _ROW)
    origin = min([t[0] for t in timed] + ([run_start] if run_start else []))
    end = max(t[1] for t in timed)
    span = max((end - origin).total_seconds(), 1e-3)
    scale = _WIDTH / span
    bars = []
    for row, (started, finished, ident, label, status) in enumerate(
        sorted(timed, key=lambda t: (t[0], t[2]))
    ):
        start_s = (started - origin).total_seconds()
        end_s = (finished - origin).total_seconds()
        width = max((end_s - start_s) * scale, 2.0)
        bars.append(_Bar(ident, label, status, row, start_s * scale, width, start_s, end_s))
    step = _nice_step(span)
    ticks = [(i * step * scale, i * step) for i in range(int(span / step) + 1)]
    tasks_only = [b for b in bars if not b.is_stage]
    return _Timeline(bars, span, ticks, _peak(tasks_only), (len(bars) + 1) * _ROW + 10)


def _nice_step(span: float) -> float:
    """A round tick spacing that gives 4 to 10 ticks."""
    step = 10.0 ** math.floor(math.log10(span))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 10:
            return step * factor
    return step * 10


def _peak(bars: list[_Bar]) -> int:
    """The most tasks running at one moment."""
    edges = sorted([(b.start_s, 1) for b in bars] + [(b.end_s, -1) for b in bars])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


def _environment() -> Environment:
    env = Environment(
        autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True
    )
    env.filters["secs"] = lambda v: "" if v is None else f"{v:.2f} s"
    env.filters["usd"] = lambda v: f"${v:.4f}"
    return env


def render_report(stored: StoredRun) -> str:
    """The HTML page for a stored run, secrets redacted (unless ``ORCHESTRA_REDACT_HISTORY=0``).

    Raises:
        InputError: the run has no run record yet.
    """
    redact = history_redactor()
    if redact is not None:  # the page may be attached to a ticket: no secrets in it
        stored = redacted(stored, redact)
    record = stored.record
    if record is None:
        raise InputError(
            f"run {stored.summary.run_id} has no run record yet (it is running, or it ended"
            " before its first checkpoint)"
        )
    template_text = files("orchestra.observability").joinpath("report.html.j2").read_text()
    template = _environment().from_string(template_text)
    tool_calls: dict[str, int] = {}
    for call in record.tool_calls:
        tool_calls[call.task_id] = tool_calls.get(call.task_id, 0) + 1
    return template.render(
        summary=stored.summary,
        record=record,
        children=record.children(),
        root=ROOT_ID,
        timeline=_timeline(record.tasks, record.stages, stored.summary.started_at),
        width=_WIDTH,
        row=_ROW,
        tool_calls=tool_calls,
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
    )
