"""A job result the budget stopped is never replayed as finished (issue 19.17)."""

from __future__ import annotations

from typing import Any

from langgraph.func import entrypoint

from orchestra.engine import jobs
from orchestra.engine.outcomes import JOB_KEY, DraftOutcome


async def test_a_budget_result_in_the_checkpoint_runs_the_job_again_under_a_new_name():
    ran: list[str] = []

    async def fn(job: Any) -> DraftOutcome:
        ran.append("ran")
        return DraftOutcome(draft=None, error="designed")

    class Job:  # what _NamedJob reads of a job
        meter = None
        progress = jobs.JobProgress()
        runtime = type("Runtime", (), {"prices": {}})()

    stopped = {"kind": "budget_stopped", "reason": "1 model calls spent of 1", JOB_KEY: "design.a"}
    finished = {
        "design.a": stopped,
        "design.b": {"kind": "draft", "draft": None, "error": "kept", JOB_KEY: "design.b"},
        "design.c": stopped | {JOB_KEY: "design.c"},
        "design.c~2": {
            "kind": "draft",
            "draft": None,
            "error": "second try",
            JOB_KEY: "design.c~2",
        },
    }

    @entrypoint()
    async def node(_: object) -> list[dict[str, Any]]:
        return [await jobs.start(fn, f"design.{t}", Job(), finished) for t in "abc"]

    a, b, c = await node.ainvoke("go")
    assert ran == ["ran"]  # only a ran: b finished, and c's second try had finished
    assert DraftOutcome.read(a) == DraftOutcome(draft=None, error="designed", job="design.a~2")
    assert b["error"] == "kept" and c["error"] == "second try"
