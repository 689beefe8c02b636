"""The role-design agent: picks or writes the specialists that execute leaf tasks.

:func:`design_roles` designs the roles of a whole plan's leaves in one call (and repairs
only the entries that were wrong); :func:`design_role` one task's (a lead, or another
design of a task for the workflow search).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field, ValidationError

from orchestra.agents.calls import AgentCall, ask_structured, validation_messages
from orchestra.agents.context import describe_roles, describe_task, describe_tools
from orchestra.agents.list_reply import ask_list_once
from orchestra.agents.prompts import render
from orchestra.core.errors import BudgetExceeded, RoleDesignError
from orchestra.core.roles import RoleSpec
from orchestra.core.tree import TaskTree
from orchestra.models.structured import json_schema_of

__all__ = [
    "FALLBACK_ROLE",
    "METADATA_TASKS",
    "BatchCall",
    "DesignStopped",
    "RoleDraft",
    "RoleEntry",
    "adopt_role",
    "design_role",
    "design_roles",
    "role_draft_errors",
    "role_schema",
    "roles_schema",
]

METADATA_TASKS = "orchestra_tasks"
"""Call metadata key: the ids of the tasks a batch call asks about (see :class:`BatchCall`)."""

FALLBACK_ROLE = RoleSpec(
    name="generalist",
    instructions="Complete the task carefully and report the result plainly.",
)
"""The role a leaf gets when the role designer's output stays invalid and fallbacks are on."""


class RoleDraft(BaseModel):
    """The role designer's reply: the name of an existing role, or a new role."""

    name: str = Field(max_length=48)
    instructions: str = Field(default="", max_length=800)
    tools: list[str] = Field(default_factory=list, max_length=16)
    model: str | None = None


def role_schema(tools: Set[str], models: Set[str]) -> dict[str, Any]:
    """The JSON schema the model answers in: only the team's tools and models exist in it.

    Under a grammar (the embedded model) or strict structured output an unknown tool
    cannot even be written; other models still get it rejected by validation.
    """
    schema = json_schema_of(RoleDraft)
    props = schema["properties"]
    props["name"]["pattern"] = "^[a-z][a-z0-9-]{1,31}$"
    props["tools"]["items"] = {"enum": sorted(tools)} if tools else {"type": "string"}
    if not tools:
        props["tools"]["maxItems"] = 0
    props["model"] = (
        {"anyOf": [{"enum": sorted(models)}, {"type": "null"}]} if models else {"type": "null"}
    )
    schema["title"] = "RoleDraft"
    schema["description"] = "A role to reuse (name only) or a new role."
    return schema


def role_draft_errors(
    draft: RoleDraft,
    *,
    roles: Mapping[str, RoleSpec],
    tools: Set[str],
    models: Set[str],
) -> list[str]:
    """What is wrong with ``draft``; reusing an existing role by name is always fine."""
    if draft.name.strip().lower() in roles and not draft.instructions.strip():
        return []
    errors: list[str] = []
    try:
        RoleSpec(name=draft.name, instructions=draft.instructions or "x")
    except ValidationError as exc:
        errors.append(f"name {draft.name!r}: {exc.errors()[0]['msg']}")
    if not draft.instructions.strip():
        errors.append("a new role needs instructions (or give the name of an existing role)")
    unknown = [t for t in draft.tools if t not in tools]
    if unknown:
        errors.append(f"unknown tool(s) {unknown}; choose only from {sorted(tools) or 'no tools'}")
    if draft.model is not None and draft.model not in models:
        errors.append(f"unknown model {draft.model!r}; use null or one of {sorted(models)}")
    return errors


