"""Tools for orchestra teams: the ``@tool`` decorator and safe invocation."""

from orchestra.tools.content import Audio, Image
from orchestra.tools.decorator import ToolSet, tool
from orchestra.tools.injected import IdempotencyKey
from orchestra.tools.invoke import ToolOutcome, call_tool, idempotency_key
from orchestra.tools.options import ToolOptions, options_of
from orchestra.tools.progress import report_progress

__all__ = [
    "Audio",
    "IdempotencyKey",
    "Image",
    "ToolOptions",
    "ToolOutcome",
    "ToolSet",
    "call_tool",
    "idempotency_key",
    "options_of",
    "report_progress",
    "tool",
]
