"""The run history: what ``orchestra runs`` and reports read."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestra import ConfigError, InputError, ScriptError
from orchestra.observability.history import RunHistory
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect

SCRIPT = {
    "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
    "role_designer": role_spec("worker", "Do it.", []),
    "executor": "result",
    "critic": verdict("pass"),
    "synthesizer": "answer",
}


async def test_a_finished_run_is_in_the_default_history_with_its_record(_orchestra_home: Path):
    team, _ = make_team(dict(SCRIPT), name="alpha")
    result, _ = await run_collect(team, "first goal")
    assert team.history is not None and team.history.path == _orchestra_home / "runs.db"

    [summary] = team.history.list()
    assert (summary.run_id, summary.team, summary.goal) == (result.run_id, "alpha", "first goal")
    assert summary.status == "succeeded" and summary.tasks == 2
    assert summary.input_tokens == result.usage.input_tokens > 0
    assert summary.finished_at is not None and summary.seconds >= 0
    stored = team.history.get(result.run_id[:8])
    assert stored.record == result.to_record()
    assert [v.verdict for v in stored.record.tasks[0].verdicts] == ["pass"]


async def test_a_run_that_raises_is_kept_as_error_with_what_was_done(tmp_path: Path):
    history = RunHistory(tmp_path / "h.db")
    # without executor replies the scripted model raises mid-dispatch
    script = {k: v for k, v in SCRIPT.items() if k != "executor"}
    team, _ = make_team(script, history=history)
    with pytest.raises(ScriptError):
        await run_collect(team, "doomed goal")
    [summary] = history.list()
    assert summary.status == "error" and summary.error.startswith("ScriptError")
    stored = history.get(summary.run_id)
    assert stored.record is not None  # planning was checkpointed: the partial tree is kept
    assert {t.id for t in stored.record.tasks} == {"a", "b"}
    # the summary counts what the record shows (runs list and runs show agree)
    assert summary.tasks == 2 and summary.input_tokens == stored.record.usage.input_tokens > 0


def test_lookups_by_prefix_filters_and_pruning(tmp_path: Path):
    history = RunHistory(tmp_path / "h.db")
    old = datetime.now(UTC) - timedelta(days=10)
    history.started("abc111", team="t1", goal="g1", at=old)
    history.started("abc222", team="t2", goal="g2")
    history.started("x_y", team="t2", goal="g3")
    assert [r.run_id for r in history.list()] == ["x_y", "abc222", "abc111"]
    assert [r.run_id for r in history.list(team="t1")] == ["abc111"]
    assert history.list(status="succeeded") == []
    assert history.get("abc1").summary.run_id == "abc111"
    with pytest.raises(InputError, match="several"):
        history.get("abc")
    with pytest.raises(InputError, match="no run"):
        history.get("zzz")
    with pytest.raises(InputError, match="no run"):
        history.get("x%")  # LIKE wildcards are literal
    assert history.get("x_").summary.run_id == "x_y"
    with pytest.raises(InputError, match="no run"):
        history.get("ABC1")  # case counts, as in a run id
    assert history.whole_id("abc1") == "abc111" and history.whole_id("zzz") is None
    assert history.prune(timedelta(days=7)) == 1
    assert {r.run_id for r in history.list()} == {"abc222", "x_y"}


async def test_history_false_writes_nothing(_orchestra_home: Path):
    team, _ = make_team(dict(SCRIPT), history=False)
    await run_collect(team)
    assert team.history is None
    with sqlite3.connect(_orchestra_home / "runs.db") as db:  # the checkpoints are there
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "checkpoints" in tables and "runs" not in tables


def test_two_histories_on_one_file_see_each_other(tmp_path: Path):
    one, two = RunHistory(tmp_path / "h.db"), RunHistory(tmp_path / "h.db")
    one.started("r1", team="t", goal="g")
    assert [r.run_id for r in two.list()] == ["r1"]
    with sqlite3.connect(tmp_path / "h.db") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)


async def test_pruning_takes_the_checkpoints_of_old_runs_along(_orchestra_home: Path):
    team, _ = make_team(dict(SCRIPT, planner=SCRIPT["planner"] * 2))
    await team.arun("old goal", run_id="old-run")
    await team.arun("new goal", run_id="new-run")
    db = _orchestra_home / "runs.db"
    with sqlite3.connect(db) as conn:  # make the first run ten days old
        conn.execute(
            "UPDATE runs SET started_at = ? WHERE run_id = 'old-run'",
            ((datetime.now(UTC) - timedelta(days=10)).isoformat(),),
        )
    assert team.history is not None and team.history.prune(timedelta(days=7)) == 1
    with sqlite3.connect(db) as conn:
        threads = {row[0] for row in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert threads == {"new-run"}
    with pytest.raises(InputError):
        await team.aget_run("old-run")
    assert (await team.aget_run("new-run")).succeeded


SECRET = "sk-ant-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"


async def test_a_new_run_under_an_existing_id_is_refused_not_merged(_orchestra_home: Path):
    team, model = make_team(dict(SCRIPT, planner=SCRIPT["planner"] * 2))
    await team.arun("Tuesday's report", run_id="x")
    calls = len(model.calls)
    with pytest.raises(InputError, match=r"run 'x' already exists: continue it with"):
        await team.arun("another goal", run_id="x")
    assert len(model.calls) == calls  # nothing ran
    assert team.history is not None
    [summary] = team.history.list()
    assert summary.goal == "Tuesday's report" and summary.status == "succeeded"

    # known only to the checkpoints (no history) or only to the history: refused too
    quiet, _ = make_team(dict(SCRIPT), history=False)
    with pytest.raises(InputError, match="already exists"):
        await quiet.arun("g", run_id="x")
    elsewhere, _ = make_team(dict(SCRIPT), checkpointer="memory")
    with pytest.raises(InputError, match="already exists"):
        await elsewhere.arun("g", run_id="x")


async def test_secrets_are_redacted_in_the_stored_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    db = tmp_path / "h.db"
    script = dict(SCRIPT, executor=f"found {SECRET}", synthesizer=f"the key is {SECRET}")
    team, _ = make_team(script, history=RunHistory(db), checkpointer="memory")
    result = await team.arun(f"use api_key={SECRET[:20]}x and {SECRET}")
    assert SECRET in (result.output or "")  # the result itself is the caller's, unredacted
    assert SECRET.encode() not in db.read_bytes() and b"[REDACTED]" in db.read_bytes()
    stored = RunHistory(db).get(result.run_id)
    assert stored.record is not None and stored.record.output == "the key is [REDACTED]"
    assert "[REDACTED]" in stored.summary.goal and SECRET not in stored.summary.goal

    monkeypatch.setenv("ORCHESTRA_REDACT_HISTORY", "0")  # the documented switch: raw, locally
    raw_team, _ = make_team(dict(script), history=RunHistory(db), checkpointer="memory")
    raw = await raw_team.arun(f"again {SECRET}")
    assert RunHistory(db).get(raw.run_id).summary.goal == f"again {SECRET}"


def test_a_running_run_whose_process_died_reads_interrupted(tmp_path: Path):
    db = tmp_path / "h.db"
    history = RunHistory(db)
    history.started("mine", team="t", goal="g")  # this process: alive
    code = (
        "import os, sys; from orchestra.observability.history import RunHistory;"
        f"RunHistory({str(db)!r}).started('killed', team='t', goal='g');"
        "os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    statuses = {r.run_id: r.status for r in history.list()}
    assert statuses == {"mine": "running", "killed": "interrupted"}
    assert history.get("killed").summary.status == "interrupted"
    assert [r.run_id for r in history.list(status="interrupted")] == ["killed"]
    assert [r.run_id for r in history.list(status="running")] == ["mine"]


def test_a_broken_store_is_one_config_error_naming_the_file(tmp_path: Path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all, not even close\n")
    for call in (
        lambda h: h.list(),
        lambda h: h.get("x"),
        lambda h: h.started("x", team="t", goal="g"),
    ):
        with pytest.raises(ConfigError, match=f"run store {garbage} is not a usable SQLite"):
            call(RunHistory(garbage))
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match=f"{a_file} is a file, not a folder"):
        RunHistory(a_file / "runs.db").list()
    with pytest.raises(ConfigError, match=f"{a_file} is a file, not a folder"):
        RunHistory(a_file / "runs.db").started("x", team="t", goal="g")
    # reading a history that does not exist yet makes nothing
    missing = tmp_path / "not-yet" / "runs.db"
    assert RunHistory(missing).list() == []
    with pytest.raises(InputError, match="no run"):
        RunHistory(missing).get("x")
    assert not missing.parent.exists()
