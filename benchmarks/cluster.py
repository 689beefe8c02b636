"""Ray against in-process dispatch: per-subtask overhead, and scaling over Ray workers.

    python benchmarks/cluster.py [--chain N] [--wide N] [--reps R]   (BENCH_SIZE=full)

Starts Ray in this process (4 logical CPUs, no dashboard, usage statistics off) unless
one is already running. Both parts run teams on the scripted model whose every task
makes one call of a tool that sleeps for the given latency.

1. **Per-subtask overhead**: a chain of N tasks (each waits for the one before, so
   nothing overlaps) at 0 ms and 50 ms tool latency, run with ``LocalExecutor`` and with
   ``RayExecutor`` (warm: a first run starts the workers). Overhead per subtask =
   (run time - N x latency) / N; reported for each executor and as the ratio Ray/local.
2. **Scaling**: a 200-wide fan-out (every task independent) at 50 ms through Ray with the
   tool asking for a quarter of the cluster's CPUs (4 calls at once: "4 workers") and for
   all of them ("1 worker"); makespans and their ratio (ideal: 4).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from common import publish
from langchain_core.tools import BaseTool

from orchestra import Team, tool
from orchestra.executors import LocalExecutor, RayExecutor
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    chain,
    fan_out,
    role_spec,
    tool_call,
    verdict,
)
from orchestra.tools.dispatch import ToolExecutor
from orchestra.tools.options import options_of, with_options


@tool(num_cpus=0)
async def wait(seconds: float) -> str:
    """Wait, like a call to a slow service."""
    await asyncio.sleep(seconds)
    return "waited"


def _script(ids: list[str], shape: str, latency: float) -> dict[str, Any]:
    def executor(call: ScriptedCall) -> object:
        if any(m.type == "tool" for m in call.messages):
            return "done"
        return tool_call("wait", {"seconds": latency})

    return {
        "planner": [chain(ids) if shape == "chain" else fan_out(ids)],
        "role_designer": role_spec("worker", "Do the task.", ["wait"]),
        "executor": executor,
        "lead": "the group's results, integrated",  # leads of the plan's groups
        "critic": verdict("pass"),
        "synthesizer": "done",
    }


async def timed_run(
    executor: ToolExecutor, shape: str, n: int, latency: float, tool_: BaseTool = wait
) -> float:
    """Seconds of one run of ``n`` tasks (the team built before the clock starts)."""
    ids = [f"t{i}" for i in range(n)]
    team = Team(
        ScriptedChatModel(_script(ids, shape, latency)),
        tools=[tool_],
        executor=executor,
        checkpointer="memory",
        history=False,
        max_depth=5,
        max_parallel=n,
        name=f"cluster-{shape}",
    )
    start = time.perf_counter()
    result = await team.arun(f"{n} {shape} calls")
    elapsed = time.perf_counter() - start
    assert result.succeeded and len(result.tool_calls) == n, result.reason
    assert all(c.ok for c in result.tool_calls)
    return elapsed


async def overhead(ray: RayExecutor, n: int, reps: int) -> dict[str, Any]:
    local = LocalExecutor()
    await timed_run(ray, "chain", n, 0.0)  # warm: workers started, code imported
    await timed_run(local, "chain", n, 0.0)
    out: dict[str, Any] = {"chain_length": n, "reps": reps}
    for latency in (0.0, 0.05):
        per: dict[str, list[float]] = {"local": [], "ray": []}
        for _ in range(reps):  # interleaved, so drifts of the machine hit both
            for name, executor in (("local", local), ("ray", ray)):
                run_s = await timed_run(executor, "chain", n, latency)
                per[name].append((run_s - n * latency) / n * 1000)
        local_ms, ray_ms = (statistics.median(per[k]) for k in ("local", "ray"))
        out[f"{int(latency * 1000)}ms"] = {
            "local_overhead_ms_per_subtask": round(local_ms, 2),
            "ray_overhead_ms_per_subtask": round(ray_ms, 2),
            "ratio_ray_local": round(ray_ms / local_ms, 2),
            "ray_range_ms": [round(min(per["ray"]), 2), round(max(per["ray"]), 2)],
        }
    return out


async def scaling(ray: RayExecutor, n: int) -> dict[str, Any]:
    import ray as ray_module

    cpus = float(ray_module.cluster_resources().get("CPU", 1.0))
    makespans = {}
    for workers in (4, 1):
        wanted = options_of(wait).model_copy(update={"num_cpus": cpus / workers})
        limited = with_options(wait.model_copy(), wanted)
        await timed_run(ray, "wide", 8, 0.05, limited)  # warm the workers it uses
        makespans[workers] = await timed_run(ray, "wide", n, 0.05, limited)
    return {
        "width": n,
        "latency_s": 0.05,
        "cluster_cpus": cpus,
        "makespan_s_4_workers": round(makespans[4], 2),
        "makespan_s_1_worker": round(makespans[1], 2),
        "speedup_4_vs_1": round(makespans[1] / makespans[4], 2),
        "ideal_makespan_s": {"4_workers": n * 0.05 / 4, "1_worker": n * 0.05},
    }


async def measure(chain_length: int, width: int, reps: int) -> dict[str, Any]:
    """Both parts, on a Ray started here (4 CPUs) unless one is running already."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = RayExecutor(num_cpus=4)
    ray.connect()
    try:
        return {
            "overhead": await overhead(ray, chain_length, reps),
            "scaling": await scaling(ray, width),
        }
    finally:
        ray.shutdown()


def main() -> None:
    full = os.environ.get("BENCH_SIZE") == "full"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chain", type=int, default=20 if full else 10)
    parser.add_argument("--wide", type=int, default=200)
    parser.add_argument("--reps", type=int, default=5 if full else 3)
    args = parser.parse_args()
    publish("cluster", asyncio.run(measure(args.chain, args.wide, args.reps)))


if __name__ == "__main__":
    main()
