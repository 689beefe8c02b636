"""Tools for orchestra teams: the ``@tool`` decorator and safe invocation."""

from orchestra.tools.decorator import tool
from orchestra.tools.invoke import ToolOutcome, call_tool

__all__ = ["ToolOutcome", "call_tool", "tool"]
