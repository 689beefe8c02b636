"""Replay gold task graphs through the real engine and measure what it does with them.

For each record a team runs the record's goal (cut to the team's limit if longer): a
scripted planner answers with exactly the gold DAG (one task per node, the gold
dependencies, through the planner's own parsing and validation), each task's executor
calls the node's tool with the node's arguments (references to earlier outputs filled in
from what those nodes returned), stub tools sleep their latency and record when they ran,
a scripted critic accepts each result, and a scripted synthesizer answers. Everything
between (dispatch, roles, tool-call checks, verdicts, the tree, checkpoints in memory) is
orchestra's normal code path.

Per record: ``exactly_once`` (each node's tool ran once, for that node), ``order_ok`` (no
task started before the tasks it depends on finished, and no tool call before its
inputs' calls ended), ``makespan_s`` (first task start to last task end),
``critical_path_s`` (the longest dependency chain, summing the nodes' own latencies),
``efficiency`` = critical_path_s / makespan_s, and ``overhead_ms_per_node`` =
(makespan_s - critical_path_s) / nodes. With ``max_parallel`` below a graph's width the
overhead includes the queueing that limit imposes.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from orchestra.core.events import Event
from orchestra.core.plan import DESCRIPTION_MAX, HARD_MAX_TASKS_PER_LEVEL, TITLE_MAX
from orchestra.core.record import per_task
from orchestra.core.roles import Role
from orchestra.core.usage import AgentUsage, Usage
from orchestra.evals.dags import DagNode, DagRecord, critical_path_s
from orchestra.evals.latency import LatencySpec
from orchestra.team import MAX_GOAL_CHARS, Team
from orchestra.testing import ScriptedCall, ScriptedChatModel, tool_call, verdict

__all__ = [
    "ReplayRecord",
    "ReplayReport",
    "ReplaySummary",
    "StubCalls",
    "replay",
    "replay_record",
    "calls_in_order",
    "calls_once",
    "measured_record",
    "replay_script",
    "resolve_references",
    "skipped_record",
    "stub_tools",
    "summarize",
]

ROLE = "caller"
_NOT_PLAYED = ("skipped", "error")
"""Statuses of records that have no timings (see :func:`skipped_record`)."""
_REFERENCE = re.compile(r"\$\{([^}.]+)(?:\.([^}]+))?\}")


class ReplayRecord(BaseModel):
    """What the replay of one record measured."""

    id: str
    nodes: int
    status: str
    exactly_once: bool
    order_ok: bool
    makespan_s: float
    critical_path_s: float
    efficiency: float
    overhead_ms_per_node: float
    run_s: float
    """The whole run, planning and synthesis included."""
    problems: list[str]
    """Why ``exactly_once`` or ``order_ok`` failed, or the run did not succeed."""
    tool_span_efficiency: float = 0.0
    """The critical path over the first tool call's start to the last one's end: the
    measure engines without tasks around their tool calls are compared on."""
    usage_by_agent: dict[str, AgentUsage] = Field(default_factory=dict)
    """The run's model calls and tokens by agent."""

    @property
    def played(self) -> bool:
        """Whether the record ran to an end (not skipped, no error): it has timings."""
        return self.status not in _NOT_PLAYED


class ReplaySummary(BaseModel):
    """Totals over the records; ``exactly_once`` and ``order_ok`` count records."""

    n: int
    exactly_once: int
    order_ok: int
    median_efficiency: float
    p10_efficiency: float
    median_overhead_ms_per_node: float
    median_tool_span_efficiency: float = 0.0
    p10_tool_span_efficiency: float = 0.0
    median_run_ms: float = 0.0
    model_calls_per_task: dict[str, float] = Field(default_factory=dict)
    """Model calls per node over all records, by agent and ``total``."""
    tokens_per_task: dict[str, float] = Field(default_factory=dict)
    """Tokens (input and output) per node over all records, by agent and ``total``."""


class ReplayReport(BaseModel):
    """``orchestra bench replay --json`` prints this."""

    records: list[ReplayRecord]
    summary: ReplaySummary
    settings: dict[str, Any]