async def design_role(
    model: BaseChatModel,
    tree: TaskTree,
    task_id: str,
    *,
    roles: Mapping[str, RoleSpec],
    tools: dict[str, str],
    team_tools: Set[str] | None = None,
    models: Set[str] = frozenset(),
    max_repairs: int = 2,
    sample: int = 0,
) -> tuple[RoleSpec, bool]:
    """The role for ``task_id`` and whether it is new (False: the designer reused one).

    A new spec is not added anywhere: pass it to :func:`adopt_role`, which dedupes it
    against the roles the run has by then.

    ``tools`` are the tools offered (name to description: the most relevant ones when the
    team has many); ``team_tools`` all the team's tools, which a spec may name (default:
    the offered ones). ``sample`` above 0 asks for another design of the same task
    (workflow search choosing among roles).

    Raises:
        RoleDesignError: the reply stayed invalid (e.g. named unknown tools) after
            ``max_repairs`` repairs.
    """
    known = set(team_tools) if team_tools is not None else set(tools)
    system = render(
        "role_designer", roles=describe_roles(roles.values()), tools=describe_tools(tools)
    )
    draft = await ask_structured(
        model,
        [
            SystemMessage(content=system),
            HumanMessage(content=describe_task(tree, tree.get(task_id), with_inputs=False)),
        ],
        RoleDraft,
        AgentCall(agent="role_designer", task_id=task_id, sample=sample),
        check=lambda d: role_draft_errors(d, roles=roles, tools=known, models=models),
        json_schema=role_schema(set(tools), models),
        max_repairs=max_repairs,
        error=RoleDesignError,
    )
    name = draft.name.strip().lower()
    if name in roles and not draft.instructions.strip():
        return roles[name], False
    spec = RoleSpec(
        name=draft.name,
        instructions=draft.instructions,
        tools=tuple(draft.tools),
        model=draft.model,
    )
    return spec, True


class DesignStopped(BudgetExceeded):
    """The budget stopped :func:`design_roles` in a repair round, after some roles were found.

    The tasks whose entries were valid before the stop keep them: ``found`` holds each such
    task's role and whether it is new, in the order the tasks were asked about (as
    :func:`design_roles` returns them); only the other tasks need designing again.

    Attributes:
        found: the role of each task designed before the stop, and whether it is new.
    """

    def __init__(
        self, reason: str, *, scope: str | None, found: Mapping[str, tuple[RoleSpec, bool]]
    ) -> None:
        super().__init__(reason, scope=scope)
        self.found = dict(found)


