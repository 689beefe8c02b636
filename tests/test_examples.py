"""The examples run as a user would run them (slow: the embedded model)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import StartedCli, run_cli

ROOT = Path(__file__).resolve().parents[1]

MEMORY_EXAMPLE = str(ROOT / "examples" / "memory_team.py") + ":team"
MCP_TEST = "test_the_mcp_example_starts_its_server_and_runs_offline"
MEMORY_TEST = "test_the_memory_example_carries_results_from_one_run_to_the_next"
FIRST_RUNS = {  # test -> (orchestra run ARGS --json, from the root or else a folder of its own)
    MCP_TEST: (("examples/mcp_team.py:team", "Convert 10 km to miles"), True),
    MEMORY_TEST: ((MEMORY_EXAMPLE, "What does the premium plan cost?"), False),
}


@pytest.fixture(scope="module")
def first_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[StartedCli, Path, dict[str, str]]]]:
    """The slow examples' first runs, started together: test name -> (run, cwd, env).

    Each is the run its test made itself before, in a process, folder and home of its
    own; its test waits for it and asserts on it. The embedded model decodes on one
    thread, so side by side the two take about as long as the longer one (given a core
    each) instead of their sum. Only the runs of selected tests are started.
    """
    selected = {item.name for item in request.session.items if item.path == request.path}
    runs: dict[str, tuple[StartedCli, Path, dict[str, str]]] = {}
    for name, (args, from_root) in FIRST_RUNS.items():
        if name in selected:
            folder = tmp_path_factory.mktemp(name[:30])
            cwd = ROOT if from_root else folder
            env = {"ORCHESTRA_HOME": str(folder / "orchestra-home")}
            run = StartedCli("run", *args, "--json", output=folder / "out", cwd=cwd, env_extra=env)
            runs[name] = (run, cwd, env)
    try:
        yield runs
    finally:
        for run, _, _ in runs.values():
            run.stop()


@pytest.mark.slow
def test_the_mcp_example_starts_its_server_and_runs_offline(first_runs):
    run, _, _ = first_runs[MCP_TEST]
    proc = run.wait()
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded"
    assert any(t["executions"] >= 1 for t in record["tasks"])


@pytest.mark.slow
def test_the_memory_example_carries_results_from_one_run_to_the_next(first_runs):
    from orchestra.memory import Memory, MemorySource

    runs = []
    first, folder, env = first_runs[MEMORY_TEST]  # "What does the premium plan cost?"
    proc = first.wait()
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs.append(json.loads(proc.stdout)["run_id"])
    # The next run loads the example (and its sheet) again; its planner call is all it
    # needs here (the embedded model's whole run takes a minute; executors receiving
    # memories are tested on the scripted model in tests/memory).
    proc = run_cli(
        "run",
        MEMORY_EXAMPLE,
        "How much is premium per year?",
        "--json",
        "--max-model-calls",
        "1",
        cwd=folder,
        env_extra=env,  # the first run's home, as in one shell
    )
    assert proc.returncode == 3, proc.stderr[-3000:]  # stopped at its budget, as asked
    runs.append(json.loads(proc.stdout)["run_id"])
    store = Memory.local(folder / ".orchestra" / "memory")
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
