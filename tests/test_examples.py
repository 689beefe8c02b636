"""The examples run as a user would run them (slow: the embedded model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_mcp_example_starts_its_server_and_runs_offline():
    proc = run_cli(
        "run",
        "examples/mcp_team.py:team",
        "Convert 10 km to miles",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded"
    assert any(t["executions"] >= 1 for t in record["tasks"])


@pytest.mark.slow
def test_the_memory_example_carries_results_from_one_run_to_the_next(tmp_path):
    from orchestra.memory import Memory, MemorySource

    example = str(ROOT / "examples" / "memory_team.py") + ":team"
    runs = []
    proc = run_cli("run", example, "What does the premium plan cost?", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs.append(json.loads(proc.stdout)["run_id"])
    # The next run loads the example (and its sheet) again; its planner call is all it
    # needs here (the embedded model's whole run takes a minute; executors receiving
    # memories are tested on the scripted model in tests/memory).
    proc = run_cli(
        "run",
        example,
        "How much is premium per year?",
        "--json",
        "--max-model-calls",
        "1",
        cwd=tmp_path,
    )
    assert proc.returncode == 3, proc.stderr[-3000:]  # stopped at its budget, as asked
    runs.append(json.loads(proc.stdout)["run_id"])
    store = Memory.local(tmp_path / ".orchestra" / "memory")
    hits = store.search("premium plan price", team="memory-team", k=20)
    sources = {h.record.source for h in hits}
    assert MemorySource.DOCUMENT in sources and MemorySource.TASK_RESULT in sources
    assert {h.record.run_id for h in hits if h.record.source is MemorySource.TASK_RESULT} <= set(
        runs
    )
    # the sheet is one chunk, and loading it again in the second run added nothing
    assert len([h for h in hits if h.record.source is MemorySource.DOCUMENT]) == 1


def test_the_search_example_finds_the_quoted_venue_within_budget(tmp_path):
    proc = run_cli(
        "run",
        str(ROOT / "examples" / "search_demo.py") + ":team",
        "Book an offsite venue for 12 people",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded"
    tasks = {t["id"]: t for t in record["tasks"]}
    assert tasks["venue"]["result"] == "venue: Mill Loft, price: 4080 EUR"
    [search] = tasks["venue"]["searches"]  # the scout searches; the writer does not
    assert tasks["invite"]["searches"] == []
    scores = {n["step"]: n["score"] for n in search["nodes"]}
    assert scores["answer: venue: Grand Palace, price: 4000 EUR"] == 0.0  # never quoted
    assert scores["answer: venue: Harbor Hall, price: 6240 EUR"] == 0.3  # over budget
    assert "Mill Loft" in record["output"] and "Now write" not in record["output"]


def test_the_langgraph_example_embeds_a_team_and_resumes_after_its_approval():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "langgraph_embed.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "the team asks: assistant wants to call send_email(" in proc.stdout
    assert "answer: Briefing(title='Heat pumps'" in proc.stdout
    assert "published: # Heat pumps" in proc.stdout
