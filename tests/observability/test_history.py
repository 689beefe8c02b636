"""The run history: what ``orchestra runs`` and reports read."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestra import InputError, ScriptError
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
