"""The planner agent: goal → validated task plan, and failed task → replacement plan."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from pydantic import JsonValue, ValidationError

from orchestra.agents.calls import AgentCall, ask_structured, echo_reply, validation_messages
from orchestra.agents.context import (
    DEFAULT_MAX_DEPENDENCY_CHARS,
    describe_roles,
    describe_task,
    describe_tools,
    goal_request,
)
from orchestra.agents.lead import children_digest
from orchestra.agents.list_reply import ask_list_once
from orchestra.agents.prompts import render
from orchestra.core.action_tree import ProposedAlternative, proposal_problem, with_alternative
from orchestra.core.errors import PlanningError
from orchestra.core.plan import (
    ID_PATTERN,
    MAX_TASKS_PER_LEVEL,
    PlanDraft,
    plan_errors,
    salvage_plan,
    single_task_plan,
    walk_tasks,
)
from orchestra.core.roles import Role, RoleSpec
from orchestra.core.tree import ROOT_ID, TaskTree
from orchestra.models.structured import json_schema_of

__all__ = [
    "METADATA_ALTERNATIVES",
    "METADATA_SAMPLES",
    "AlternativesCall",
    "PlanWithAlternatives",
    "ON_DEMAND_LEVELS",
    "SamplesCall",
    "decompose_task",
    "draft_errors",
    "fallback_plan",
    "plan_goal",
    "plan_goal_samples",
    "plan_goal_with_alternatives",
    "plan_schema",
    "replan_subtree",
    "replan_task",
]

METADATA_SAMPLES = "orchestra_samples"
"""Call metadata key: how many plans one call is asked for (see :class:`SamplesCall`)."""

MAX_DROPPED_NOTED = 20
"""How many left-out alternatives a plan's record lists one by one."""

METADATA_ALTERNATIVES = "orchestra_alternatives"
"""Call metadata key: how many ways to do a task a plan-with-alternatives call may write
(see :class:`AlternativesCall`)."""

ON_DEMAND_LEVELS = 2
"""How deep an on-demand plan goes; tasks below are decomposed when they are ready."""

ON_DEMAND_RULE = (
    "- Plan only one or two levels now. Set `decompose` to true on a task that is big, or"
    " that is best broken down once the tasks it depends on have finished (their results"
    " are shown to whoever breaks it down then); such a task has no `subtasks` now."
)


