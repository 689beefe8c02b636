"""Planner quality on gold task graphs, scored the TaskBench way.

The real planner (``orchestra.agents.planner.plan_goal``, with its validation and repair
rounds) decomposes each record's goal, seeing the record's tools. Each leaf task of the
plan stands for the tool calls it names (``DraftTask.tools``); a dependency between two
leaves (their own, or one inherited from an ancestor) links every tool of the one to
every tool of the other. Against the gold DAG, per record:

* **node F1**: tool names as a multiset (a tool called twice counts twice);
* **edge F1**: (tool, tool) dependency pairs as a multiset, both sides transitively
  reduced first so implied edges do not count (two empty edge sets agree: F1 1.0);
* **exact**: both multisets equal.

A leaf naming no tool stands for no call, but dependencies through it still order the
tools around it. A record without a valid plan scores 0 on both F1s (also when its gold
DAG has no edges). Every tool a gold DAG calls must be among its record's tools (the
planner is shown only those).

Over the records: the means of node and edge F1, the exact-DAG rate, and how many plans
were valid on the first try, valid after repair rounds, or never valid (scored 0).

With ``plan_samples=K`` (K > 1) each goal goes through plan sampling
(:func:`orchestra.agents.plan_sampling.sample_plans`: K samples, the plan critic chooses,
the same model playing both) and the chosen plan is scored; the first sample is exactly
the single-shot plan, so its scores are reported next to it (``k1_*``), with the tokens
of both. The validity counts then describe that first sample. With
``plan_sampling="one_call"`` one planner call writes the K plans: the "first sample" is
the first plan of that reply and its tokens an estimate (the prompt and a K-th of the
reply). Each record also says how many of its K plans were valid (``valid_samples``) and
who chose (``chosen_by``; ``plan_choice="votes"``: no critic call).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel

from orchestra.agents.calls import metered
from orchestra.agents.plan_sampling import (
    PlanChoiceMode,
    PlanSamplingMode,
    check_plan_sampling,
    sample_plans,
)
from orchestra.agents.planner import plan_goal
from orchestra.core.errors import InputError, PlanningError
from orchestra.core.plan import HARD_MAX_TASKS_PER_LEVEL, DraftTask, PlanDraft
from orchestra.core.plan_selection import PlanSelection
from orchestra.core.tree import TaskTree
from orchestra.core.usage import DEFAULT_PRICES
from orchestra.evals.dags import DagRecord, transitive_reduction

__all__ = ["PlanScore", "PlanEvalReport", "PlanEvalSummary", "evaluate_plans", "score_plan"]


class PlanScore(BaseModel):
    """How one plan compares with its record's gold DAG."""

    id: str
    valid: str
    """``first_try``, ``after_repair`` or ``invalid``."""
    node_f1: float
    edge_f1: float
    exact: bool
    predicted_tools: list[str]
    gold_tools: list[str]
    model_calls: int
    seconds: float
    error: str | None = None
    tokens: int = 0
    """Tokens spent planning this record (the whole sampling stage with K > 1)."""
    k1_node_f1: float | None = None
    """With K > 1: the single-shot plan's (the first sample's) node F1."""
    k1_edge_f1: float | None = None
    k1_exact: bool | None = None
    k1_tokens: int | None = None
    """With K > 1: what the single-shot plan cost (one sample, on average)."""
    valid_samples: int | None = None
    """With K > 1: how many of the K plans were valid (0 when none was)."""
    chosen_by: str | None = None
    """With K > 1: who chose the plan scored (see ``PlanSelection.chosen_by``)."""
    alternatives: int | None = None
    """With ``plan_sampling="alternatives"``: the usable alternatives the plan came with
    (``valid_samples`` is then None: one plan was written)."""
    alternatives_left_out: int | None = None
    """With ``plan_sampling="alternatives"``: the alternatives left out, and why, in the
    plan selection's ``rejected``."""


class PlanEvalSummary(BaseModel):
    """Means and counts over the records."""

    n: int
    node_f1: float
    edge_f1: float
    exact_rate: float
    valid_first_try: int
    valid_after_repair: int
    invalid: int
    plan_samples: int = 1
    tokens_per_record: float = 0.0
    k1_node_f1: float | None = None
    """With K > 1: the same means for the single-shot plans (first samples)."""
    k1_edge_f1: float | None = None
    k1_exact_rate: float | None = None
    k1_tokens_per_record: float | None = None
    valid_samples_per_record: float | None = None
    """With K > 1: valid plans a record, of K (None with ``plan_sampling="alternatives"``)."""
    alternatives_per_record: float | None = None
    """With ``plan_sampling="alternatives"``: usable alternatives a record."""


class PlanEvalReport(BaseModel):
    """``orchestra eval plan --json`` prints this."""

    records: list[PlanScore]
    summary: PlanEvalSummary
    settings: dict[str, Any]