class RoleEntry(RoleDraft):
    """One task's entry in the role designer's reply for several tasks."""

    task: str
    """The id of the task the role is for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchCall(AgentCall):
    """A model call about several tasks at once (the role designer's for a plan).

    ``task_id`` is the node their plan hangs from (traces put the call there); the
    ``task_ids`` travel in the call's metadata under :data:`METADATA_TASKS`, so tracers and
    ``orchestra.testing.ScriptedChatModel`` can tell which tasks the call is about.
    """

    task_ids: tuple[str, ...] = ()

    def config(self) -> RunnableConfig:
        """A runnable config that carries this call's identity and its tasks."""
        config = AgentCall.config(self)  # (a slotted dataclass: no bare super())
        config["metadata"] = {**config.get("metadata", {}), METADATA_TASKS: list(self.task_ids)}
        return config


def roles_schema(
    task_ids: Sequence[str],
    tools: Set[str],
    models: Set[str],
    existing: Sequence[str] = (),
) -> dict[str, Any]:
    """The JSON schema of a reply for several tasks: ``{"roles": [entry, ...]}``.

    An entry is :func:`role_schema`'s object with the id of its task first (only
    ``task_ids`` can be written), one entry per task. With ``existing`` role names an
    entry is either one of them by name alone or a new role whose instructions are not
    empty: a grammar-constrained model cannot write a bare name that is no role (the
    mistake a small model makes most).
    """
    task = {"type": "string", "enum": list(task_ids)}
    entry = role_schema(tools, models)
    entry["title"] = "RoleEntry"
    entry["description"] = "The role for one task: an existing role (name only) or a new one."
    entry["properties"] = {"task": task, **entry["properties"]}
    entry["required"] = ["task", *entry.get("required", [])]
    item: dict[str, Any] = entry
    if existing:
        entry["properties"]["instructions"]["minLength"] = 8
        entry["required"] = list(dict.fromkeys([*entry["required"], "name", "instructions"]))
        reuse = {
            "title": "ReusedRole",
            "description": "An existing role, by name.",
            "type": "object",
            "properties": {"task": task, "name": {"enum": sorted(existing)}},
            "required": ["task", "name"],
            "additionalProperties": False,
        }
        item = {"anyOf": [reuse, entry]}
    roles = {"type": "array", "items": item, "minItems": len(task_ids), "maxItems": len(task_ids)}
    return {
        "title": "RoleDesigns",
        "description": "One role for each task.",
        "type": "object",
        "properties": {"roles": roles},
        "required": ["roles"],
    }


async def design_roles(
    model: BaseChatModel,
    tree: TaskTree,
    task_ids: Sequence[str],
    *,
    roles: Mapping[str, RoleSpec],
    tools: dict[str, str],
    team_tools: Set[str] | None = None,
    models: Set[str] = frozenset(),
    max_repairs: int = 2,
    for_task: str | None = None,
) -> dict[str, tuple[RoleSpec, bool] | RoleDesignError]:
    """The role for each of ``task_ids`` and whether it is new, from one call (and repairs).

    The designer answers for all the tasks at once, one entry each, checked like
    :func:`design_role`'s reply (:func:`role_draft_errors`); an entry may also reuse, by
    name alone, a role another entry of the batch writes. Only the tasks whose entries are
    wrong or missing are asked for again, in a smaller call that says what was wrong, at
    most ``max_repairs`` times. A task that still has no valid entry gets its
    :class:`RoleDesignError` in place of a role; the other tasks keep theirs (the caller
    decides: a fallback role, or the error). Entries for tasks not asked about are ignored
    (the tasks they were meant for are asked again); of two entries for a task the first
    valid one stands. A reply cut off mid-list keeps its complete entries.

    New specs are not added anywhere: pass them to :func:`adopt_role`. ``for_task`` is the
    node the tasks' plan hangs from (the call's task in traces); ``tools`` are the tools
    offered (the tasks' relevant ones) and ``team_tools`` all the team's, as for
    :func:`design_role`.

    Raises:
        BudgetExceeded: the budget stopped the first call (nothing was designed).
        DesignStopped: the budget stopped a repair call; it holds the roles found before.
    """
    known = set(team_tools) if team_tools is not None else set(tools)
    system = SystemMessage(
        content=render(
            "role_designer_batch", roles=describe_roles(roles.values()), tools=describe_tools(tools)
        )
    )
    found: dict[str, tuple[RoleSpec, bool]] = {}
    written: dict[str, RoleSpec] = {name.lower(): spec for name, spec in roles.items()}
    pending = list(dict.fromkeys(task_ids))
    problems: dict[str, list[str]] = {}
    raws: list[str] = []
    for round_ in range(max_repairs + 1):
        call = BatchCall(
            agent="role_designer", task_id=for_task, repair=round_, task_ids=tuple(pending)
        )
        request = HumanMessage(content=_batch_request(tree, pending, problems))
        schema = roles_schema(pending, set(tools), models, existing=list(roles))
        try:
            raw, data, problem = await ask_list_once(
                model, [system, request], call, schema, "roles"
            )
        except BudgetExceeded as exc:
            if not found:  # nothing to keep: the plain stop
                raise
            kept = {t: found[t] for t in task_ids if t in found}
            raise DesignStopped(exc.reason, scope=exc.scope, found=kept) from exc
        raws.append(raw)
        entries, problems = _read_entries(data, problem, pending)
        # entries that write a role first: a name-only entry may reuse one of them
        for task_id, entry in sorted(entries.items(), key=lambda e: not e[1].instructions.strip()):
            errors = role_draft_errors(entry, roles=written, tools=known, models=models)
            if errors:
                problems[task_id] = errors
                continue
            name = entry.name.strip().lower()
            if name in written and not entry.instructions.strip():
                found[task_id] = (written[name], name not in roles)
                continue
            spec = RoleSpec(
                name=entry.name,
                instructions=entry.instructions,
                tools=tuple(entry.tools),
                model=entry.model,
            )
            written.setdefault(name, spec)
            found[task_id] = (spec, True)
        pending = [t for t in pending if t not in found]
        if not pending:
            break
    return {
        t: found[t] if t in found else _design_error(t, problems, raws, max_repairs)
        for t in task_ids
    }


def _design_error(
    task_id: str, problems: Mapping[str, list[str]], raws: list[str], max_repairs: int
) -> RoleDesignError:
    errors = problems.get(task_id) or ["no valid entry for this task"]
    return RoleDesignError(
        f"role_designer output for task {task_id!r} stayed invalid after {max_repairs}"
        f" repair(s): {'; '.join(errors)}",
        agent="role_designer",
        raw_outputs=raws,
        errors=errors,
    )


def _batch_request(
    tree: TaskTree, task_ids: Sequence[str], problems: Mapping[str, list[str]]
) -> str:
    """The tasks to design roles for, after the goal; on a repair, what was wrong."""
    parts = [f"Overall goal: {tree.goal}"]
    if tree.statement is not None:
        parts.append(f"Task statement of the goal:\n{tree.statement.render()}")
    parts.append(f"Tasks ({len(task_ids)}, one role each):")
    parts.extend(_task_entry(tree, task_id) for task_id in task_ids)
    wrong = [f"- task {t}: {'; '.join(problems[t])}" for t in task_ids if problems.get(t)]
    if wrong:  # a repair: only these tasks are asked about again
        parts.append(render("repair", errors="\n".join(wrong)))
    else:
        parts.append("Reply with JSON only: one entry for each task above.")
    return "\n\n".join(parts)


def _task_entry(tree: TaskTree, task_id: str) -> str:
    """One task of a batch request: id, title, description, where it sits, what it needs."""
    task = tree.get(task_id)
    lines = [f"Task {task.id}: {task.title}", task.description]
    path = " > ".join(a.title for a in tree.ancestors(task.id)[1:])
    if path:
        lines.append(f"Part of: {path}")
    if task.acceptance_criteria:
        lines.append("Acceptance criteria: " + "; ".join(task.acceptance_criteria))
    if task.tools:
        lines.append(f"Tools the plan expects: {', '.join(task.tools)}")
    return "\n".join(lines)


def _read_entries(
    data: Any, problem: Exception | None, pending: Sequence[str]
) -> tuple[dict[str, RoleEntry], dict[str, list[str]]]:
    """Each asked task's entry in a batch reply, and what is wrong for the tasks without one."""
    if data is None:
        return {}, {t: [str(problem or "the reply holds no JSON object")] for t in pending}
    items = data.get("roles") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return {}, {t: ['the reply has no "roles" list'] for t in pending}
    entries: dict[str, RoleEntry] = {}
    problems: dict[str, list[str]] = {}
    strays: list[str] = []
    for item in items:
        task = item.get("task") if isinstance(item, dict) else None
        if not isinstance(task, str) or task not in pending:
            strays.append(repr(task))
            continue
        if task in entries:
            continue
        try:
            entries[task] = RoleEntry.model_validate(item)
        except ValidationError as exc:
            problems.setdefault(task, validation_messages(exc))
        else:
            problems.pop(task, None)
    missing = "no entry for this task"
    if strays:
        missing += f" (the reply had entries for unknown tasks {', '.join(strays)})"
    elif problem is not None:
        missing += f" ({problem}; the complete entries before it were kept)"
    for task in pending:
        if task not in entries and task not in problems:
            problems[task] = [missing]
    return entries, problems


def adopt_role(roles: dict[str, RoleSpec], spec: RoleSpec) -> tuple[RoleSpec, bool]:
    """Add ``spec`` to ``roles`` unless an equal role is there; return the role to use.

    Equal means the same instructions, tools and model (names aside), so no two agents do
    the same job. A new spec whose name is taken by a different role gets a numbered name.
    The flag tells whether ``roles`` grew.
    """
    if roles.get(spec.name) == spec:
        return spec, False
    for existing in roles.values():
        if existing.model_dump(exclude={"name"}) == spec.model_dump(exclude={"name"}):
            return existing, False
    base, n = spec.name, 2
    while spec.name in roles:
        spec = spec.model_copy(update={"name": f"{base}-{n}"})
        n += 1
    roles[spec.name] = spec
    return spec, True
