"""Baselines for the gold-DAG replay: the same graphs on bare LangGraph, run two ways.

``orchestra.evals.replay`` measures how close orchestra gets to a graph's critical path.
These engines run the same records, with the same per-node latencies (drawn by
``LatencySpec.draw`` from the same seed) and the same stub tools (``stub_tools``), on
LangGraph alone, no orchestra code, so the figures can be read side by side:

* ``send_waves``: a ``StateGraph`` whose ``dispatch`` node fans out with ``Send`` to a
  ``work`` node for every node whose dependencies are all done; the outputs merge through
  a reducer and ``work`` leads back to ``dispatch`` until everything is done. That is
  LangGraph's superstep rule: a wave waits for its slowest member, so the best it can do
  is ``wave_makespan_s`` (the sum over waves of each wave's longest latency).
* ``functional``: ``@entrypoint`` + ``@task`` (``langgraph.func``). Each node gets a
  coroutine that awaits its dependencies and then calls the node's task, so a node starts
  as soon as its own inputs are ready, and the run can reach the critical path up to the
  engine's overhead. No checkpointer: one is needed only for interrupts and resumes,
  which a replay never uses, and its serialization would be a cost orchestra's figure
  does not ask of the baseline. (``send_waves`` runs without one too.)
* ``functional_calls``: ``functional`` with the model calls orchestra makes around each
  node's tool call, on the same scripted model with the same replies: the executor's call
  that names the tool call before it, the critic's call after it (``ScriptedNodeCalls``),
  and nothing else (no prompts built, no verdict checked, no events, no tree). It is the
  floor for any engine that makes those two calls a node through LangChain's chat-model
  interface on this machine: what orchestra's dispatch could reach with zero cost of its
  own.

Measured per record as in ``replay``, into the same ``ReplayRecord``: ``exactly_once``
(each node's tool ran once, for that node, and the engine ran the node once),
``order_ok`` (no tool call before its inputs' calls ended), ``makespan_s`` (first tool
start to last tool end, from the stubs' spans), ``efficiency`` and
``overhead_ms_per_node``; ``run_s`` is the graph's ``ainvoke`` (built before the clock).
One difference: ``replay`` takes orchestra's makespan from its task events (a task starts
before its tool call and ends after it), so orchestra's figure includes a little per-task
work the tool-only baselines' does not. ``functional_calls`` is measured the way orchestra
is: from the first node's executor call to the last node's critic reply, with its
efficiency by tool spans as ``tool_span_efficiency``.

Why this module ships in ``orchestra.evals`` rather than ``benchmarks/``: the baselines
are the yardstick for ``replay``'s figures, so they sit next to it, use its public
helpers, and can be imported by tests and a CLI alike; they need nothing LangGraph does
not already bring, and nothing in ``orchestra`` imports them.
"""

from __future__ import annotations

import asyncio
import json
import operator
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.types import Send

from orchestra.agents.calls import METADATA_AGENT, METADATA_TASK
from orchestra.core.plan import HARD_MAX_TASKS_PER_LEVEL
from orchestra.evals.dags import DagNode, DagRecord, critical_path_s
from orchestra.evals.latency import LatencySpec
from orchestra.evals.replay import (
    ReplayRecord,
    ReplayReport,
    StubCalls,
    calls_in_order,
    calls_once,
    measured_record,
    replay_script,
    resolve_references,
    skipped_record,
    stub_tools,
    summarize,
)
from orchestra.testing import ScriptedChatModel

__all__ = [
    "ENGINES",
    "Engine",
    "ScriptedNodeCalls",
    "functional_workflow",
    "scripted_config",
    "node_latencies",
    "replay_baseline",
    "replay_baseline_record",
    "send_waves_graph",
    "wave_makespan_s",
    "waves",
]

Engine = Literal["send_waves", "functional", "functional_calls"]
ENGINES: tuple[Engine, ...] = ("send_waves", "functional", "functional_calls")


def scripted_config(agent: str, task_id: str | None = None) -> RunnableConfig:
    """The config that tells the replay's scripted model which agent (and task) asks."""
    return {"metadata": {METADATA_AGENT: agent, METADATA_TASK: task_id}}


