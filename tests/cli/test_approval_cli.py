"""Approving, editing and rejecting from the command line, across processes.

Each command line is a process of its own, forked from one that imported the CLI once
(tests/forked_cli.py): what `orchestra ...` in a shell does, without its imports each time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from orchestra.cli.main import app
from tests.forked_cli import ForkedCli

TEAM = "examples/approval_demo.py:team"


def _outbox() -> list[str]:
    path = Path(os.environ["ORCHESTRA_HOME"]) / "outbox.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_run_pauses_then_approve_with_edits_goes_on_in_other_processes(forked_cli: ForkedCli):
    paused = forked_cli.run(
        "run", TEAM, "Send the quarterly report", "--run-id", "cli1", "--no-live"
    )
    assert paused.returncode == 4, paused.stderr
    assert "waiting for approval: plan" in paused.stderr
    assert f"orchestra approve {TEAM} cli1" in paused.stderr

    shown = forked_cli.run("runs", "show", "cli1", "--json")
    record = json.loads(shown.stdout)["record"]
    assert record["status"] == "awaiting_approval"
    assert [t["id"] for t in record["pending"][0]["plan"]["tasks"]] == ["draft", "check", "send"]

    bad = forked_cli.run("approve", TEAM, "cli1", "--drop", "nope")
    assert bad.returncode == 2 and "no task 'nope' in the plan" in bad.stderr

    bad_add = forked_cli.run("approve", TEAM, "cli1", "--add", "no spaces allowed=Title")
    assert bad_add.returncode == 2 and "cannot add that task" in bad_add.stderr

    edited = forked_cli.run(
        "approve",
        TEAM,
        "cli1",
        "--drop",
        "check",
        "--reword",
        "draft=Write the report",
        "--add",
        "archive=Archive the report",
    )
    assert edited.returncode == 4, edited.stderr  # now the email waits
    assert "mailer wants to call send_email" in edited.stderr
    assert _outbox() == []

    args = json.dumps({"to": "bob@example.com", "body": "the report"})
    done = forked_cli.run("approve", TEAM, "cli1", "--args", args, "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "succeeded" and record["pending"] == []
    assert [(t["id"], t["title"]) for t in record["tasks"]] == [
        ("draft", "Write the report"),
        ("send", "Send the report"),
        ("archive", "Archive the report"),
    ]
    assert _outbox() == ["bob@example.com: the report"]


def test_reject_a_plan_exits_5(forked_cli: ForkedCli):
    assert forked_cli.run("run", TEAM, "Send it", "--run-id", "cli2", "--no-live").returncode == 4
    rejected = forked_cli.run("reject", TEAM, "cli2", "--reason", "not this quarter")
    assert rejected.returncode == 5, rejected.stderr
    assert "a person rejected the plan: not this quarter" in rejected.stdout
    again = forked_cli.run("reject", TEAM, "cli2", "--reason", "twice")
    assert again.returncode == 2 and "not waiting for any approval" in again.stderr


def test_interactive_run_asks_at_the_terminal():
    result = CliRunner().invoke(
        app,
        ["run", TEAM, "Send it", "--run-id", "cli3", "--no-live", "--interactive"],
        input="a\nr\nwrong recipient\n",
    )
    assert result.exit_code == 0, result.output
    assert "plan: [a]pprove, [r]eject or [e]dit?" in result.output
    assert "reason" in result.output
    assert _outbox() == []  # the email was rejected; the run still finished
