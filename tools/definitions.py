"""Tool definitions in the OpenAI function format, converted once per tool.

Every chat model's ``bind_tools`` turns tools into this format (langchain's providers
all accept it as given), and the conversion (signature inspection, schema
dereferencing) costs more than a scripted model call. Executors bind tools on every
task, so each tool is converted once and its definition reused while the tool lives.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from orchestra.core.identity_cache import IdentityCache

__all__ = ["tool_definition"]

_DEFINITIONS: IdentityCache[BaseTool, dict[str, Any]] = IdentityCache(convert_to_openai_tool)


def tool_definition(tool: BaseTool) -> dict[str, Any]:
    """``tool`` as ``{"type": "function", "function": {name, description, parameters}}``.

    The same dict is returned on every call for a live tool: treat it as read-only.
    """
    return _DEFINITIONS(tool)
