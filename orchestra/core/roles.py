"""Role specs: who executes a subtask, with which instructions, tools and model."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestra.core.checks import Check
from orchestra.core.search_options import WorkflowSearch

if TYPE_CHECKING:
    from orchestra.team import Team

__all__ = ["FinishOnTool", "MemoryScopeName", "Role", "RoleSpec"]

MemoryScopeName = Literal["run", "team", "global"]
"""A memory scope: this run only, every run of the team, every team."""

FinishOnTool = bool | tuple[str, ...]
"""When a tool call's result is the task's result: never (False), after any successful
call (True), or after a successful call of one of the named tools."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


def _normalize_name(value: str) -> str:
    value = value.strip().lower().replace(" ", "-")
    if not _NAME.match(value):
        raise ValueError("role names are 1-48 lowercase letters, digits, '-' or '_'")
    return value


class RoleSpec(BaseModel):
    """A validated description of a specialist agent.

    This is plain data: it is what the role designer writes, what the run state stores, and
    what an executor is built from.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="lowercase, e.g. 'data-analyst'")
    instructions: str = Field(description="How this specialist works, in a few sentences.")
    tools: tuple[str, ...] = Field(default=(), description="Names of the tools it may call.")
    model: str | None = Field(
        default=None, description="Name of one of the team's models, or null for the default."
    )
    memory_read: tuple[MemoryScopeName, ...] = ("run", "team", "global")
    """Memory scopes this role may search (automatically and with ``recall``)."""
    memory_write: tuple[MemoryScopeName, ...] = ("run",)
    """Memory scopes this role may write with ``remember``."""
    team: str | None = None
    """The sub-team that runs this role's tasks (``Role(team=...)``), by name."""
    finish_on_tool: FinishOnTool = False
    """See :attr:`Role.finish_on_tool`."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _normalize_name(value)

    @field_validator("instructions")
    @classmethod
    def _check_instructions(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("instructions must not be empty")
        return value.strip()

    @field_validator("tools", mode="before")
    @classmethod
    def _dedupe_tools(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(str(v) for v in value))
        return value

    @field_validator("finish_on_tool", mode="before")
    @classmethod
    def _finish_tuple(cls, value: object) -> object:
        return _finish_on_tool(value)

    def finishes_with(self, tool: str) -> bool:
        """Whether a successful call of ``tool`` gives this role's task its result."""
        if isinstance(self.finish_on_tool, bool):
            return self.finish_on_tool
        return tool in self.finish_on_tool


class Role(BaseModel):
    """A role the user defines for the team; the role designer reuses it when it fits.

    Example:
        ``Role(name="writer", instructions="Write clear prose.", tools=["word_count"])``

    A role can also be a whole team: ``Role(name="research", team=research_team,
    description="Finds and checks sources")`` delegates each task given to it to
    ``research_team``, which plans, staffs and runs it as a goal of its own; its tree
    nests under the task in this team's record, live view, report and trace.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    instructions: str = ""
    """How this specialist works (required unless the role is a ``team``)."""
    tools: tuple[str, ...] = ()
    description: str = ""
    """When this role fits; shown to the planner and the role designer."""
    model: BaseChatModel | str | None = None
    """A model for this role only (an object or a model string such as
    ``"openai:gpt-4.1"``); the team's model otherwise."""
    memory_read: tuple[MemoryScopeName, ...] = ("run", "team", "global")
    """Memory scopes this role may search."""
    memory_write: tuple[MemoryScopeName, ...] = ("run",)
    """Memory scopes this role may write with ``remember``."""
    search: WorkflowSearch | Literal[False] | None = None
    """Workflow search for this role's subtasks: options of its own, ``False`` for never,
    or None for the team's (``Team(search=...)``)."""
    team: Team[Any] | None = None
    """A sub-team that runs this role's tasks, with its own planner, roles, tools, model,
    memory and limits (its spending counts toward this team's budget)."""
    checks: tuple[Check, ...] = ()
    """Checks on the results of this role's tasks, after the team's (see
    :mod:`orchestra.checks`)."""
    finish_on_tool: FinishOnTool = False
    """End the task with a tool's result, without another model call: ``True`` after the
    first successful tool call, or a list of tool names (of this role's ``tools``) whose
    successful call ends it. For tasks one call answers (a lookup, a calculation): the
    executor makes one model call instead of two. The result is the tool's output as
    text (validated like any answer when the role is typed); the critic and the checks
    judge it as usual. A failed call does not finish: the model sees the error."""
    output_type: object | None = None
    """The type of this role's results (a pydantic model, dataclass, ``TypedDict`` or any
    type pydantic validates): the executor answers under its JSON schema, the result is
    validated (and repaired), kept typed in the record (``tasks[].output``) and reaches
    dependent tasks and leads as JSON."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _normalize_name(value)

    @field_validator("tools", "checks", mode="before")
    @classmethod
    def _tools_tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("finish_on_tool", mode="before")
    @classmethod
    def _finish_tuple(cls, value: object) -> object:
        return _finish_on_tool(value)

    @model_validator(mode="after")
    def _check_kind(self) -> Role:
        if self.team is None and not self.instructions.strip():
            raise ValueError("a role needs instructions (or a team to delegate to)")
        if self.team is not None and (
            self.tools or self.model is not None or self.search or self.finish_on_tool
        ):
            raise ValueError(
                "a role with a team uses the team's own tools, model, search and"
                " finish_on_tool: give them to the sub-team"
            )
        if self.finish_on_tool is not False and self.team is None and not self.tools:
            raise ValueError("finish_on_tool needs tools: the role has none")
        if isinstance(self.finish_on_tool, tuple):
            unknown = [t for t in self.finish_on_tool if t not in self.tools]
            if unknown:
                raise ValueError(
                    f"finish_on_tool names tools the role does not have: {unknown}"
                    f" (its tools: {list(self.tools)})"
                )
        return self

    def spec(self) -> RoleSpec:
        """This role as plain data; a role-specific model is referred to by the role's name."""
        instructions = self.instructions.strip()
        if self.team is not None and not instructions:
            instructions = f"Delegates the task to the sub-team {self.team.name!r}."
        return RoleSpec(
            name=self.name,
            instructions=instructions,
            tools=self.tools,
            model=f"role:{self.name}" if self.model is not None else None,
            memory_read=self.memory_read,
            memory_write=self.memory_write,
            team=self.team.name if self.team is not None else None,
            finish_on_tool=self.finish_on_tool,
        )


def _finish_on_tool(value: object) -> object:
    """``finish_on_tool`` as a bool or a tuple of distinct tool names."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(dict.fromkeys(str(v) for v in value)) or False
    return value
