"""The role-design agent: picks or writes the specialist that executes a leaf task."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError

from orchestra.agents.calls import AgentCall, ask_structured
from orchestra.agents.context import describe_roles, describe_task, describe_tools
from orchestra.agents.prompts import render
from orchestra.core.errors import RoleDesignError
from orchestra.core.roles import RoleSpec
from orchestra.core.tree import TaskTree
from orchestra.models.structured import json_schema_of

__all__ = [
    "FALLBACK_ROLE",
    "RoleDraft",
    "adopt_role",
    "design_role",
    "role_draft_errors",
    "role_schema",
]

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