@dataclass
class StubCalls:
    """What the stub tools saw, by node: outputs and each call's (start, end) times."""

    outputs: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    strays: list[str] = field(default_factory=list)
    """Calls no node accounts for."""
    signatures: dict[str, str] = field(default_factory=dict)
    """Nodes' resolved calls, kept once every output they refer to is known."""


def resolve_references(value: Any, outputs: Mapping[str, Any]) -> Any:
    """``value`` with ``${nJ}`` / ``${nJ.field}`` references replaced by the outputs."""
    if isinstance(value, dict):
        return {k: resolve_references(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, outputs) for v in value]
    if not isinstance(value, str):
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return _lookup(outputs, whole.group(1), whole.group(2))
    return _REFERENCE.sub(lambda m: _text(_lookup(outputs, m.group(1), m.group(2))), value)


def _lookup(outputs: Mapping[str, Any], node: str, path: str | None) -> Any:
    value = outputs.get(node, f"<{node} not done>")
    for part in (path or "").split(".") if path else []:
        value = value.get(part, f"<{node}.{path}>") if isinstance(value, dict) else value
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _output(record: DagRecord, node_id: str) -> dict[str, Any]:
    """What a stub returns for a node: its declared fields, each naming where it came from."""
    node = record.node(node_id)
    tool = next((t for t in record.tools if t.name == node.tool), None)
    fields = [str(r.get("name")) for r in (tool.returns if tool else []) if r.get("name")]
    return {f: f"{node_id}.{f}" for f in fields} or {"result": f"output of {node_id}"}


def _signature(tool: str, args: Mapping[str, Any]) -> str:
    return json.dumps([tool, args], sort_keys=True, default=str)


def stub_tools(record: DagRecord, latency: Mapping[str, float], calls: StubCalls) -> list[BaseTool]:
    """One stub per tool name: it finds the node it serves by its resolved arguments."""
    names = dict.fromkeys([*(t.name for t in record.tools), *(n.tool for n in record.nodes)])
    described = {t.name: t for t in record.tools}
    tools: list[BaseTool] = []
    for name in names:
        spec = described.get(name)
        properties = (spec.parameters.get("properties") if spec else None) or {}
        if not isinstance(properties, dict):
            properties = {}
        # Permissive on purpose: resolved references need not match the declared types.
        schema = {
            "type": "object",
            "properties": {
                str(p): {
                    "description": str(v.get("description", "")) if isinstance(v, dict) else ""
                }
                for p, v in properties.items()
            },
        }
        tools.append(
            StructuredTool(
                name=name,
                description=(spec.description if spec else "") or name,
                args_schema=schema,
                coroutine=_stub(record, name, latency, calls),
            )
        )
    return tools


def _stub(
    record: DagRecord, tool: str, latency: Mapping[str, float], calls: StubCalls
) -> Callable[..., Awaitable[Any]]:
    """The coroutine of ``tool``'s stub.

    Every argument name is the call's own (a tool may declare any, ``_tool`` or ``self``
    included): none is taken by the stub.
    """

    async def run(**kwargs: Any) -> Any:
        node_id = _claim(record, calls, tool, kwargs)
        start = time.perf_counter()
        if node_id is not None:
            await asyncio.sleep(latency[node_id])
        end = time.perf_counter()
        if node_id is None:
            calls.strays.append(tool)
            return {"error": "no gold node makes this call"}
        calls.spans.setdefault(node_id, []).append((start, end))
        calls.outputs[node_id] = _output(record, node_id)
        return calls.outputs[node_id]

    return run


def _node_signature(node: DagNode, calls: StubCalls) -> str:
    """The call ``node`` makes, as far as the outputs it refers to are known.

    Kept once they all are (they do not change): a stub's lookup stays cheap in a wide
    graph, where it would otherwise resolve every node's arguments at every call.
    """
    known = calls.signatures.get(node.id)
    if known is not None:
        return known
    signature = _signature(node.tool, resolve_references(node.args, calls.outputs))
    referred = {m.group(1) for m in _REFERENCE.finditer(json.dumps(node.args, default=str))}
    if referred <= calls.outputs.keys():
        calls.signatures[node.id] = signature
    return signature


