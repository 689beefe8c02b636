"""Load on ``orchestra serve``: many scripted runs posted by concurrent clients on loopback.

    python benchmarks/serve.py [--runs 100] [--clients 20] [--max-runs 8]

Starts ``orchestra serve benchmarks/serve.py:team`` (a scripted two-task team, SQLite
checkpoints and history in a temporary ``ORCHESTRA_HOME``), then ``--clients`` clients
each post runs and follow each run's event stream to ``run_finished``, until ``--runs``
runs are done. Reports runs/s, p50/p95 seconds from the post to the first event and to
``run_finished``, and checks every stream: ids 1..n with no gap and no repeat, one
``run_finished``. The baseline, measured in the same run: the same runs through
``team.arun`` in one process, ``--max-runs`` at a time, without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from orchestra import Team
from orchestra.testing import ScriptedChatModel, plan, role_spec, subtask, verdict

HERE = Path(__file__).resolve().parent
SCRIPT = {
    "planner": plan(subtask("facts", "Collect facts"), subtask("note", "Write", deps=["facts"])),
    "role_designer": role_spec("worker", "Do it.", []),
    "executor": lambda call: f"{call.task_id}: done with care",
    "critic": verdict("pass"),
    "synthesizer": "the answer",
}

team = Team(ScriptedChatModel(SCRIPT), name="served-bench")
"""The team the server serves."""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _one(client: httpx.AsyncClient, n: int) -> dict[str, Any]:
    posted = time.perf_counter()
    run_id = (await client.post("/runs", json={"goal": f"note number {n}"})).json()["run_id"]
    first: float | None = None
    ids: list[int] = []
    finished = 0
    async with client.stream("GET", f"/runs/{run_id}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("id:"):
                ids.append(int(line[3:].strip()))
                first = first or time.perf_counter()
            elif line.startswith("data:") and json.loads(line[5:])["type"] == "run_finished":
                finished += 1
    done = time.perf_counter()
    return {
        "first_s": (first or done) - posted,
        "finished_s": done - posted,
        "gap_free": ids == list(range(1, len(ids) + 1)),
        "finished_events": finished,
    }


async def _load(base: str, runs: int, clients: int) -> tuple[list[dict[str, Any]], float]:
    numbers = iter(range(runs))
    out: list[dict[str, Any]] = []

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            for n in numbers:
                out.append(await _one(client, n))

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return out, time.perf_counter() - start


async def _baseline(runs: int, max_runs: int) -> float:
    local = Team(ScriptedChatModel(SCRIPT), checkpointer="memory", history=False, name="local")
    slots = asyncio.Semaphore(max_runs)

    async def one(n: int) -> None:
        async with slots:
            await local.arun(f"note number {n}")

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(runs)))
    return time.perf_counter() - start


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Uvicorn running on" in line:
            return
    raise RuntimeError("the server did not start")


def run(runs: int, clients: int, max_runs: int) -> dict[str, Any]:
    """The whole benchmark as one JSON-able result."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ORCHESTRA_HOME": home}
        command = [sys.executable, "-m", "orchestra.cli", "serve", f"{HERE / 'serve.py'}:team"]
        command += ["--port", str(port), "--max-runs", str(max_runs), "--max-queued", str(runs)]
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        try:
            _wait_ready(proc)
            results, seconds = asyncio.run(_load(f"http://127.0.0.1:{port}", runs, clients))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    baseline = asyncio.run(_baseline(runs, max_runs))
    first = sorted(r["first_s"] for r in results)
    finished = sorted(r["finished_s"] for r in results)
    return {
        "runs": runs,
        "clients": clients,
        "max_runs": max_runs,
        "runs_per_s": round(runs / seconds, 2),
        "baseline_runs_per_s": round(runs / baseline, 2),
        "ratio_to_baseline": round(baseline / seconds, 3),
        "first_event_p50_s": round(statistics.median(first), 3),
        "first_event_p95_s": round(first[int(0.95 * (len(first) - 1))], 3),
        "finished_p50_s": round(statistics.median(finished), 3),
        "finished_p95_s": round(finished[int(0.95 * (len(finished) - 1))], 3),
        "streams_gap_free": sum(r["gap_free"] for r in results),
        "streams_with_one_run_finished": sum(r["finished_events"] == 1 for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--max-runs", type=int, default=8)
    args = parser.parse_args()
    result = run(args.runs, args.clients, args.max_runs)
    sys.path.insert(0, str(HERE))
    from common import publish

    publish("serve", result)
    ok = result["streams_gap_free"] == result["streams_with_one_run_finished"] == args.runs
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
