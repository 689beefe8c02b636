"""Role specs: who executes a subtask, with which instructions, tools and model."""

from __future__ import annotations

import re
from typing import Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestra.core.search_options import WorkflowSearch

__all__ = ["MemoryScopeName", "Role", "RoleSpec"]

MemoryScopeName = Literal["run", "team", "global"]
"""A memory scope: this run only, every run of the team, every team."""

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


class Role(BaseModel):
    """A role the user defines for the team; the role designer reuses it when it fits.

    Example:
        ``Role(name="writer", instructions="Write clear prose.", tools=["word_count"])``
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    instructions: str
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

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _normalize_name(value)

    @field_validator("tools", mode="before")
    @classmethod
    def _tools_tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    def spec(self) -> RoleSpec:
        """This role as plain data; a role-specific model is referred to by the role's name."""
        return RoleSpec(
            name=self.name,
            instructions=self.instructions,
            tools=self.tools,
            model=f"role:{self.name}" if self.model is not None else None,
            memory_read=self.memory_read,
            memory_write=self.memory_write,
        )
