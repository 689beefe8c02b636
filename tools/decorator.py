"""``@tool``: turn a typed Python function into a tool the team's agents can call."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, overload

from langchain_core.tools import BaseTool, StructuredTool

from orchestra.core.errors import ConfigError

__all__ = ["tool"]


@overload
def tool(func: Callable[..., Any], /) -> BaseTool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], BaseTool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> BaseTool | Callable[[Callable[..., Any]], BaseTool]:
    """Make a tool from a sync or async function.

    The name defaults to the function's name, the description to its docstring, and the
    argument schema comes from the type hints. The result is a langchain-core
    ``StructuredTool``, so it works anywhere LangChain tools do.

    Example:
        >>> @tool
        ... def word_count(text: str) -> int:
        ...     '''Count the words in a text.'''
        ...     return len(text.split())

    Raises:
        ConfigError: the function has neither a docstring nor a ``description``.
    """

    def build(fn: Callable[..., Any]) -> BaseTool:
        desc = description or inspect.getdoc(fn)
        if not desc:
            raise ConfigError(
                f"tool {fn.__name__!r} needs a description: add a docstring or pass description="
            )
        is_async = inspect.iscoroutinefunction(fn)
        return StructuredTool.from_function(
            func=None if is_async else fn,
            coroutine=fn if is_async else None,
            name=name or fn.__name__,
            description=desc,
            infer_schema=True,
        )

    return build(func) if func is not None else build
