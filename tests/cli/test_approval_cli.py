"""Approving, editing and rejecting from the command line, across processes.

Each command line is a process of its own, forked from one that imported the CLI once
(tests/forked_cli.py): what `orchestra ...` in a shell does, without its imports each time.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from orchestra.cli.main import app
from tests.forked_cli import ForkedCli

TEAM = "examples/approval_demo.py:team"


def _outbox() -> list[str]:
    path = Path(os.environ["ORCHESTRA_HOME"]) / "outbox.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_run_pauses_then_approve_with_edits_goes_on_in_other_processes(
    forked_cli: ForkedCli, tmp_path: Path
):
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
    # an edit of the wrong kind is refused, never taken as a plain approval
    wrong_kind = forked_cli.run("approve", TEAM, "cli1", "--args", "{}")
    assert wrong_kind.returncode == 2
    assert "--args is for a waiting tool call; request 'plan' is the plan" in wrong_kind.stderr

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
    wrong_kind = forked_cli.run("approve", TEAM, "cli1", "--drop", "draft")
    assert wrong_kind.returncode == 2 and "--drop: plan options" in wrong_kind.stderr
    assert _outbox() == []  # the email still waits

    unfit = forked_cli.run("approve", TEAM, "cli1", "--args", '{"to": "bob@example.com"}')
    assert unfit.returncode == 2
    assert "invalid arguments for send_email: body: Field required" in unfit.stderr
    editor = tmp_path / "unfit.py"  # edited arguments the tool would refuse
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('{\"to\": 3}')\n")
    in_editor = forked_cli.run(
        "approve", TEAM, "cli1", "--edit", env_extra={"EDITOR": f"{sys.executable} {editor}"}
    )
    assert in_editor.returncode == 2 and "invalid arguments for send_email" in in_editor.stderr
    kept = in_editor.stderr.split("It is kept in ")[1].split(":")[0]
    assert Path(kept).read_text() == '{"to": 3}'
    assert f'approve with --args "$(cat {kept})"' in in_editor.stderr
    assert _outbox() == []  # the email still waits

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


def _at_the_terminal(run_id: str, typed: str) -> Result:
    """``orchestra run ... --interactive`` with ``typed`` as what a person types."""
    return CliRunner().invoke(
        app, ["run", TEAM, "Send it", "--run-id", run_id, "--no-live", "--interactive"], input=typed
    )


def test_interactive_run_asks_at_the_terminal():
    result = _at_the_terminal("cli3", "a\nr\nwrong recipient\n")
    assert result.exit_code == 0, result.output
    assert "plan: [a]pprove, [r]eject or [e]dit?" in result.output
    assert "reason" in result.output
    assert _outbox() == []  # the email was rejected; the run still finished


def test_arguments_the_tool_would_refuse_are_asked_again_at_the_prompt():
    result = _at_the_terminal(
        "cli6", 'a\ne\n{"to": "bob@example.com"}\ne\n{"to": "bob@example.com", "body": "hi"}\n'
    )
    assert result.exit_code == 0, result.output
    assert "not usable: invalid arguments for send_email: body: Field required" in result.output
    assert _outbox() == ["bob@example.com: hi"]


def test_end_of_input_at_the_prompt_leaves_the_run_waiting():
    result = _at_the_terminal("cli5", "")
    assert result.exit_code == 4, result.output  # waiting for approval, not failed
    assert f"orchestra approve {TEAM} cli5" in result.output


def test_approve_edit_opens_the_plan_in_the_editor(forked_cli: ForkedCli, tmp_path: Path):
    assert (
        forked_cli.run(
            "run", TEAM, "Send it", "--run-id", "cli4-a-long-run-id", "--no-live"
        ).returncode
        == 4
    )
    editor = tmp_path / "editor.py"  # what a person does in $EDITOR: drop the check
    editor.write_text(
        "import json, sys\n"
        "path = sys.argv[1]\n"
        "plan = json.load(open(path))\n"
        "plan['tasks'] = [t for t in plan['tasks'] if t['id'] != 'check']\n"
        "for t in plan['tasks']:\n"
        "    t['depends_on'] = [d for d in t.get('depends_on', []) if d != 'check']\n"
        "json.dump(plan, open(path, 'w'))\n"
    )
    quit_editor = {"EDITOR": f"{sys.executable} -c 'pass'"}  # closed without saving
    unsaved = forked_cli.run("approve", TEAM, "cli4-a-long-run-id", "--edit", env_extra=quit_editor)
    assert unsaved.returncode == 2 and "closed without saving" in unsaved.stderr
    both = forked_cli.run("approve", TEAM, "cli4-a-long-run-id", "--edit", "--drop", "check")
    assert both.returncode == 2 and "--edit takes no other edit option" in both.stderr

    short = forked_cli.run("runs", "list").stdout  # a paused run is in the history too
    assert "cli4-a-lon" in short
    edited = forked_cli.run(  # a run named by the start of its id, as `runs list` shows it
        "approve", TEAM, "cli4", "--edit", env_extra={"EDITOR": f"{sys.executable} {editor}"}
    )
    assert edited.returncode == 4, edited.stderr  # on to the email
    shown = json.loads(forked_cli.run("runs", "show", "cli4", "--json").stdout)["record"]
    assert [t["id"] for t in shown["tasks"]] == ["draft", "send"]
    [notice] = [n for n in shown["notices"] if n["kind"] == "plan_edited"]
    assert notice["message"] == "a person edited the plan: dropped ['check'], rewired ['send']"
    as_text = forked_cli.run("runs", "show", "cli4")
    assert "a person edited the plan: dropped ['check'], rewired ['send']" in as_text.stdout


def test_run_ids_are_resolved_safely_and_only_for_their_own_team(
    forked_cli: ForkedCli, tmp_path: Path
):
    odd = "Odd id;$(touch pwned)"
    paused = forked_cli.run("run", TEAM, "Send it", "--run-id", odd, "--no-live")
    assert paused.returncode == 4
    # the printed command is one shell word per argument: pasting it runs nothing else
    assert f"orchestra approve {TEAM} 'Odd id;$(touch pwned)'" in paused.stderr
    for other in ("Odd-2", "odd-3"):
        forked_cli.run("run", TEAM, "Send it", "--run-id", other, "--no-live")

    several = forked_cli.run("approve", TEAM, "Odd")
    assert several.returncode == 2 and "'Odd' matches several runs" in several.stderr
    by_case = forked_cli.run("approve", TEAM, "odd", "--drop", "check")  # only odd-3
    assert by_case.returncode == 4, by_case.stderr
    shown = json.loads(forked_cli.run("runs", "show", "odd-3", "--json").stdout)["record"]
    assert [t["id"] for t in shown["tasks"]] == ["draft", "send"]

    other_team = forked_cli.run("approve", "examples/replan_demo.py:team", "Odd-2")
    assert other_team.returncode == 2
    assert "is a run of team 'approval-demo'" in other_team.stderr
    editor = tmp_path / "bad.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('{not json')\n")
    refused = forked_cli.run(
        "approve", TEAM, "Odd-2", "--edit", env_extra={"EDITOR": f"{sys.executable} {editor}"}
    )
    assert refused.returncode == 2 and "the edit is not usable" in refused.stderr
    kept = refused.stderr.split("It is kept in ")[1].split(":")[0]
    assert Path(kept).read_text() == "{not json"  # the person's work is not lost
