"""Tools for orchestra teams: the ``@tool`` decorator and safe invocation."""

from orchestra.tools.decorator import ToolSet, tool
from orchestra.tools.injected import IdempotencyKey
from orchestra.tools.invoke import ToolOutcome, call_tool, idempotency_key
from orchestra.tools.options import ToolOptions, options_of

__all__ = [
    "IdempotencyKey",
    "ToolOptions",
    "ToolOutcome",
    "ToolSet",
    "call_tool",
    "idempotency_key",
    "options_of",
    "tool",
]