@dataclass(slots=True)
class ScriptedNodeCalls:
    """The model calls orchestra makes around one node's tool call, and nothing else.

    On the replay's scripted model (``replay_script``: the executor's reply names the
    node's tool call with its references resolved, the critic's passes): the executor's
    call, the tool call it names, then the critic's call on the result, whose JSON is
    parsed. ``spans`` gets each node's (start, end): before the executor's call, after the
    critic's reply, as orchestra's task events bound a task.
    """

    record: DagRecord
    tools: Mapping[str, BaseTool]
    task_ids: Mapping[str, str]
    model: ScriptedChatModel
    spans: list[tuple[float, float]] = field(default_factory=list)
    _bound: Runnable[LanguageModelInput, BaseMessage] | None = None

    @classmethod
    def for_record(
        cls, record: DagRecord, tools: Mapping[str, BaseTool], calls: StubCalls
    ) -> ScriptedNodeCalls:
        """The calls for ``record``'s nodes, with the stubs ``tools`` recording into ``calls``."""
        task_ids = {node.id: f"t{i}" for i, node in enumerate(record.nodes)}
        model = ScriptedChatModel(replay_script(record, task_ids, calls))
        return cls(record, tools, task_ids, model)

    async def run(self, node_id: str) -> str:
        """Run ``node_id``'s calls; the tool's output as JSON."""
        start = time.perf_counter()
        if self._bound is None:
            self._bound = self.model.bind_tools(list(self.tools.values()))
        node, task_id = self.record.node(node_id), self.task_ids[node_id]
        asked = [HumanMessage(content=f"Do {node.tool} ({node.id})")]
        first = await self._bound.ainvoke(asked, config=scripted_config("executor", task_id))
        call = getattr(first, "tool_calls", [])[0]
        result = json.dumps(await self.tools[call["name"]].ainvoke(call["args"]))
        judged = await self.model.ainvoke(
            [HumanMessage(content=f"Judge: {result}")], config=scripted_config("critic", task_id)
        )
        json.loads(judged.text)
        self.spans.append((start, time.perf_counter()))
        return result


def node_latencies(record: DagRecord, latency: LatencySpec, seed: int) -> dict[str, float]:
    """Each node's tool latency: the draw ``replay_record`` makes for the same seed."""
    return {n.id: latency.draw(seed, record.id, n.id) for n in record.nodes}


def waves(record: DagRecord) -> list[list[str]]:
    """The supersteps a ``Send`` dispatcher runs, as lists of node ids.

    Each wave is every node not yet run whose dependencies all ran in earlier waves.
    """
    done: set[str] = set()
    out: list[list[str]] = []
    while len(done) < len(record.nodes):
        ready = [n.id for n in record.nodes if n.id not in done and set(n.deps) <= done]
        assert ready, "validated records have no cycles"
        out.append(ready)
        done.update(ready)
    return out


def wave_makespan_s(record: DagRecord, latency: Mapping[str, float]) -> float:
    """The zero-overhead makespan under the superstep rule.

    That is the sum over ``waves`` of each wave's longest latency; ``critical_path_s`` over
    it is the best efficiency wave execution can reach.
    """
    return sum(max(latency[n] for n in wave) for wave in waves(record))


class _WaveState(TypedDict, total=False):
    outputs: Annotated[dict[str, Any], operator.or_]


class _Job(TypedDict):
    """What ``dispatch`` sends ``work``: a node and its arguments, references resolved."""

    node: str
    args: dict[str, Any]


