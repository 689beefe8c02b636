"""``orchestra runs`` and ``orchestra report``, and the report in a real headless browser."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.main import app
from orchestra.observability.history import RunHistory
from tests.forked_cli import ForkedCli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # the page must need nothing from outside: any lookup of a host fails
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, forked_cli: ForkedCli) -> tuple[Path, str]:
    """One real run of the re-plan demo through the CLI, kept in a history of its own."""
    home = tmp_path_factory.mktemp("home")
    proc = forked_cli.run(
        "run",
        "examples/replan_demo.py:team",
        "Plan a team offsite",
        "--json",
        env_extra={"ORCHESTRA_HOME": str(home)},
    )
    assert proc.returncode == 0, proc.stderr
    return home / "runs.db", json.loads(proc.stdout)["run_id"]


def test_runs_list_and_show(demo_run: tuple[Path, str]):
    db, run_id = demo_run
    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "list", "--json", "--db", str(db)])
    assert listed.exit_code == 0, listed.output
    [line] = listed.output.splitlines()
    summary = json.loads(line)
    assert summary["run_id"] == run_id and summary["status"] == "succeeded"
    assert summary["team"] == "replan-demo" and summary["tasks"] == 5

    table = runner.invoke(app, ["runs", "list", "--db", str(db)])
    assert run_id[:12] in table.output and "succeeded" in table.output

    shown = runner.invoke(app, ["runs", "show", run_id[:6], "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert "draft [failed]" in text and "replaced by outline, write" in text
    assert "critic on draft (attempt 1): replan" in text
    assert "verdicts=pass" in text and " tok" in text and "model calls" in text
    # the team's own stages, before and after the tasks, with their times
    assert "stages: planning " in text and "role design " in text and "synthesis " in text
    # what a task cost, by agent
    assert "model calls per task: " in text and "executor " in text and "critic " in text

    missing = runner.invoke(app, ["runs", "show", "nope", "--db", str(db)])
    assert missing.exit_code == 2 and "no run" in missing.output


def test_runs_prune(tmp_path: Path):
    from datetime import UTC, datetime, timedelta

    db = tmp_path / "h.db"
    RunHistory(db).started("old", team="t", goal="g", at=datetime.now(UTC) - timedelta(days=9))
    RunHistory(db).started("new", team="t", goal="g")
    pruned = CliRunner().invoke(app, ["runs", "prune", "--older-than", "7d", "--db", str(db)])
    assert pruned.exit_code == 0 and "pruned 1 run" in pruned.output
    assert [r.run_id for r in RunHistory(db).list()] == ["new"]
    bad = CliRunner().invoke(app, ["runs", "prune", "--older-than", "soon", "--db", str(db)])
    assert bad.exit_code == 2


def test_report_is_one_self_contained_page(demo_run: tuple[Path, str], tmp_path: Path):
    db, run_id = demo_run
    out = tmp_path / "run.html"
    made = CliRunner().invoke(app, ["report", run_id, "-o", str(out), "--db", str(db)])
    assert made.exit_code == 0, made.output
    page = out.read_text()
    # nothing to fetch: no scripts, stylesheets, images or fonts from anywhere
    for needle in ("<script", "<link", "<img", "@import", "url(", "http://", "https://"):
        assert needle not in page, needle
    assert page.count('class="task"') == 5
    # a bar per task, and per stage of the team's own: planning, role design, synthesis
    assert page.count('<rect class="bar') == 8
    assert page.count('<rect class="bar stage"') == 3
    assert ">planning</text>" in page and ">role design</text>" in page


def test_the_report_in_a_headless_browser(demo_run: tuple[Path, str], tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium is not installed at {CHROMIUM} (make test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    db, run_id = demo_run
    out = tmp_path / "run.html"
    assert (
        CliRunner().invoke(app, ["report", run_id, "-o", str(out), "--db", str(db)]).exit_code == 0
    )

    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(out.as_uri())
        # the tree: every task, the replaced one marked and linked to its replacements
        tasks = page.locator("#tree li.task")
        assert tasks.count() == 5
        ids = [tasks.nth(i).get_attribute("data-task-id") for i in range(tasks.count())]
        assert ids == ["collect", "draft", "outline", "write", "publish"]
        draft = page.locator('#tree li.task[data-task-id="draft"]')
        assert draft.get_attribute("data-status") == "failed"
        assert "replaced by outline, write" in draft.inner_text()
        # the timeline: one visible bar per task, collect overlapping the replacement branch
        bars = page.locator("#timeline rect.bar[data-task-id]")
        assert bars.count() == 5
        # the first seconds are labelled: planning comes first, synthesis last
        stages = page.locator("#timeline rect.bar.stage")
        assert [stages.nth(i).get_attribute("data-stage") for i in range(3)] == [
            "plan",
            "design_roles",
            "synthesize",
        ]
        plan_box = stages.nth(0).bounding_box()
        assert plan_box and plan_box["width"] > 0
        box = {
            i: page.locator(f'#timeline rect.bar[data-task-id="{i}"]').bounding_box()
            for i in ("collect", "outline")
        }
        assert all(b and b["width"] > 0 for b in box.values())
        assert box["outline"]["x"] < box["collect"]["x"] + box["collect"]["width"]
        assert int(page.locator("#peak-parallel").inner_text()) >= 2
        assert "replan" in page.locator("#verdicts").inner_text()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert requests == [out.as_uri()]


def test_run_shows_the_live_view_when_asked_and_stays_quiet_with_json():
    runner = CliRunner()
    goal = "Write a launch note"
    live = runner.invoke(app, ["run", "examples/replan_demo.py:team", goal, "--live"])
    assert live.exit_code == 0, live.output
    assert "5 tasks: 4 done, 1 replaced" in live.output
    assert "task_started" not in live.output  # the view, not event lines
    assert "orchestra report" in live.output

    plain = runner.invoke(app, ["run", "examples/replan_demo.py:team", goal, "--no-live"])
    assert "task_started" in plain.output and "5 tasks:" not in plain.output
    assert "tool_started" not in plain.output and " usage " not in plain.output

    quiet = runner.invoke(app, ["run", "examples/replan_demo.py:team", goal, "--json"])
    assert json.loads(quiet.stdout)["status"] == "succeeded"


def test_run_and_resume_take_a_budget_from_the_command_line(tmp_path: Path, forked_cli: ForkedCli):
    env = {"ORCHESTRA_HOME": str(tmp_path / "home")}
    # the re-plan demo: planner 1 + role designs 3 + ...; 5 model calls cannot finish it
    stopped = forked_cli.run(
        "run",
        "examples/replan_demo.py:team",
        "Plan it",
        "--run-id",
        "tight",
        "--max-model-calls",
        "5",
        "--json",
        env_extra=env,
    )
    assert stopped.returncode == 3, stopped.stderr
    record = json.loads(stopped.stdout)
    assert record["status"] == "budget_exceeded" and record["usage"]["model_calls"] == 5
    assert "5 model calls spent of 5" in record["reason"]

    resumed = forked_cli.run(
        "resume",
        "examples/replan_demo.py:team",
        "tight",
        "--max-model-calls",
        "100",
        "--json",
        env_extra=env,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    again = forked_cli.run(
        "resume", "examples/replan_demo.py:team", "tight", "--json", env_extra=env
    )  # nothing left to do: said, and the record and exit code stay the run's
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "succeeded"
    assert "run tight already ended succeeded: nothing to resume" in again.stderr

    bad = forked_cli.run(
        "run", "examples/replan_demo.py:team", "x", "--max-tokens", "-3", env_extra=env
    )
    assert bad.returncode == 2


def test_secrets_are_redacted_in_show_json_and_the_report(tmp_path: Path):
    from tests.cli.teams import SECRET

    runner = CliRunner(env={"ORCHESTRA_HOME": str(tmp_path)})
    ran = runner.invoke(app, ["run", "tests/cli/teams.py:secretive", f"use {SECRET}", "--json"])
    assert ran.exit_code == 0, ran.output
    assert SECRET not in ran.output and "[REDACTED]" in json.loads(ran.stdout)["output"]
    run_id = json.loads(ran.stdout)["run_id"]
    for args in (
        ["runs", "show", run_id],
        ["runs", "show", run_id, "--json"],
        ["runs", "list", "--json"],
    ):
        shown = runner.invoke(app, args)
        assert shown.exit_code == 0 and SECRET not in shown.output, args
        assert "[REDACTED]" in shown.output, args
    page = tmp_path / "run.html"
    assert runner.invoke(app, ["report", run_id, "-o", str(page)]).exit_code == 0
    assert SECRET not in page.read_text() and "[REDACTED]" in page.read_text()
    with sqlite3.connect(tmp_path / "runs.db") as db:  # the history's table; checkpoints
        stored = db.execute("SELECT goal, record FROM runs").fetchall()  # keep raw state
    assert SECRET not in str(stored) and "[REDACTED]" in str(stored)
    # a secret straddling the cut of an event line is hidden whole, not cut first
    lines = runner.invoke(app, ["run", "tests/cli/teams.py:secretive", "g", "--no-live"])
    assert lines.exit_code == 0 and "key [REDACTED]" in lines.output, lines.output
    assert "sk-ant-" not in lines.output


def test_a_killed_cli_run_is_listed_interrupted(tmp_path: Path):
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT, wait_for_line

    env = os.environ | {"ORCHESTRA_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "orchestra.cli", "run", "tests/cli/teams.py:blocking"]
    proc = subprocess.Popen(
        [*command, "g", "--no-live", "--run-id", "doomed"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert wait_for_line(proc.stdout, "TOOL STARTED")
        history = RunHistory(tmp_path / "runs.db")
        assert history.get("doomed").summary.status == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    runner = CliRunner(env={"ORCHESTRA_HOME": str(tmp_path)})
    listed = runner.invoke(app, ["runs", "list", "--json"])
    assert json.loads(listed.output)["status"] == "interrupted"
    shown = runner.invoke(app, ["runs", "show", "doomed"])
    assert "status=interrupted" in shown.output


def test_show_says_when_a_run_stopped_before_it_ended(tmp_path: Path):
    import asyncio

    from orchestra.testing import plan, role_spec, subtask
    from tests.conftest import make_team

    db = tmp_path / "h.db"
    script = {  # no executor replies: the scripted model raises mid-run
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do it."),
    }
    team, _ = make_team(script, history=RunHistory(db))
    with pytest.raises(Exception, match="no reply"):
        asyncio.run(team.arun("doomed", run_id="stopped"))
    shown = CliRunner().invoke(app, ["runs", "show", "stopped", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    assert "the run stopped before it ended (error: ScriptError" in shown.output
    listed = CliRunner().invoke(app, ["runs", "list", "--db", str(db)])
    assert "error" in listed.output
    [summary] = RunHistory(db).list()
    assert summary.tasks == 2  # runs list counts what runs show shows


def test_runs_list_cuts_no_number_on_a_narrow_terminal():
    from datetime import UTC, datetime

    from rich.console import Console

    from orchestra.cli.render import runs_table
    from orchestra.observability.history import RunSummary

    run = RunSummary(
        run_id="c69f70b7c63e1234",
        team="approval-demo-team",
        goal="Send the quarterly report to the board with the figures checked",
        status="awaiting_approval",
        started_at=datetime.now(UTC),
        finished_at=None,
        input_tokens=12800,
        output_tokens=3400,
        cost_usd=0.0,
        tasks=12,
        error=None,
    )
    for width in (80, 120):
        console = Console(width=width, record=True)
        console.print(runs_table([run], width=width))
        shown = console.export_text()
        assert "c69f70b7c63e" in shown and "awaiting_approval" in shown
        assert " 12 " in shown and "16200" in shown and "Send the quarterly" in shown
        assert ("approval-demo" in shown) is (width >= 100)  # the team gives way first
