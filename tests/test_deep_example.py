"""examples/deep_team.py through the command line: every hierarchy feature, offline."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from orchestra.cli.main import app


def _run(target: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        app, ["run", f"examples/deep_team.py:{target}", "Prepare a market report", "--json"]
    )
    return result.exit_code, json.loads(result.output)


def test_the_deep_team_decomposes_reintegrates_escalates_and_delegates():
    code, record = _run("team")
    assert code == 0 and record["status"] == "succeeded"
    tasks = {t["id"]: t for t in record["tasks"]}
    # (a) decomposed on demand, after its prerequisite
    [decomposition] = record["decompositions"]
    assert decomposition["task_id"] == "report"
    assert decomposition["new_task_ids"] == ["outline", "write"]
    assert tasks["report"]["kind"] == "inner" and tasks["outline"]["parent_id"] == "report"
    assert tasks["outline"]["started_at"] > tasks["research"]["finished_at"]
    # (b) an integration sent back once, then accepted
    research = tasks["research"]
    assert research["kind"] == "inner" and research["lead"] == "editor"
    assert [v["verdict"] for v in research["verdicts"]] == ["retry", "pass"]
    # (c) a leaf failed for good, its parent's subtree was re-planned, finished work kept
    [replan] = record["replans"]
    assert (replan["scope"], replan["escalated_from"]) == ("research", "quotes")
    assert replan["kept_task_ids"] == ["prices", "sales"]
    assert tasks["quotes"]["status"] == "failed" and tasks["sourced_quotes"]["status"] == "done"
    assert tasks["prices"]["executions"] == 1
    # (d) a sub-team ran 'rules'; its tree nests under the task
    rules = tasks["rules"]
    assert (rules["kind"], rules["team"], rules["status"]) == ("team", "legal", "done")
    assert "EN 15194" in rules["result"]
    assert [(tasks[t]["parent_id"], tasks[t]["depth"]) for t in ("rules/find", "rules/check")] == [
        ("rules", 2),
        ("rules", 2),
    ]
    assert tasks["rules/check"]["depends_on"] == ["rules/find"]
    assert rules["total_usage"]["model_calls"] > rules["usage"]["model_calls"]
    # ... and the sales figures came from another team, called as a tool
    [call] = [c for c in record["tool_calls"] if c["tool"] == "ask_numbers"]
    assert call["ok"] and "11%" in call["result"]
    assert [t["depth"] for t in record["tasks"] if t["id"] in ("research", "prices")] == [1, 2]


def test_the_partial_team_says_what_is_missing():
    code, record = _run("partial_team")
    assert code == 6 and record["status"] == "partial"
    assert [m["task_id"] for m in record["missing"]] == ["interviews", "summary"]
    assert {t["id"]: t["status"] for t in record["tasks"]}["prices"] == "done"
    assert "Not done (this answer is partial)" in record["output"]
