"""Calling a tool on a model's behalf: validate the arguments, run it, never crash the run.

Whatever goes wrong (unknown tool, refused tool, invalid arguments, an exception in the
tool) becomes an observation the model can read and react to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

__all__ = ["ToolOutcome", "call_tool", "tool_output_text"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolOutcome:
    """What came of one tool call."""

    tool: str
    args: dict[str, Any]
    ok: bool
    output: str
    """The result as text for the model, or the error message when ``ok`` is False."""
    duration_s: float


def tool_output_text(value: object) -> str:
    """A tool's return value as text for the model."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _argument_errors(tool: BaseTool, args: Mapping[str, Any]) -> str | None:
    schema = tool.args_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            schema.model_validate(dict(args))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            return f"invalid arguments for {tool.name}: {problems}"
    return None


async def call_tool(
    name: str,
    args: object,
    *,
    available: Mapping[str, BaseTool],
    allowed: frozenset[str] | set[str],
    role: str,
) -> ToolOutcome:
    """Call tool ``name`` with ``args`` if the role may, and report what happened."""
    start = time.perf_counter()
    arg_dict: dict[str, Any] = dict(args) if isinstance(args, Mapping) else {}

    def outcome(ok: bool, output: str) -> ToolOutcome:
        return ToolOutcome(
            tool=name, args=arg_dict, ok=ok, output=output, duration_s=time.perf_counter() - start
        )

    if name not in allowed or name not in available:
        permitted = sorted(t for t in allowed if t in available)
        return outcome(
            False,
            f"refused: tool {name!r} is not available to role {role!r};"
            f" you may use {permitted or 'no tools'}",
        )
    if not isinstance(args, Mapping):
        return outcome(False, f"invalid arguments for {name}: expected a JSON object")
    tool = available[name]
    problem = _argument_errors(tool, arg_dict)
    if problem:
        return outcome(False, problem)
    try:
        value = await tool.ainvoke(arg_dict)
    except Exception as exc:  # a failing tool is an observation, not a crash
        return outcome(False, f"error: {type(exc).__name__}: {exc}")
    return outcome(True, tool_output_text(value))