async def plan_goal(
    model: BaseChatModel,
    tree: TaskTree,
    *,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int = 2,
    sample: int = 0,
    on_demand: bool = False,
) -> PlanDraft:
    """Decompose the tree's goal into a plan of subtasks (``sample``: which of several).

    ``on_demand``: the plan goes one or two levels deep and may mark tasks to be
    decomposed later by their leads (``decompose``), when their prerequisites are done.

    Raises:
        PlanningError: the plan stayed invalid after ``max_repairs`` repairs; it carries
            every raw reply.
    """
    return await _decompose(
        model,
        tree,
        template="planner",
        request=goal_request(tree),
        task_id=ROOT_ID,
        base_depth=0,
        roles=roles,
        tools=tools,
        max_repairs=max_repairs,
        sample=sample,
        on_demand=on_demand,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplesCall(AgentCall):
    """A planner call asked for several plans at once (plan sampling in one call).

    ``samples`` travels in the call's metadata under :data:`METADATA_SAMPLES`, so tracers,
    the embedded model (whose output budget grows with it) and
    ``orchestra.testing.ScriptedChatModel`` can tell the call apart.
    """

    samples: int = 1

    def config(self) -> RunnableConfig:
        """A runnable config that carries this call's identity and its plan count."""
        config = AgentCall.config(self)  # (a slotted dataclass: no bare super())
        config["metadata"] = {**config.get("metadata", {}), METADATA_SAMPLES: self.samples}
        return config


async def plan_goal_samples(
    model: BaseChatModel,
    tree: TaskTree,
    *,
    k: int,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int = 2,
    on_demand: bool = False,
) -> list[PlanDraft | PlanningError]:
    """``k`` plans for the tree's goal from one planner call: each a plan or why not.

    The planner's prompt is sent once (``k`` separate samples would send it ``k`` times)
    and the reply holds ``k`` plans, ``{"plans": [...]}`` (a schema-following model must
    write all ``k``), each validated on its own like :func:`plan_goal`'s plan; the model
    is asked to let them differ where the goal could be done more than one way, best
    first. An invalid or missing plan becomes a :class:`PlanningError` in its place; only
    a reply with no valid plan at all is sent back with what was wrong (at most
    ``max_repairs`` times), so one bad plan never costs the good ones. The list holds the
    reply's plans in order, at least ``k`` entries: with more plans than asked, they are
    read until ``k`` are valid.
    """
    system, plan = _goal_frame(tree, roles=roles, tools=tools, on_demand=on_demand)
    definitions = plan.pop("$defs")
    schema = {
        "title": "PlanSamples",
        "description": f"Up to {k} plans for the goal, best first.",
        "type": "object",
        "properties": {"plans": {"type": "array", "items": plan, "minItems": k, "maxItems": k}},
        "required": ["plans"],
        "$defs": definitions,
    }
    messages = [
        SystemMessage(content=system + "\n\n" + render("planner_samples", k=k)),
        HumanMessage(content=goal_request(tree)),
    ]
    raws: list[str] = []
    results: list[PlanDraft | PlanningError] = []
    for round_ in range(max_repairs + 1):
        call = SamplesCall(agent="planner", task_id=ROOT_ID, repair=round_, samples=k)
        raw, data, problem = await ask_list_once(model, messages, call, schema, "plans")
        raws.append(raw)
        results = _read_plans(data, problem, k, tree, tools=tools, on_demand=on_demand)
        if any(isinstance(r, PlanDraft) for r in results):
            break
        errors = sorted({e for r in results if isinstance(r, PlanningError) for e in r.errors})
        messages += [
            AIMessage(content=echo_reply(raw)),
            HumanMessage(content=render("repair", errors="\n".join(f"- {e}" for e in errors))),
        ]
    return [
        r
        if isinstance(r, PlanDraft)
        else PlanningError(str(r), agent="planner", raw_outputs=list(raws), errors=r.errors)
        for r in results
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlternativesCall(AgentCall):
    """A planner call asked for a plan and alternatives to its tasks (up to ``ways`` a task).

    ``ways`` travels in the call's metadata under :data:`METADATA_ALTERNATIVES`, as
    :class:`SamplesCall`'s count does.
    """

    ways: int = 2

    def config(self) -> RunnableConfig:
        """A runnable config that carries this call's identity and how many ways a task."""
        config = AgentCall.config(self)
        config["metadata"] = {**config.get("metadata", {}), METADATA_ALTERNATIVES: self.ways}
        return config


class _PlanReply(PlanDraft):
    """A plan-with-alternatives reply as read: the plan, and its alternatives unread.

    The alternatives may be anything here, so what is wrong with them never sends the
    plan back for repair (:func:`_read_alternatives` reads them).
    """

    alternatives: JsonValue = None


@dataclass(frozen=True, slots=True)
class PlanWithAlternatives:
    """A plan and what its planner would do instead of some of its tasks."""

    draft: PlanDraft
    alternatives: list[ProposedAlternative] = field(default_factory=list)
    """The usable alternatives, in the reply's order (each swaps in to a valid plan)."""
    dropped: list[tuple[int, str]] = field(default_factory=list)
    """The alternatives left out: their place in the reply (from 1; 0: the whole list) and
    why; at most :data:`MAX_DROPPED_NOTED` of them, the last one counting the rest."""
    plan_share: float = 1.0
    """The plan's share of the reply (by characters): what the plan alone would have
    cost of the reply's output tokens."""


async def plan_goal_with_alternatives(
    model: BaseChatModel,
    tree: TaskTree,
    *,
    ways: int,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int = 2,
    on_demand: bool = False,
) -> PlanWithAlternatives:
    """One call: a plan for the tree's goal and, for tasks that could go another way, how.

    The reply is ``{"tasks": [...], "alternatives": [{"instead_of": id, "tasks": [...]}]}``:
    the plan as :func:`plan_goal` asks for it (validated and repaired the same way), and
    for each task the planner is unsure of up to ``ways - 1`` other ways to do it, best
    first (one task, or several with dependencies among themselves). Alternatives are
    optional and never cost a repair: the list, or one of them, that does not parse, one
    that names no task of the plan or a task broken into subtasks (only a task done as
    one takes an alternative), repeats its task, depends on tasks outside its own (it
    takes the prerequisites of the task it replaces), is one too many for its task, or
    would not leave a valid plan in its task's place is left out with why
    (:attr:`PlanWithAlternatives.dropped`).

    Raises:
        PlanningError: the plan stayed invalid after ``max_repairs`` repairs.
    """
    system, schema = _goal_frame(tree, roles=roles, tools=tools, on_demand=on_demand)
    level = schema["properties"]["tasks"]
    schema["properties"]["alternatives"] = {
        "type": "array",
        "description": f"For tasks that could be done another way: up to {ways - 1} each.",
        "items": {
            "type": "object",
            "properties": {
                "instead_of": {"type": "string", "pattern": ID_PATTERN},
                "tasks": {**level, "minItems": 1},
            },
            "required": ["instead_of", "tasks"],
        },
        "maxItems": (ways - 1) * tree.max_tasks_per_level,
    }
    schema["required"] = [*schema.get("required", []), "alternatives"]
    schema["title"] = "PlanWithAlternatives"
    messages = [
        SystemMessage(content=system + "\n\n" + render("planner_alternatives", others=ways - 1)),
        HumanMessage(content=goal_request(tree)),
    ]
    reply = await ask_structured(
        model,
        messages,
        _PlanReply,
        AlternativesCall(agent="planner", task_id=ROOT_ID, ways=ways),
        json_schema=schema,
        check=lambda draft: draft_errors(draft, tree, tools=tools, on_demand=on_demand),
        max_repairs=max_repairs,
        error=PlanningError,
    )
    draft = PlanDraft.model_construct(tasks=reply.tasks, keep=None)
    items = reply.alternatives
    dropped: list[tuple[int, str]] = []
    if not isinstance(items, list):
        if items is not None:
            dropped.append((0, f"alternatives is not a list but {type(items).__name__}"))
        items = []
    kept, left_out = _read_alternatives(items, draft, ways, tree, tools=tools, on_demand=on_demand)
    dropped += left_out
    if len(dropped) > MAX_DROPPED_NOTED:
        more = len(dropped) - MAX_DROPPED_NOTED + 1
        dropped = [*dropped[: MAX_DROPPED_NOTED - 1], (0, f"{more} more left out")]
    plan_chars = len(json.dumps(draft.model_dump(mode="json")["tasks"]))
    other_chars = len(json.dumps(reply.alternatives)) if reply.alternatives else 0
    return PlanWithAlternatives(
        draft=draft,
        alternatives=kept,
        dropped=dropped,
        plan_share=plan_chars / (plan_chars + other_chars),
    )


def _read_alternatives(
    items: Sequence[JsonValue],
    draft: PlanDraft,
    ways: int,
    tree: TaskTree,
    *,
    tools: dict[str, str],
    on_demand: bool,
) -> tuple[list[ProposedAlternative], list[tuple[int, str]]]:
    """The usable alternatives of a reply, in order, and the others with why (see above)."""
    ids = {t.id: t for t in walk_tasks(draft.tasks)}
    kept: list[ProposedAlternative] = []
    dropped: list[tuple[int, str]] = []
    per_task: Counter[str] = Counter()
    for n, item in enumerate(items, 1):
        try:
            proposal = ProposedAlternative.model_validate(item)
        except ValidationError as exc:
            dropped.append((n, "; ".join(validation_messages(exc))))
            continue
        problem = proposal_problem(ids, proposal)
        if problem is not None:
            dropped.append((n, problem))
            continue
        if per_task[proposal.instead_of] >= ways - 1:
            dropped.append((n, f"more than {ways - 1} alternatives for {proposal.instead_of!r}"))
            continue
        swapped = with_alternative(draft, proposal)
        errors = draft_errors(swapped, tree, tools=tools, on_demand=on_demand)
        if errors:
            dropped.append((n, "in its task's place: " + "; ".join(errors)))
            continue
        kept.append(proposal)
        per_task[proposal.instead_of] += 1
    return kept, dropped


def _read_plans(
    data: Any,
    problem: Exception | None,
    k: int,
    tree: TaskTree,
    *,
    tools: dict[str, str],
    on_demand: bool,
) -> list[PlanDraft | PlanningError]:
    """The plans of a samples reply in order, each valid or what is wrong with it.

    Read until ``k`` are valid (a reply with more plans than asked: the first ``k`` valid
    ones count; at most ``2 * k`` are read), then padded with errors to ``k`` entries.
    """
    items = data.get("plans") if isinstance(data, dict) else None
    if not isinstance(items, list):
        why = str(problem) if data is None and problem else 'the reply has no "plans" list'
        items = []
    else:
        why = "the reply had no plan here" + (f" ({problem})" if problem else "")
    out: list[PlanDraft | PlanningError] = []
    for n in range(max(k, min(len(items), 2 * k))):
        if sum(isinstance(o, PlanDraft) for o in out) == k:
            break
        errors = [f"plans[{n}]: {why}"]
        if n < len(items):
            try:
                draft = PlanDraft.model_validate(items[n])
            except ValidationError as exc:
                errors = [f"plans[{n}].{e}" for e in validation_messages(exc)]
            else:
                found = draft_errors(draft, tree, tools=tools, on_demand=on_demand)
                if not found:
                    out.append(draft)
                    continue
                errors = [f"plans[{n}]: {e}" for e in found]
        out.append(PlanningError("; ".join(errors), agent="planner", raw_outputs=[], errors=errors))
    return out


async def decompose_task(
    model: BaseChatModel,
    tree: TaskTree,
    task_id: str,
    *,
    lead: RoleSpec,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int = 2,
    max_input_chars: int | None = DEFAULT_MAX_DEPENDENCY_CHARS,
) -> PlanDraft:
    """Subtasks for ``task_id``, written by its lead once its prerequisites are done.

    Decomposition on demand: the lead sees the results of the task's prerequisites (each
    cut to ``max_input_chars``) and its path from the goal, so the breakdown can follow
    what is now known. Subtasks may be marked to be decomposed in turn, above the tree's
    depth limit.

    Raises:
        PlanningError: as for :func:`plan_goal`.
    """
    task = tree.get(task_id)
    request = (
        f"{describe_task(tree, task, max_input_chars=max_input_chars)}\n\n"
        f"You lead this task ({lead.name}: "
        f"{lead.instructions.splitlines()[0][:200]}). Break it into subtasks for your team."
    )
    return await _decompose(
        model,
        tree,
        template="decomposer",
        request=request,
        task_id=task_id,
        base_depth=task.depth,
        roles=roles,
        tools=tools,
        max_repairs=max_repairs,
        on_demand=True,
        agent=AgentCall(agent="lead", task_id=task_id, role=lead.name),
    )


async def replan_task(
    model: BaseChatModel,
    tree: TaskTree,
    task_id: str,
    reason: str,
    *,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int = 2,
) -> PlanDraft:
    """A replacement plan for the failed task ``task_id``, seeing what failed and why.

    Raises:
        PlanningError: as for :func:`plan_goal`.
    """
    task = tree.get(task_id)
    request = (
        f"{describe_task(tree, task, with_inputs=False)}\n\nThis task failed.\n"
        f"Last result: {task.result or '(none)'}\nWhy it failed: {reason}"
    )
    return await _decompose(
        model,
        tree,
        template="replanner",
        request=request,
        task_id=task_id,
        base_depth=task.depth - 1,
        roles=roles,
        tools=tools,
        max_repairs=max_repairs,
    )


async def replan_subtree(
    model: BaseChatModel,
    tree: TaskTree,
    task_id: str,
    reason: str,
    *,
    failed_child: str | None,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int = 2,
) -> PlanDraft:
    """New subtasks for ``task_id``, whose subtree is planned again.

    After its subtask ``failed_child`` failed for good, or (``failed_child`` None) after
    the critic sent its integrated result back with a ``replan`` verdict.

    An escalation: the failure climbed from ``failed_child`` to ``task_id``, whose subtree
    is planned again with the failure in view. The planner sees the finished subtasks'
    results and may keep some by id (``draft.keep``; null keeps them all); the draft holds
    the tasks still needed.

    Raises:
        PlanningError: as for :func:`plan_goal`.
    """
    task = tree.get(task_id)
    about = (
        goal_request(tree) if task_id == ROOT_ID else describe_task(tree, task, with_inputs=False)
    )
    what = (
        f"Subtask {failed_child!r} failed for good: {reason}"
        if failed_child is not None
        else f"The reviewer rejected the task's result, put together from these: {reason}"
    )
    finished = [c.id for c in tree.children(task_id, live_only=True) if c.status.value == "done"]
    request = (
        f"{about}\n\nIts subtasks so far:\n\n{children_digest(tree, task_id)}\n\n{what}\n"
        f"Finished subtasks you may keep: {finished or 'none'}. Plan the subtasks still"
        " needed; `keep` lists the finished ones whose results still serve (null: all)."
    )
    return await _decompose(
        model,
        tree,
        template="subtree_replanner",
        request=request,
        task_id=task_id,
        base_depth=task.depth,
        roles=roles,
        tools=tools,
        max_repairs=max_repairs,
        min_tasks=1,
        keepable=finished,
    )


async def _decompose(
    model: BaseChatModel,
    tree: TaskTree,
    *,
    template: str,
    request: str,
    task_id: str,
    base_depth: int,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    max_repairs: int,
    sample: int = 0,
    min_tasks: int | None = None,
    on_demand: bool = False,
    agent: AgentCall | None = None,
    keepable: Sequence[str] | None = None,
) -> PlanDraft:
    """Ask for a plan whose top tasks hang at ``base_depth + 1``, validated and repaired.

    ``on_demand``: at most two levels, and tasks may be marked ``decompose``.
    ``keepable``: a subtree re-plan, which may keep these finished subtasks (``keep``).
    """
    system, schema = _plan_frame(
        tree,
        template=template,
        base_depth=base_depth,
        roles=roles,
        tools=tools,
        on_demand=on_demand,
        min_tasks=min_tasks or (2 if task_id == ROOT_ID else 1),
        keepable=keepable,
    )
    return await ask_structured(
        model,
        [SystemMessage(content=system), HumanMessage(content=request)],
        PlanDraft,
        agent or AgentCall(agent="planner", task_id=task_id, sample=sample),
        json_schema=schema,
        check=lambda draft: [
            *draft_errors(draft, tree, tools=tools, on_demand=on_demand, base_depth=base_depth),
            *_keep_errors(draft, keepable),
        ],
        max_repairs=max_repairs,
        error=PlanningError,
    )


def _plan_frame(
    tree: TaskTree,
    *,
    template: str,
    base_depth: int,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    on_demand: bool,
    min_tasks: int,
    keepable: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The system prompt and JSON schema of a plan whose top tasks hang at ``base_depth + 1``.

    ``on_demand``: at most two levels, and tasks may be marked ``decompose`` (above the
    tree's last level).
    """
    levels = tree.max_depth - base_depth
    if on_demand:
        levels = min(levels, ON_DEMAND_LEVELS)
    deferred = on_demand and base_depth + 1 < tree.max_depth
    system = render(
        template,
        levels=levels,
        roles=describe_roles(roles),
        tools=describe_tools(tools),
        decomposition=ON_DEMAND_RULE if deferred else "",
    )
    schema = plan_schema(
        [r.name for r in roles],
        min_tasks=min_tasks,
        max_tasks=tree.max_tasks_per_level,
        tool_names=list(tools),
        levels=levels,
        on_demand=deferred,
        keepable=keepable,
    )
    return system, schema


def _goal_frame(
    tree: TaskTree,
    *,
    roles: Sequence[Role | RoleSpec],
    tools: dict[str, str],
    on_demand: bool,
) -> tuple[str, dict[str, Any]]:
    """The system prompt and JSON schema of a plan for the goal, as :func:`plan_goal` asks."""
    return _plan_frame(
        tree,
        template="planner",
        base_depth=0,
        roles=roles,
        tools=tools,
        on_demand=on_demand,
        min_tasks=2,
    )


def draft_errors(
    draft: PlanDraft,
    tree: TaskTree,
    *,
    tools: dict[str, str],
    on_demand: bool,
    base_depth: int = 0,
) -> list[str]:
    """What keeps ``draft`` from being a valid plan for ``tree``.

    Its top tasks hang at ``base_depth + 1``; :func:`orchestra.core.plan.plan_errors` with
    the tree's depth and width limits and the tools offered.
    """
    return plan_errors(
        draft,
        base_depth=base_depth,
        max_depth=tree.max_depth,
        max_tasks=tree.max_tasks_per_level,
        tools=set(tools),
        on_demand=on_demand,
    )


def _keep_errors(draft: PlanDraft, keepable: Sequence[str] | None) -> list[str]:
    """What is wrong with the draft's ``keep`` list (only subtree re-plans may have one)."""
    if draft.keep is None:
        return []
    if keepable is None:
        return ["`keep` is only for re-plans of a subtree: leave it null"]
    unknown = [k for k in draft.keep if k not in keepable]
    if unknown:
        return [f"`keep` names {unknown}, which are not finished subtasks: pick from {keepable}"]
    return []


def plan_schema(
    role_names: Sequence[str],
    *,
    min_tasks: int = 1,
    max_tasks: int = MAX_TASKS_PER_LEVEL,
    tool_names: Sequence[str] = (),
    levels: int = 1,
    on_demand: bool = False,
    keepable: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The plan's JSON schema, limited to what this plan may contain.

    ``role`` and ``tools`` take only names that exist; a task at the last of ``levels``
    levels has no subtasks, ids in ``depends_on`` follow the id pattern, titles and
    descriptions are not empty. Everything a grammar can rule out is ruled out here, so a
    grammar-constrained model (and any that honours schemas) cannot write the mistakes
    that would otherwise cost a repair round trip; :func:`orchestra.core.plan.plan_errors`
    still checks the rest (unique ids, known siblings, no cycles).

    A first plan asks for at least two tasks (the point of a team); models that honour
    schemas then cannot answer with the goal restated as one task. ``max_tasks`` bounds
    every level (a grammar then stops a small model's endless lists at the source).
    """
    if levels < 1:
        raise ValueError(f"a plan has at least one level, not {levels}")
    base = json_schema_of(PlanDraft)
    if keepable is None:  # only a subtree re-plan keeps finished subtasks
        base["properties"].pop("keep", None)
    else:
        base["properties"]["keep"] = {
            "anyOf": [
                {"type": "array", "items": {"enum": list(keepable)}}
                if keepable
                else {"type": "array", "maxItems": 0},
                {"type": "null"},
            ]
        }
    task = base["$defs"].pop("DraftTask")
    props = task["properties"]
    if not on_demand:  # only on-demand plans may leave a task to be decomposed later
        props.pop("decompose", None)
    props["title"]["minLength"] = 1
    props["description"]["minLength"] = 1
    props["depends_on"]["items"] = {"type": "string", "pattern": ID_PATTERN}
    props["depends_on"]["maxItems"] = max_tasks
    props["tools"]["items"] = {"enum": sorted(tool_names)} if tool_names else {"type": "string"}
    props["tools"]["maxItems"] = max_tasks if tool_names else 0
    props["role"] = (
        {"anyOf": [{"enum": sorted(role_names)}, {"type": "null"}]}
        if role_names
        else {"type": "null"}
    )
    # one definition per level: the recursion is unrolled so the last level's `subtasks`
    # can be empty by construction
    for level in range(1, levels + 1):
        level_task = copy.deepcopy(task)
        subtasks = level_task["properties"]["subtasks"]
        if level < levels:
            subtasks["items"] = {"$ref": f"#/$defs/DraftTaskLevel{level + 1}"}
            subtasks["maxItems"] = max_tasks
        else:
            subtasks["items"] = {"type": "object"}
            subtasks["maxItems"] = 0
        level_task["title"] = f"DraftTaskLevel{level}"
        base["$defs"][f"DraftTaskLevel{level}"] = level_task
    base["properties"]["tasks"]["items"] = {"$ref": "#/$defs/DraftTaskLevel1"}
    base["properties"]["tasks"]["minItems"] = min_tasks
    base["properties"]["tasks"]["maxItems"] = max_tasks
    base["title"] = "PlanDraft"
    return base


def fallback_plan(
    error: PlanningError, tree: TaskTree, *, base_depth: int = 0, allow_single_task: bool = True
) -> tuple[PlanDraft, str, str] | None:
    """A usable plan after the planner's repairs failed: ``(draft, notice kind, message)``.

    First the planner's replies are salvaged deterministically (newest first, see
    :func:`orchestra.core.plan.salvage_plan`); failing that, the goal becomes one task
    (only for the first plan: a one-task re-plan would repeat the failed task). None when
    nothing is usable.
    """
    why = "; ".join(error.errors) or str(error)
    for raw in reversed(error.raw_outputs):
        try:
            draft, fixes = salvage_plan(
                raw,
                max_depth=tree.max_depth,
                base_depth=base_depth,
                max_tasks=tree.max_tasks_per_level,
            )
        except ValueError:
            continue
        message = f"planner output stayed invalid ({why}); salvaged it: {'; '.join(fixes)}"
        return draft, "plan_salvaged", message
    if not allow_single_task:
        return None
    message = f"planner output stayed invalid ({why}); the goal runs as a single task"
    return single_task_plan(tree.goal), "plan_fallback", message
