"""Untrusted text on the terminal: escape sequences never reach it, markup prints as text."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from orchestra.cli.main import app
from orchestra.cli.render import event_line
from orchestra.core.events import Notice, Replanned, RunStarted, TaskPlanned, ToolCalled
from orchestra.observability.live import LiveView
from orchestra.observability.terminal import clean, one_line, safe_text
from tests.cli.teams import HOSTILE

TEAM = "tests/cli/teams.py:hostile"
GOAL = "Sum it up [/bold] \x1b]0;title\x07\x1b[2J"
_CONTROLS = {chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}


def _assert_inert(text: str) -> None:
    """No control character but newline and tab is in ``text``."""
    found = sorted({hex(ord(c)) for c in text if c in _CONTROLS})
    assert not found, found


def test_clean_removes_sequences_and_shows_other_controls():
    assert clean("a\x1b]0;title\x07b\x1b[2Jc\x1b[31md") == "abcd"
    assert clean("x\x9b2Jy\x9d0;t\x9cz") == "xyz"  # 8-bit CSI and OSC
    assert clean("bell\x07 cr\r bidi\u202e") == "bell\\x07 cr\\x0d bidi\\u202e"
    assert clean("keeps\ttabs\nand lines [/INST]") == "keeps\ttabs\nand lines [/INST]"
    assert clean("unterminated \x1b]0;title") == "unterminated "
    assert one_line("a\nb\t c\x1b[2J", 4) == "a b…"
    text = safe_text("[/bold] literal")
    assert text.plain == "[/bold] literal" and not text.spans


def test_run_prints_hostile_goal_and_model_output_as_inert_text():
    result = CliRunner().invoke(app, ["run", TEAM, GOAL, "--no-live"])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    _assert_inert(result.output)
    assert "answer [/INST] [/bold] [link=x]" in result.output  # the answer, literally
    assert "succeeded: Sum it up [/bold]" in result.output  # the goal in the tree
    assert "title [/INST]" in result.output  # the task title


def test_runs_list_and_show_print_hostile_text_as_inert_text(tmp_path: Path):
    db = tmp_path / "runs.db"
    env = {"ORCHESTRA_HOME": str(tmp_path)}
    runner = CliRunner(env=env)
    ran = runner.invoke(app, ["run", TEAM, GOAL, "--json"])
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run_id"]

    listed = runner.invoke(app, ["runs", "list", "--db", str(db)])
    assert listed.exit_code == 0 and listed.exception is None, listed.output
    _assert_inert(listed.output)
    assert "[/b" in listed.output  # the goal, cut to the width of the table

    shown = runner.invoke(app, ["runs", "show", run_id, "--db", str(db)])
    assert shown.exit_code == 0 and shown.exception is None, shown.output
    _assert_inert(shown.output)
    assert "answer [/INST] [/bold] [link=x]" in shown.output


def test_live_view_renders_hostile_text_inert():
    view = LiveView(clock=lambda: 0.0)
    view.update(RunStarted(run_id="r", goal=GOAL))
    view.update(
        TaskPlanned(run_id="r", task_id="t1", parent_id="root", title=HOSTILE, depends_on=[])
    )
    out = io.StringIO()
    Console(file=out, width=200).print(view)  # not a terminal: rich adds no sequences
    _assert_inert(out.getvalue())
    assert "Sum it up [/bold]" in out.getvalue()
    assert "[/INST] [/bold] [link=x]" in out.getvalue()


def test_an_event_line_leaves_out_fields_that_are_not_set():
    planned = Replanned(run_id="r", task_id="draft", reason="wrong", new_task_ids=["a"])
    grafted = planned.model_copy(update={"alternative": "draft~1"})
    assert "alternative" not in event_line(planned).plain
    assert "alternative=draft~1" in event_line(grafted).plain


def test_an_event_line_reads_as_a_person_reads_it():
    called = ToolCalled(
        run_id="r", task_id="t", tool="search", args={}, ok=True, output="x", duration_s=0.0037776
    )
    assert "duration_s=0.00378 " in event_line(called).plain
    edited = "a person edited the plan: dropped ['check'], added ['archive'], reworded ['draft']"
    notice = Notice(run_id="r", task_id="root", kind="plan_edited", message=edited)
    assert edited in event_line(notice).plain  # a notice's message is not cut at 60
