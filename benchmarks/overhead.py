"""Framework overhead: orchestra against a minimal hand-written LangGraph graph.

    python benchmarks/overhead.py --dags FILE [--records N] [--reps R]   (BENCH_SIZE=full)

The same gold task graphs run (a) through orchestra (``orchestra.evals.replay``: planner,
roles, dispatch, executors, critic, synthesizer) and (b) through a bare LangGraph graph
written by hand for this: a planner call, then waves of ``Send`` to a ``step`` node that
makes the executor's model call, the tool call and the critic's call (the replay's role
finishes on its tool's result, ``Role(finish_on_tool=True)``, so neither makes a second
executor call), then a synthesizer call and the critic's call on the answer. Both use
the same scripted model, the same stub tools and the same replies, with tool latency 0,
so what differs is the framework.

Reported, from R repetitions of every record in one process (interleaved):

* ``per_run``: orchestra's run time over bare LangGraph's, per record (median over the
  repetitions), then the median and quartiles over the records;
* ``per_node``: the slope of run time against the number of nodes (least squares over the
  records, one fit per repetition) for each, and the ratio of the slopes: what one more
  node costs in orchestra against what it costs in LangGraph. Median and range over the
  repetitions.

Target: within 1.2x of bare LangGraph per run and per node (``BENCH_SIZE=full``: the
whole sample).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import operator
import os
import statistics
import time
from typing import Annotated, Any, TypedDict

from common import add_dags_argument, publish
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from orchestra.evals.dags import DagRecord, load_dags
from orchestra.evals.latency import LatencySpec
from orchestra.evals.replay import StubCalls, replay_record, stub_tools
from orchestra.evals.replay_baselines import ScriptedNodeCalls, scripted_config


class _Bare(TypedDict, total=False):
    done: Annotated[dict[str, str], operator.or_]
    answer: str


def bare_graph(record: DagRecord) -> tuple[Any, StubCalls, ScriptedNodeCalls]:
    """A LangGraph graph making the calls orchestra makes for ``record``, and no more."""
    calls = StubCalls()
    tools = {t.name: t for t in stub_tools(record, {n.id: 0.0 for n in record.nodes}, calls)}
    nodes = ScriptedNodeCalls.for_record(record, tools, calls)

    async def plan(state: _Bare) -> _Bare:
        reply = await nodes.model.ainvoke(
            [HumanMessage(content=record.goal)], config=scripted_config("planner")
        )
        json.loads(reply.text)
        return {"done": {}}

    async def step(payload: dict[str, str]) -> _Bare:
        # the executor's call, the tool call, the critic's call: the replay's role finishes
        # on its tool's result (Role(finish_on_tool=True)), so no second executor call here
        # either
        return {"done": {payload["node"]: await nodes.run(payload["node"])}}

    async def join(state: _Bare) -> _Bare:
        return {}

    def route(state: _Bare) -> list[Send] | str:
        done = state.get("done", {})
        if len(done) == len(record.nodes):
            return "synthesize"
        return [
            Send("step", {"node": n.id})
            for n in record.nodes
            if n.id not in done and all(d in done for d in n.deps)
        ]

    async def synthesize(state: _Bare) -> _Bare:
        reply = await nodes.model.ainvoke(
            [HumanMessage(content="Answer.")], config=scripted_config("synthesizer")
        )
        # orchestra's critic checks the answer too (one call a run, on by default)
        verdict = await nodes.model.ainvoke(
            [HumanMessage(content=f"Judge: {reply.text}")], config=scripted_config("critic")
        )
        json.loads(verdict.text)
        return {"answer": reply.text}

    graph = StateGraph(_Bare)
    graph.add_node("plan", plan)
    graph.add_node("step", step)
    graph.add_node("join", join)
    graph.add_node("synthesize", synthesize)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", route, ["step", "synthesize"])
    graph.add_edge("step", "join")
    graph.add_conditional_edges("join", route, ["step", "synthesize"])
    graph.add_edge("synthesize", END)
    return graph.compile(), calls, nodes


async def time_bare(record: DagRecord) -> float:
    """Seconds of one bare run (graph built before the clock starts)."""
    return (await _bare_run(record))[0]


async def _bare_run(record: DagRecord) -> tuple[float, int]:
    """Seconds of one bare run and the model calls it made."""
    graph, calls, nodes = bare_graph(record)
    start = time.perf_counter()
    await graph.ainvoke({}, config={"recursion_limit": 10_000})
    elapsed = time.perf_counter() - start
    assert len(calls.outputs) == len(record.nodes), "the bare graph skipped a node"
    return elapsed, len(nodes.model.calls)


async def time_orchestra(record: DagRecord) -> float:
    """Seconds of one orchestra run (the team built before the clock starts)."""
    return (await _orchestra_run(record))[0]


async def _orchestra_run(record: DagRecord) -> tuple[float, int]:
    """Seconds of one orchestra run and the model calls it made."""
    done = await replay_record(record, LatencySpec("fixed", 0.0))
    assert done.exactly_once and done.order_ok, done.problems
    return done.run_s, sum(u.model_calls for u in done.usage_by_agent.values())


def _slope(sizes: list[int], seconds: list[float]) -> float:
    if len(set(sizes)) < 2:
        return statistics.mean(s / n for s, n in zip(seconds, sizes, strict=True))
    return statistics.linear_regression(sizes, seconds).slope


async def measure(records: list[DagRecord], reps: int) -> dict[str, Any]:
    sizes = [len(r.nodes) for r in records]
    orch: list[list[float]] = [[] for _ in records]
    bare: list[list[float]] = [[] for _ in records]
    for record in records[:3]:  # warm up imports, caches and the scripted model's parsers
        _, bare_calls = await _bare_run(record)
        _, orchestra_calls = await _orchestra_run(record)
        assert bare_calls == orchestra_calls, (
            f"{record.id}: the bare graph made {bare_calls} model calls, orchestra"
            f" {orchestra_calls}: they no longer do the same work"
        )
    slopes_o, slopes_b = [], []
    for _ in range(reps):
        run_o, run_b = [], []
        for i, record in enumerate(records):
            gc.collect()
            b = await time_bare(record)
            o = await time_orchestra(record)
            bare[i].append(b)
            orch[i].append(o)
            run_b.append(b)
            run_o.append(o)
        slopes_o.append(_slope(sizes, run_o))
        slopes_b.append(_slope(sizes, run_b))
    per_run = [statistics.median(o) / statistics.median(b) for o, b in zip(orch, bare, strict=True)]
    q = statistics.quantiles(per_run, n=4) if len(per_run) > 1 else [per_run[0]] * 3
    ratios = [o / b for o, b in zip(slopes_o, slopes_b, strict=True)]
    return {
        "records": len(records),
        "nodes": sum(sizes),
        "reps": reps,
        "per_run": {
            "median_ratio": round(statistics.median(per_run), 3),
            "q1_ratio": round(q[0], 3),
            "q3_ratio": round(q[2], 3),
            "orchestra_median_ms": round(
                statistics.median(statistics.median(o) for o in orch) * 1000, 2
            ),
            "bare_median_ms": round(
                statistics.median(statistics.median(b) for b in bare) * 1000, 2
            ),
        },
        "per_node": {
            "orchestra_ms": round(statistics.median(slopes_o) * 1000, 3),
            "bare_ms": round(statistics.median(slopes_b) * 1000, 3),
            "ratio": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3),
            "ratio_max": round(max(ratios), 3),
        },
        "target_ratio": 1.2,
        "meets_target": statistics.median(per_run) <= 1.2 and statistics.median(ratios) <= 1.2,
    }


def main() -> None:
    full = os.environ.get("BENCH_SIZE") == "full"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_dags_argument(parser)
    parser.add_argument("--records", type=int, default=60 if full else 20)
    parser.add_argument("--reps", type=int, default=7 if full else 3)
    args = parser.parse_args()
    records = load_dags(args.dags, limit=args.records)
    result = asyncio.run(measure(records, args.reps))
    result["dags"] = str(args.dags)
    publish("overhead", result)


if __name__ == "__main__":
    main()