def _f1(predicted: Counter[Any], gold: Counter[Any]) -> float:
    if not predicted and not gold:
        return 1.0
    hits = sum((predicted & gold).values())
    if not hits:
        return 0.0
    precision, recall = hits / sum(predicted.values()), hits / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def _leaves(
    tasks: Sequence[DraftTask], inherited: Sequence[str] = ()
) -> list[tuple[DraftTask, list[str]]]:
    """Leaves with the ids of the tasks they must wait for (their own and inherited)."""
    out: list[tuple[DraftTask, list[str]]] = []
    for task in tasks:
        waits = [*inherited, *task.depends_on]
        if task.subtasks:
            out.extend(_leaves(task.subtasks, waits))
        else:
            out.append((task, waits))
    return out


def _leaf_ids(task: DraftTask) -> list[str]:
    return [task.id] if not task.subtasks else [i for t in task.subtasks for i in _leaf_ids(t)]


def plan_graph(plan: PlanDraft) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """The plan as a tool graph: tool-name multiset and (tool, tool) edge multiset."""
    by_id: dict[str, DraftTask] = {}
    stack = list(plan.tasks)
    while stack:
        task = stack.pop()
        by_id[task.id] = task
        stack.extend(task.subtasks)
    leaves = _leaves(plan.tasks)
    tools_of = {leaf.id: leaf.tools for leaf, _ in leaves}
    leaf_edges = set()
    for leaf, waits in leaves:
        for wait in waits:
            for before in _leaf_ids(by_id[wait]) if wait in by_id else []:
                if before != leaf.id:
                    leaf_edges.add((before, leaf.id))
    nodes = Counter(t for leaf, _ in leaves for t in leaf.tools)
    edges = Counter(
        (a, b)
        for before, after in transitive_reduction(_through_toolless(leaf_edges, tools_of))
        for a in tools_of[before]
        for b in tools_of[after]
    )
    return nodes, edges


def _through_toolless(
    edges: set[tuple[str, str]], tools_of: dict[str, list[str]]
) -> set[tuple[str, str]]:
    """``edges`` between leaves with tools, a leaf without tools bridged, not a break.

    A leaf naming no tool stands for no tool call, but the order through it stands: with
    ``a -> b -> c`` and ``b`` naming none, ``a``'s tools come before ``c``'s. The result
    links each leaf with tools to those it reaches through leaves without (same
    reachability between leaves with tools, so the same transitive reduction).
    """
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
    linked: set[tuple[str, str]] = set()
    for start in [leaf for leaf, tools in tools_of.items() if tools]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for nxt in succ.get(stack.pop(), ()):
                if nxt in seen:
                    continue
                seen.add(nxt)
                if tools_of.get(nxt):
                    linked.add((start, nxt))
                else:
                    stack.append(nxt)
    return linked


def gold_graph(record: DagRecord) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """The gold DAG as a tool graph (edges transitively reduced)."""
    tool = {n.id: n.tool for n in record.nodes}
    nodes = Counter(n.tool for n in record.nodes)
    edges = Counter((tool[a], tool[b]) for a, b in transitive_reduction(record.edges()))
    return nodes, edges


def score_plan(record: DagRecord, plan: PlanDraft | None) -> tuple[float, float, bool, list[str]]:
    """Node F1, edge F1, exactness and the predicted tool names of ``plan``.

    ``plan`` None (no valid plan) scores 0 on both: its empty edge set does not "agree"
    with a gold DAG without edges, as a plan that rightly names no dependency does.
    """
    gold_nodes, gold_edges = gold_graph(record)
    if plan is None:
        return 0.0, 0.0, False, []
    nodes, edges = plan_graph(plan)
    exact = nodes == gold_nodes and edges == gold_edges
    return _f1(nodes, gold_nodes), _f1(edges, gold_edges), exact, sorted(nodes.elements())


