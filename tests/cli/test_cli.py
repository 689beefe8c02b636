"""The command line, run as a user would (a real subprocess for the contract test)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from orchestra.cli.main import app
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_replan_demo_json_record_tells_the_whole_story():
    proc = run_cli("run", "examples/replan_demo.py:team", "Plan a team offsite", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded" and record["output"]
    tasks = {t["id"]: t for t in record["tasks"]}

    # a re-planned branch, with every task ever created still listed
    [replan] = record["replans"]
    assert replan["task_id"] == "draft" and replan["reason"]
    assert replan["new_task_ids"] == ["outline", "write"]
    assert tasks["draft"]["status"] == "failed"
    assert all(tasks[i]["status"] == "done" for i in replan["new_task_ids"])

    # finished tasks executed exactly once
    for task in record["tasks"]:
        if task["status"] == "done":
            assert task["executions"] == 1, task["id"]

    # dependencies respected
    def t(value: str) -> datetime:
        return datetime.fromisoformat(value)

    for task in record["tasks"]:
        for dep in task["depends_on"]:
            assert t(task["started_at"]) >= t(tasks[dep]["finished_at"]), (task["id"], dep)

    # at least two tasks overlapped in time
    done = [x for x in record["tasks"] if x["started_at"] and x["finished_at"]]
    assert any(
        t(a["started_at"]) < t(b["finished_at"]) and t(b["started_at"]) < t(a["finished_at"])
        for i, a in enumerate(done)
        for b in done[i + 1 :]
    )
    for key in ("run_id", "goal", "tasks", "replans"):
        assert key in record
    for key in (
        "id",
        "parent_id",
        "depends_on",
        "status",
        "role",
        "attempts",
        "executions",
        "started_at",
        "finished_at",
    ):
        assert key in record["tasks"][0]


def test_human_output_shows_the_tree_and_the_answer():
    result = CliRunner().invoke(
        app, ["run", "examples/replan_demo.py:team", "Brief me on solar roofs"]
    )
    assert result.exit_code == 0, result.output
    assert "succeeded: Brief me on solar roofs" in result.output
    assert "collect [done] Collect facts" in result.output
    assert "draft [failed] Draft the text" in result.output and "replaced by" in result.output
    assert "answer" in result.output


def test_a_partial_run_exits_6_and_says_what_is_missing():
    result = CliRunner().invoke(app, ["run", "tests/cli/teams.py:partial", "do both"])
    assert result.exit_code == 6, result.output
    assert "partial: do both" in result.output
    assert "good [done] Good branch" in result.output
    assert "bad [failed] Bad branch" in result.output
    assert "missing: bad: no accepted result after 1 attempt(s): not good enough" in result.output
    assert "Not done (this answer is partial)" in result.output
    record = json.loads(
        CliRunner().invoke(app, ["run", "tests/cli/teams.py:partial", "do both", "--json"]).output
    )
    assert record["status"] == "partial"
    assert [m["task_id"] for m in record["missing"]] == ["bad"]


def test_bad_targets_exit_2_with_a_message():
    runner = CliRunner()
    for target, message in [
        ("examples/nope.py:team", "no such file"),
        ("examples/replan_demo.py:nope", "has no attribute 'nope'"),
        ("examples/replan_demo.py:lookup_facts", "not an orchestra Team"),
        ("no-colon", "must look like"),
    ]:
        result = runner.invoke(app, ["run", target, "goal"])
        assert result.exit_code == 2 and message in result.output, (target, result.output)


def test_graph_command_prints_mermaid():
    result = CliRunner().invoke(app, ["graph", "examples/replan_demo.py:team"])
    assert result.exit_code == 0
    assert "dispatch(dispatch)" in result.output and "plan -.-> review_plan" in result.output
    assert (
        "await_approval -.-> dispatch" in result.output
        or "await_approval --> dispatch" in result.output
    )


def test_memory_search_and_forget(tmp_path):
    from orchestra.memory import Memory

    store = Memory.local(tmp_path / "mem")
    kept = store.add("The office cat is called Pixel.", team="acme", source="document")
    store.add("Run notes about invoices.", team="acme", scope="run", run_id="r9")
    runner = CliRunner()
    found = runner.invoke(
        app,
        [
            "memory",
            "search",
            "name of the feline",
            "--team",
            "acme",
            "--path",
            str(tmp_path / "mem"),
            "--json",
        ],
    )
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output)
    assert hits[0]["record"]["id"] == kept.id and hits[0]["record"]["source"] == "document"
    gone = runner.invoke(app, ["memory", "forget", "--run", "r9", "--path", str(tmp_path / "mem")])
    assert gone.exit_code == 0 and "forgot 1 memory" in gone.output
    assert Memory.local(tmp_path / "mem").count() == 1


def test_a_typed_answer_is_json_in_the_record_and_the_terminal():
    done = CliRunner().invoke(app, ["run", "tests/cli/teams.py:typed", "pick", "--json"])
    assert done.exit_code == 0, done.output
    record = json.loads(done.output)
    assert record["typed_output"] == {
        "best": "heat pump",
        "scores": {"heat pump": 0.9, "boiler": 0.4},
    }
    assert json.loads(record["output"]) == record["typed_output"]
    shown = CliRunner().invoke(app, ["run", "tests/cli/teams.py:typed", "pick"])
    assert shown.exit_code == 0, shown.output
    assert '"best": "heat pump"' in shown.output


def test_unverified_results_are_a_warning_and_exit_7_with_strict():
    shown = CliRunner().invoke(app, ["run", "tests/cli/teams.py:unverified", "go"])
    assert shown.exit_code == 0, shown.output
    assert "succeeded (unverified: collect): go" in shown.output
    assert "warning: 1 result of this succeeded run kept although" in shown.output
    assert "check:cites" in shown.output
    strict = CliRunner().invoke(app, ["run", "tests/cli/teams.py:unverified", "go", "--strict"])
    assert strict.exit_code == 7, strict.output
    clean = CliRunner().invoke(app, ["run", "tests/cli/teams.py:typed", "go", "--strict"])
    assert clean.exit_code == 0, clean.output