def _claim(record: DagRecord, calls: StubCalls, tool: str, args: Mapping[str, Any]) -> str | None:
    """The node a call serves: same tool, same resolved arguments, not yet called.

    When several nodes are identical, the first whose inputs are done.
    """
    wanted = _signature(tool, args)
    candidates = [
        n
        for n in record.nodes
        if n.tool == tool and n.id not in calls.spans and _node_signature(n, calls) == wanted
    ]
    ready = [n for n in candidates if all(d in calls.outputs for d in n.deps)]
    chosen = (ready or candidates)[:1]
    if not chosen:
        return None
    calls.spans[chosen[0].id] = []  # claimed: an identical later call is another node's
    return chosen[0].id


def replay_script(
    record: DagRecord, task_ids: Mapping[str, str], calls: StubCalls
) -> dict[str, Any]:
    """The scripted model's script: the gold plan, each node's call, passing verdicts.

    ``task_ids`` maps node ids to the plan's task ids (node ids need not be valid ones).
    """
    node_of = {task: node for node, task in task_ids.items()}
    tasks = []
    for node in record.nodes:
        args = json.dumps(node.args, default=str)
        tasks.append(
            {
                "id": task_ids[node.id],
                "title": f"{node.tool} ({node.id})"[:TITLE_MAX],
                "description": f"Call {node.tool} with {args}"[:DESCRIPTION_MAX],
                "depends_on": [task_ids[d] for d in node.deps],
                "role": ROLE,
            }
        )

    def executor(call: ScriptedCall) -> Any:
        node = record.node(node_of[call.task_id or ""])
        results = [m for m in call.messages if isinstance(m, ToolMessage)]
        if results:
            return f"{node.id} done: {results[-1].text[:200]}"
        return tool_call(node.tool, resolve_references(node.args, calls.outputs))

    return {
        "planner": [{"tasks": tasks}],
        "executor": executor,
        "critic": verdict("pass"),
        "synthesizer": f"replayed {len(record.nodes)} node(s)",
    }


def _team(
    record: DagRecord,
    tools: list[BaseTool],
    model: ScriptedChatModel,
    max_parallel: int,
    finish_on_tool: bool,
) -> Team:
    return Team(
        model,
        tools=tools,
        roles=[
            Role(
                name=ROLE,
                instructions="Make the call the task names.",
                tools=[t.name for t in tools],
                finish_on_tool=finish_on_tool,
            )
        ],
        max_depth=1,
        max_tasks_per_level=min(max(len(record.nodes), 2), HARD_MAX_TASKS_PER_LEVEL),
        max_parallel=max_parallel,
        max_attempts=1,
        fallbacks=False,
        checkpointer="memory",
        history=False,
        name=f"replay-{record.id}"[:60],
    )