async def plan_record(
    model: BaseChatModel,
    record: DagRecord,
    *,
    max_depth: int = 3,
    max_repairs: int = 2,
    plan_samples: int = 1,
    plan_sampling: PlanSamplingMode = "parallel",
    plan_choice: PlanChoiceMode = "critic",
) -> PlanScore:
    """Let the planner decompose ``record``'s goal with its tools, and score the plan."""
    tree = TaskTree.for_goal(
        record.goal, max_depth, min(max(8, len(record.nodes)), HARD_MAX_TASKS_PER_LEVEL)
    )
    tools = {t.name: t.description or t.name for t in record.tools}
    start = time.perf_counter()
    plan: PlanDraft | None = None
    first: PlanDraft | None = None
    selection: PlanSelection | None = None
    error: str | None = None
    with metered(DEFAULT_PRICES) as meter:
        try:
            if plan_samples > 1:
                plan, selection = await sample_plans(
                    model,
                    model,
                    tree,
                    k=plan_samples,
                    roles=[],
                    tools=tools,
                    prices=DEFAULT_PRICES,
                    max_repairs=max_repairs,
                    fallbacks=True,
                    sampling=plan_sampling,
                    choose=plan_choice,
                )
                first = next((c.draft for c in selection.candidates if 0 in c.samples), None)
            else:
                plan = await plan_goal(model, tree, roles=[], tools=tools, max_repairs=max_repairs)
        except PlanningError as exc:
            error = "; ".join(exc.errors) or str(exc)
    # with samples, the validity of the first one: the single-shot plan
    calls = selection.sample_calls[0] if selection is not None else meter.usage.model_calls
    done = first if selection is not None else plan
    valid = "invalid" if done is None else ("first_try" if calls <= 1 else "after_repair")
    node_f1, edge_f1, exact, predicted = score_plan(record, plan)
    k1: dict[str, Any] = {}
    if plan_samples > 1:
        k1_node, k1_edge, k1_exact, _ = score_plan(record, first)
        k1 = {
            "k1_node_f1": round(k1_node, 4),
            "k1_edge_f1": round(k1_edge, 4),
            "k1_exact": k1_exact,
            "k1_tokens": selection.single_shot_usage.total_tokens if selection else None,
            "valid_samples": (
                sum(len(c.samples) for c in selection.candidates) if selection else 0
            ),
            "chosen_by": selection.chosen_by if selection else None,
        }
        if plan_sampling == "alternatives":
            action = selection.action_tree if selection else None
            k1 |= {
                "valid_samples": None,
                "alternatives": action.alternatives if action else 0,
                "alternatives_left_out": len(selection.rejected) if selection else 0,
            }
    return PlanScore(
        id=record.id,
        valid=valid,
        node_f1=round(node_f1, 4),
        edge_f1=round(edge_f1, 4),
        exact=exact,
        predicted_tools=predicted,
        gold_tools=sorted(n.tool for n in record.nodes),
        model_calls=meter.usage.model_calls,
        seconds=round(time.perf_counter() - start, 3),
        error=error,
        tokens=meter.usage.total_tokens,
        **k1,
    )


async def evaluate_plans(
    model: BaseChatModel,
    records: Sequence[DagRecord],
    *,
    max_repairs: int = 2,
    plan_samples: int = 1,
    plan_sampling: PlanSamplingMode = "parallel",
    plan_choice: PlanChoiceMode = "critic",
    on_record: Callable[[PlanScore], None] | None = None,
    settings: dict[str, Any] | None = None,
) -> PlanEvalReport:
    """Plan and score every record, one after the other (see the module docstring).

    Raises:
        ConfigError: options ``Team`` refuses (see
            :func:`~orchestra.agents.plan_sampling.check_plan_sampling`).
        InputError: a record's gold DAG calls a tool its ``tools`` do not list (the
            planner, shown only those, could never name it).
    """
    check_plan_sampling(plan_samples, plan_sampling, plan_choice)
    for record in records:
        shown = {t.name for t in record.tools}
        missing = sorted({n.tool for n in record.nodes} - shown)
        if missing:
            raise InputError(
                f"record {record.id!r}: its nodes call {missing}, which its tools do not"
                " list; the planner, shown only those, could never name them"
            )
    scores: list[PlanScore] = []
    for record in records:
        score = await plan_record(
            model,
            record,
            max_repairs=max_repairs,
            plan_samples=plan_samples,
            plan_sampling=plan_sampling,
            plan_choice=plan_choice,
        )
        scores.append(score)
        if on_record is not None:
            on_record(score)
    valid = Counter(s.valid for s in scores)
    summary = PlanEvalSummary(
        n=len(scores),
        node_f1=round(statistics.mean(s.node_f1 for s in scores), 4),
        edge_f1=round(statistics.mean(s.edge_f1 for s in scores), 4),
        exact_rate=round(sum(s.exact for s in scores) / len(scores), 4),
        valid_first_try=valid["first_try"],
        valid_after_repair=valid["after_repair"],
        invalid=valid["invalid"],
        plan_samples=plan_samples,
        tokens_per_record=round(statistics.mean(s.tokens for s in scores), 1),
    )
    if plan_samples > 1:
        summary = summary.model_copy(
            update={
                "k1_node_f1": round(statistics.mean(s.k1_node_f1 or 0.0 for s in scores), 4),
                "k1_edge_f1": round(statistics.mean(s.k1_edge_f1 or 0.0 for s in scores), 4),
                "k1_exact_rate": round(sum(bool(s.k1_exact) for s in scores) / len(scores), 4),
                "k1_tokens_per_record": round(statistics.mean(s.k1_tokens or 0 for s in scores), 1),
                "valid_samples_per_record": round(
                    statistics.mean(s.valid_samples or 0 for s in scores), 2
                ),
            }
        )
    if plan_sampling == "alternatives":
        summary = summary.model_copy(
            update={
                "valid_samples_per_record": None,
                "alternatives_per_record": round(
                    statistics.mean(s.alternatives or 0 for s in scores), 2
                ),
            }
        )
    return PlanEvalReport(records=scores, summary=summary, settings=settings or {})
