"""``tool.ainvoke(args)`` for coroutine tools, with the tool's signature read once.

LangChain's ``BaseTool.arun`` reads the signature and type hints of the tool's ``_arun``
and of its coroutine on every call (three ``inspect.signature`` and two
``get_type_hints`` evaluations, string annotations compiled each time): more than half
the cost of a call to a tool that does little. :func:`ainvoke_tool` does what
``StructuredTool.ainvoke`` does with a dict input (callbacks configured and told of the
start, the end or the error, the input parsed by the tool's own ``_to_args_and_kwargs``,
the child config set for the coroutine, which runs in a task of its own, validation and
tool errors handled by the tool's flags, ``content_and_artifact`` checked), with what
the signatures say read once per tool. Tools of any other shape (a subclass overriding
how it runs, a sync tool) go through ``ainvoke`` itself, and so does every tool with a
langchain-core newer than the one this was checked against (:data:`TESTED_UP_TO`) or
one whose private helpers moved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import langchain_core
from langchain_core.callbacks import AsyncCallbackManager, AsyncCallbackManagerForToolRun
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config, set_config_context
from langchain_core.runnables.utils import coro_with_context
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import ValidationError
from pydantic.v1 import ValidationError as ValidationErrorV1

from orchestra.core.identity_cache import IdentityCache

try:  # LangChain's own helpers for what arun does; private, so they may move
    from langchain_core.tools.base import (
        _get_runnable_config_param,
        _handle_tool_error,
        _handle_validation_error,
    )
    from langchain_core.utils._signature import _signature_parameters
except ImportError:  # pragma: no cover - a LangChain that moved them: ainvoke it is
    _HELPERS = False
else:
    _HELPERS = True

__all__ = ["ainvoke_tool"]

TESTED_UP_TO = (1, 8)
"""The newest langchain-core (major, minor) whose ``arun`` the direct call was checked
against (``tests/tools/test_direct.py``); a newer one goes through ``ainvoke``."""


@dataclass(frozen=True, slots=True)
class _Direct:
    """What LangChain would read from a coroutine tool's signature on every call."""

    coroutine: Callable[..., Awaitable[Any]]
    callbacks: bool
    """The coroutine takes ``callbacks``: it gets the tool run's child callbacks."""
    config_param: str | None
    """The coroutine's parameter annotated ``RunnableConfig``, if any: it gets the config."""


def _standard_arun() -> bool:
    """Whether ``StructuredTool._arun`` takes what ``BaseTool.arun`` gives it by name.

    ``arun`` passes ``run_manager`` and the config (under the parameter annotated
    ``RunnableConfig``) only when ``_arun`` declares them; the direct call assumes both.
    """
    params = _signature_parameters(StructuredTool._arun)
    return "run_manager" in params and _get_runnable_config_param(StructuredTool._arun) == "config"


def _version(text: str) -> tuple[int, int]:
    major, minor, *_ = (int(part) if part.isdigit() else 0 for part in text.split(".") + ["0"])
    return major, minor


_STANDARD_ARUN = (
    _HELPERS and _version(langchain_core.__version__) <= TESTED_UP_TO and _standard_arun()
)


def _direct_of(tool: BaseTool) -> _Direct | None:
    """How to call ``tool``'s coroutine directly, or None when ``ainvoke`` must run."""
    cls = type(tool)
    coroutine = getattr(tool, "coroutine", None)
    if (
        not _STANDARD_ARUN
        or coroutine is None
        or cls.ainvoke is not StructuredTool.ainvoke
        or cls.arun is not BaseTool.arun
        or cls._arun is not StructuredTool._arun
    ):
        return None
    return _Direct(
        coroutine=coroutine,
        callbacks=bool(_signature_parameters(coroutine).get("callbacks")),
        config_param=_get_runnable_config_param(coroutine),
    )


_DIRECT: IdentityCache[BaseTool, _Direct | None] = IdentityCache(_direct_of)


async def ainvoke_tool(tool: BaseTool, args: Mapping[str, Any]) -> Any:
    """What ``await tool.ainvoke(dict(args))`` returns (or raises), with the same callbacks."""
    direct = _DIRECT(tool)
    if direct is None or getattr(tool, "coroutine", None) is not direct.coroutine:
        return await tool.ainvoke(dict(args))
    return await _arun(tool, direct, dict(args))


async def _arun(tool: BaseTool, direct: _Direct, tool_input: dict[str, Any]) -> Any:
    """``BaseTool.arun`` then ``StructuredTool._arun`` for a dict input and no tool call id."""
    config = ensure_config(None)
    run_id = config.pop("run_id", None)
    manager = AsyncCallbackManager.configure(
        config.get("callbacks"),
        tool.callbacks,
        tool.verbose,
        config.get("tags"),
        tool.tags,
        config.get("metadata"),
        tool.metadata,
    )
    # The input as the callbacks see it: only handlers read it, so none need not make it.
    shown = tool._filter_injected_args(tool_input) if manager.handlers else None
    run_manager = await manager.on_tool_start(
        {"name": tool.name, "description": tool.description},
        str(shown) if shown is not None else "",
        color="green",
        name=config.get("run_name"),
        run_id=run_id,
        inputs=shown,
        tool_call_id=None,
    )
    content: Any = None
    error: BaseException | None = None
    try:
        tool_args, tool_kwargs = tool._to_args_and_kwargs(tool_input, None)
        # StructuredTool._arun takes these two by name out of what arun passes it
        tool_kwargs.pop("run_manager", None)
        tool_kwargs.pop("config", None)
        child_config = patch_config(config, callbacks=run_manager.get_child())
        with set_config_context(child_config) as context:
            call = _call(direct, run_manager, config, tool_args, tool_kwargs)
            response = await coro_with_context(call, context)
        content, error = _content(tool, response)
    except (ValidationError, ValidationErrorV1) as exc:
        if not tool.handle_validation_error:
            error = exc
        else:
            content = _handle_validation_error(exc, flag=tool.handle_validation_error)
    except ToolException as exc:
        if not tool.handle_tool_error:
            error = exc
        else:
            content = _handle_tool_error(exc, flag=tool.handle_tool_error)
    except BaseException as exc:
        error = exc
    if error is not None:
        await run_manager.on_tool_error(error, tool_call_id=None)
        raise error
    # without a tool call id, LangChain returns the content as it is (no ToolMessage)
    await run_manager.on_tool_end(content, color="green", name=tool.name)
    return content


async def _call(
    direct: _Direct,
    run_manager: AsyncCallbackManagerForToolRun,
    config: RunnableConfig,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """``StructuredTool._arun``: the coroutine called in the tool's own task and context."""
    if direct.callbacks:
        kwargs["callbacks"] = run_manager.get_child()
    if direct.config_param:
        kwargs[direct.config_param] = config
    return await direct.coroutine(*args, **kwargs)


def _content(tool: BaseTool, response: Any) -> tuple[Any, BaseException | None]:
    """The content of a tool's response; the error when its shape is not the promised one."""
    if tool.response_format != "content_and_artifact":
        return response, None
    wrong = ValueError(
        "Since response_format='content_and_artifact' a two-tuple of the message content"
        " and raw tool output is expected. Instead, generated response is of type:"
        f" {type(response)}."
    )
    if not isinstance(response, tuple):
        return None, wrong
    try:
        content, _artifact = response
    except ValueError:
        return None, wrong
    return content, None