async def replay_record(
    record: DagRecord,
    latency: LatencySpec,
    *,
    seed: int = 0,
    max_parallel: int | None = None,
    finish_on_tool: bool = True,
) -> ReplayRecord:
    """Replay one record (see the module docstring); ``max_parallel`` None = its size.

    ``finish_on_tool``: the role's tasks end with their tool's result
    (``Role(finish_on_tool=True)``, one executor call a task); False: the executor is asked
    again after the call, as a role without it is.
    """
    if len(record.nodes) > HARD_MAX_TASKS_PER_LEVEL:
        return skipped_record(record, f"more than {HARD_MAX_TASKS_PER_LEVEL} nodes")
    latencies = {n.id: latency.draw(seed, record.id, n.id) for n in record.nodes}
    task_ids = {node.id: f"t{i}" for i, node in enumerate(record.nodes)}
    calls = StubCalls()
    model = ScriptedChatModel(replay_script(record, task_ids, calls))
    started: dict[str, float] = {}
    finished: dict[str, float] = {}
    tool_events: dict[str, int] = {}

    def watch(event: Event) -> None:
        now = time.perf_counter()
        if event.type == "task_started":
            started.setdefault(event.task_id, now)
        elif event.type == "task_finished":
            finished[event.task_id] = now
        elif event.type == "tool_called" and event.ok:
            tool_events[event.task_id] = tool_events.get(event.task_id, 0) + 1

    begin = time.perf_counter()
    try:
        team = _team(
            record,
            stub_tools(record, latencies, calls),
            model,
            max_parallel or len(record.nodes),
            finish_on_tool,
        )
        result = await team.arun(_goal(record), on_event=watch)
    except Exception as exc:  # one record's crash must not lose the others' measures
        return skipped_record(record, f"the run raised {type(exc).__name__}: {exc}", status="error")
    run_s = time.perf_counter() - begin
    problems = [] if result.succeeded else [f"run {result.status.value}: {result.reason}"]
    by_node = {node: tool_events.get(task, 0) for node, task in task_ids.items()}
    once = calls_once(record, calls, by_node, "calls by its task", problems)
    ordered = _check_order(record, task_ids, calls, started, finished, problems)
    cp = critical_path_s(record, latencies)
    ends = [finished[t] for t in task_ids.values() if t in finished]
    begins = [started[t] for t in task_ids.values() if t in started]
    makespan = (max(ends) - min(begins)) if ends and begins else 0.0
    spans = [span for node in calls.spans.values() for span in node]
    tool_makespan = (max(e for _, e in spans) - min(b for b, _ in spans)) if spans else 0.0
    return measured_record(
        record,
        status=result.status.value,
        exactly_once=once and result.succeeded,
        order_ok=ordered,
        makespan_s=makespan,
        critical_path_s=cp,
        run_s=run_s,
        problems=problems,
        tool_span_efficiency=round(cp / tool_makespan, 4) if tool_makespan > 0 else 0.0,
        usage_by_agent=result.usage.by_agent,
    )


def _goal(record: DagRecord) -> str:
    """The record's goal as the team gets it, cut to the team's limit.

    The scripted plan, not the goal, decides what runs.
    """
    return record.goal.strip()[:MAX_GOAL_CHARS]


def measured_record(
    record: DagRecord,
    *,
    status: str,
    exactly_once: bool,
    order_ok: bool,
    makespan_s: float,
    critical_path_s: float,
    run_s: float,
    problems: list[str],
    **extra: Any,
) -> ReplayRecord:
    """The entry of a replayed record: efficiency and overhead from its makespan."""
    makespan, cp = makespan_s, critical_path_s
    return ReplayRecord(
        id=record.id,
        nodes=len(record.nodes),
        status=status,
        exactly_once=exactly_once,
        order_ok=order_ok,
        makespan_s=round(makespan, 6),
        critical_path_s=round(cp, 6),
        efficiency=round(cp / makespan, 4) if makespan > 0 else 0.0,
        overhead_ms_per_node=round((makespan - cp) / len(record.nodes) * 1000, 3),
        run_s=round(run_s, 6),
        problems=problems,
        **extra,
    )


def calls_once(
    record: DagRecord,
    calls: StubCalls,
    counted: Mapping[str, int],
    counted_as: str,
    problems: list[str],
) -> bool:
    """Whether each node's tool ran once and the engine counted it once.

    ``counted`` is the engine's count by node id (``counted_as`` names it in problems);
    each miss goes into ``problems``.
    """
    ok = True
    for node in record.nodes:
        ran, seen = len(calls.spans.get(node.id, [])), counted.get(node.id, 0)
        if ran != 1 or seen != 1:
            ok = False
            problems.append(f"{node.id}: tool ran {ran} time(s), {counted_as} {seen}")
    if calls.strays:
        ok = False
        problems.append(f"calls no node accounts for: {calls.strays}")
    return ok