def send_waves_graph(
    record: DagRecord, tools: Mapping[str, BaseTool], ran: Counter[str]
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A compiled ``StateGraph`` running ``record`` in ``Send`` waves (module docstring).

    ``tools`` maps tool names to the stubs; ``ran`` counts the ``work`` runs per node.
    Invoke with ``{"outputs": {}}`` and a recursion limit of at least
    ``2 * len(waves(record)) + 1`` supersteps.
    """

    async def dispatch(state: _WaveState) -> _WaveState:
        return {}

    def route(state: _WaveState) -> list[Send] | str:
        done = state.get("outputs", {})
        ready = [n for n in record.nodes if n.id not in done and all(d in done for d in n.deps)]
        if not ready:  # all done (a validated record always has a ready node otherwise)
            return END
        return [Send("work", _Job(node=n.id, args=resolve_references(n.args, done))) for n in ready]

    async def work(state: _Job) -> _WaveState:
        node = record.node(state["node"])
        ran[node.id] += 1
        return {"outputs": {node.id: await tools[node.tool].ainvoke(state["args"])}}

    graph = StateGraph(_WaveState)
    graph.add_node("dispatch", dispatch)
    graph.add_node("work", work, input_schema=_Job)
    graph.add_edge(START, "dispatch")
    graph.add_conditional_edges("dispatch", route, ["work", END])
    graph.add_edge("work", "dispatch")
    return graph.compile(name=f"send-waves-{record.id}"[:60])


def functional_workflow(
    record: DagRecord,
    tools: Mapping[str, BaseTool],
    ran: Counter[str],
    model_calls: ScriptedNodeCalls | None = None,
) -> Pregel[Any, Any, Any, Any]:
    """An ``@entrypoint`` running ``record``: one ``@task`` call per node, dependencies first.

    Each node's call starts as soon as its dependencies' results are in (module
    docstring). Invoke with any input; it returns the outputs by node id.

    ``tools`` maps tool names to the stubs; ``ran`` counts the task runs per node. With
    ``model_calls`` each task makes the node's model calls around its tool call
    (``functional_calls``); the tool's arguments then come from the executor's reply.
    """

    @task
    async def call_tool(node_id: str, tool: str, args: dict[str, Any]) -> Any:
        ran[node_id] += 1
        if model_calls is not None:
            return await model_calls.run(node_id)
        return await tools[tool].ainvoke(args)

    @entrypoint()
    async def workflow(_: Any) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        launched: dict[str, asyncio.Task[Any]] = {}

        async def launch(node: DagNode) -> None:
            for dep in node.deps:
                await launched[dep]
            args = resolve_references(node.args, outputs) if model_calls is None else {}
            outputs[node.id] = await call_tool(node.id, node.tool, args)

        async with asyncio.TaskGroup() as group:
            for node_id in record.order():  # deps first: their tasks exist when awaited
                launched[node_id] = group.create_task(launch(record.node(node_id)))
        return outputs

    workflow.name = f"functional-{record.id}"[:60]
    return workflow


async def replay_baseline_record(
    engine: Engine, record: DagRecord, latency: LatencySpec, *, seed: int = 0
) -> ReplayRecord:
    """Replay one record on a baseline ``engine`` and measure it as ``replay_record`` does.

    Records ``replay_record`` cannot play (more than ``HARD_MAX_TASKS_PER_LEVEL`` nodes)
    are skipped here too, so the summaries cover the same records.
    """
    if len(record.nodes) > HARD_MAX_TASKS_PER_LEVEL:
        return skipped_record(record, f"more than {HARD_MAX_TASKS_PER_LEVEL} nodes")
    latencies = node_latencies(record, latency, seed)
    calls = StubCalls()
    tools = {t.name: t for t in stub_tools(record, latencies, calls)}
    ran: Counter[str] = Counter()
    problems: list[str] = []
    model_calls: ScriptedNodeCalls | None = None
    if engine == "send_waves":
        runnable: Any = send_waves_graph(record, tools, ran)
        payload: Any = {"outputs": {}}
    else:
        if engine == "functional_calls":
            model_calls = ScriptedNodeCalls.for_record(record, tools, calls)
        runnable = functional_workflow(record, tools, ran, model_calls)
        payload = record.id
    config = {"recursion_limit": 2 * len(record.nodes) + 4}
    begin = time.perf_counter()
    try:
        await runnable.ainvoke(payload, config=config)
    except Exception as exc:  # a failed run is a measured outcome, reported in problems
        problems.append(f"run failed: {type(exc).__name__}: {exc}")
    run_s = time.perf_counter() - begin
    once = calls_once(record, calls, ran, "runs by the engine", problems)
    ordered = calls_in_order(record, calls, problems)
    spans = [s for node_spans in calls.spans.values() for s in node_spans]
    tool_makespan = _makespan(spans)
    makespan = _makespan(model_calls.spans) if model_calls is not None else tool_makespan
    cp = critical_path_s(record, latencies)
    failed = any(p.startswith("run failed") for p in problems)
    return measured_record(
        record,
        status="failed" if failed else "succeeded",
        exactly_once=once and not failed,
        order_ok=ordered,
        makespan_s=makespan,
        critical_path_s=cp,
        run_s=run_s,
        problems=problems,
        tool_span_efficiency=round(cp / tool_makespan, 4) if tool_makespan > 0 else 0.0,
    )


def _makespan(spans: Sequence[tuple[float, float]]) -> float:
    return max(e for _, e in spans) - min(s for s, _ in spans) if spans else 0.0


async def replay_baseline(
    engine: Engine, records: Sequence[DagRecord], latency: LatencySpec, *, seed: int = 0
) -> ReplayReport:
    """Replay every record on ``engine``, one after the other, as ``replay`` does."""
    results = [await replay_baseline_record(engine, r, latency, seed=seed) for r in records]
    return ReplayReport(
        records=results,
        summary=summarize(results),
        settings={"engine": engine, "tool_latency": str(latency), "seed": seed},
    )
