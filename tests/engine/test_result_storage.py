"""A long tool result is stored once; the checkpoints and the record refer to it.

Before, a 5 MB result was in ``runs.db`` seven times: three checkpoints after ``dispatch``,
the attempt's and the node's checkpoint writes, the run history's record and (for a
side-effecting tool) the call log.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from orchestra import InputError, RunStatus, Team, tool
from orchestra.observability.history import RunHistory
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, tool_call, verdict

BIG = 5_000_000


def _team(db: Path, *, side_effects: bool, size: int = BIG) -> Team:
    @tool(side_effects=side_effects, max_result_chars=1000)
    def dump(n: int) -> str:
        """Dump n characters."""
        return "".join(chr(ord("a") + i % 26) for i in range(26)) * (n // 26) + "!" * (n % 26)

    model = ScriptedChatModel(
        {
            "planner": [plan(subtask("a"))],
            "role_designer": role_spec("clerk", "Do the task.", ["dump"]),
            "executor@a": [tool_call("dump", {"n": size}), "a done"],
            "critic": verdict("pass"),
            "synthesizer": "all done",
        }
    )
    return Team(model, tools=[dump], checkpointer=db, history=RunHistory(db))


def _size(db: Path) -> int:
    with sqlite3.connect(db) as conn:  # pages in use, whatever the file's free pages
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    return int((pages - free) * size)


@pytest.mark.parametrize("side_effects", [False, True])
def test_a_5mb_result_grows_the_run_store_by_about_its_size(tmp_path: Path, side_effects: bool):
    small_db, big_db = tmp_path / "small" / "runs.db", tmp_path / "big" / "runs.db"
    # the same run with a tiny result: what a run costs whatever its results
    small = _team(small_db, side_effects=side_effects, size=4)
    assert small.run("goal", run_id="r").status is RunStatus.SUCCEEDED
    big = _team(big_db, side_effects=side_effects)
    result = big.run("goal", run_id="r")
    assert result.status is RunStatus.SUCCEEDED

    growth = _size(big_db) - _size(small_db)
    assert growth < 1.5 * BIG, f"{growth / BIG:.2f} times the result's size"

    [call] = result.tool_calls
    assert call.ok and call.result_ref is not None and call.result_chars == BIG
    assert call.result is not None and len(call.result) < 5_000  # its beginning, and a marker
    assert "Team.tool_result(call)" in call.result
    whole = big.tool_result(call)
    assert len(whole) == BIG and whole.startswith("abcdefghijklmnopqrstuvwxyz")
    # the model saw the tool's cut, as before
    prompt = big.runtime.model.calls_for("executor", "a")[-1].prompt  # type: ignore[attr-defined]
    assert "[... truncated: 4999000 more characters not shown" in prompt


def test_a_short_result_stays_inline(tmp_path: Path):
    team = _team(tmp_path / "runs.db", side_effects=False, size=30)
    [call] = team.run("goal", run_id="r").tool_calls
    assert call.result == "abcdefghijklmnopqrstuvwxyz!!!!" and call.result_ref is None
    assert team.tool_result(call) == call.result


def test_pruning_a_run_takes_its_stored_results_too(tmp_path: Path):
    team = _team(tmp_path / "runs.db", side_effects=True)
    [call] = team.run("goal", run_id="r").tool_calls
    # everything logged up to a second from now (the log's times have whole seconds)
    assert team.history is not None and team.history.prune(timedelta(seconds=-1)) == 1
    with sqlite3.connect(tmp_path / "runs.db") as db:
        assert db.execute("SELECT count(*) FROM tool_results").fetchone() == (0,)
    with pytest.raises(InputError, match="is not stored"):
        team.tool_result(call)
