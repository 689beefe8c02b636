"""A job result the budget stopped is never replayed as finished (issue 19.17)."""

from __future__ import annotations

from typing import Any

from langgraph.func import entrypoint

from orchestra.engine import jobs


async def test_a_budget_result_in_the_checkpoint_runs_the_job_again_under_a_new_name():
    ran: list[str] = []

    async def fn(job: Any) -> dict[str, Any]:
        ran.append("ran")
        return {"spec": "designed"}

    class Job:  # what _NamedJob reads of a job
        meter = None
        progress = jobs.JobProgress()
        runtime = type("Runtime", (), {"prices": {}})()

    stopped = {jobs.BUDGET_KEY: "1 model calls spent of 1", jobs.JOB_KEY: "design.a"}
    finished = {
        "design.a": stopped,
        "design.b": {"spec": "kept", jobs.JOB_KEY: "design.b"},
        "design.c": stopped | {jobs.JOB_KEY: "design.c"},
        "design.c~2": {"spec": "second try", jobs.JOB_KEY: "design.c~2"},
    }

    @entrypoint()
    async def node(_: object) -> list[dict[str, Any]]:
        return [await jobs.start(fn, f"design.{t}", Job(), finished) for t in "abc"]

    a, b, c = await node.ainvoke("go")
    assert ran == ["ran"]  # only a ran: b finished, and c's second try had finished
    assert a == {"spec": "designed", jobs.JOB_KEY: "design.a~2"}
    assert b["spec"] == "kept" and c["spec"] == "second try"