def _check_order(
    record: DagRecord,
    task_ids: Mapping[str, str],
    calls: StubCalls,
    started: Mapping[str, float],
    finished: Mapping[str, float],
    problems: list[str],
) -> bool:
    ok = True
    for node in record.nodes:
        for dep in node.deps:
            task, before = task_ids[node.id], task_ids[dep]
            if task in started and (before not in finished or started[task] < finished[before]):
                ok = False
                problems.append(f"{node.id} started before {dep} finished")
    return calls_in_order(record, calls, problems) and ok


def calls_in_order(record: DagRecord, calls: StubCalls, problems: list[str]) -> bool:
    """Whether no node's tool call started before its inputs' calls ended.

    Each call that did goes into ``problems``.
    """
    ok = True
    for node in record.nodes:
        mine = calls.spans.get(node.id)
        for dep in node.deps:
            theirs = calls.spans.get(dep)
            if mine and (not theirs or mine[0][0] < theirs[-1][1]):
                ok = False
                problems.append(f"{node.id}'s call started before {dep}'s call ended")
    return ok


def skipped_record(record: DagRecord, why: str, *, status: str = "skipped") -> ReplayRecord:
    """The entry of a record that could not be replayed, and why.

    ``status``: ``skipped`` (not tried) or ``error`` (the run raised instead of ending);
    either breaks exactly-once and order, and neither counts in the timing statistics.
    """
    return ReplayRecord(
        id=record.id,
        nodes=len(record.nodes),
        status=status,
        exactly_once=False,
        order_ok=False,
        makespan_s=0.0,
        critical_path_s=0.0,
        efficiency=0.0,
        overhead_ms_per_node=0.0,
        run_s=0.0,
        problems=[why],
    )


async def replay(
    records: Sequence[DagRecord],
    latency: LatencySpec,
    *,
    seed: int = 0,
    max_parallel: int | None = None,
    on_record: Callable[[ReplayRecord], None] | None = None,
    finish_on_tool: bool = True,
) -> ReplayReport:
    """Replay every record, one after the other (so their timings do not mix)."""
    results: list[ReplayRecord] = []
    for record in records:
        done = await replay_record(
            record,
            latency,
            seed=seed,
            max_parallel=max_parallel,
            finish_on_tool=finish_on_tool,
        )
        results.append(done)
        if on_record is not None:
            on_record(done)
    return ReplayReport(
        records=results,
        summary=summarize(results),
        settings={
            "tool_latency": str(latency),
            "seed": seed,
            "max_parallel": max_parallel,
            "finish_on_tool": finish_on_tool,
        },
    )


def summarize(records: Sequence[ReplayRecord]) -> ReplaySummary:
    """Counts and the efficiency and overhead statistics over ``records``."""
    played = [r for r in records if r.played] or list(records)
    efficiency = [r.efficiency for r in played]
    overhead = [r.overhead_ms_per_node for r in played]
    spans = [r.tool_span_efficiency for r in played]
    return ReplaySummary(
        n=len(records),
        exactly_once=sum(r.exactly_once for r in records),
        order_ok=sum(r.order_ok for r in records),
        median_efficiency=round(statistics.median(efficiency), 4),
        p10_efficiency=round(_percentile(efficiency, 10), 4),
        median_overhead_ms_per_node=round(statistics.median(overhead), 3),
        median_tool_span_efficiency=round(statistics.median(spans), 4),
        p10_tool_span_efficiency=round(_percentile(spans, 10), 4),
        median_run_ms=round(statistics.median(r.run_s for r in played) * 1000, 2),
        **_per_node(played),
    )


def _per_node(records: Sequence[ReplayRecord]) -> dict[str, dict[str, float]]:
    """Model calls and tokens per node over ``records``, by agent and in total."""
    nodes = sum(r.nodes for r in records)
    total = Usage()
    for record in records:
        total += Usage(
            model_calls=sum(u.model_calls for u in record.usage_by_agent.values()),
            input_tokens=sum(u.input_tokens for u in record.usage_by_agent.values()),
            output_tokens=sum(u.output_tokens for u in record.usage_by_agent.values()),
            by_agent=record.usage_by_agent,
        )
    if not nodes or not total.by_agent:
        return {}
    return per_task(total, nodes)


def _percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile, linearly interpolated (the value itself for one)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
