"""``@tool``: turn a typed Python function (or a method of a ``ToolSet``) into a tool."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from langchain_core.tools import BaseTool, StructuredTool

from orchestra.core.errors import ConfigError
from orchestra.tools.injected import idempotency_key_param
from orchestra.tools.options import OnInterrupted, ToolOptions, with_options

__all__ = ["ToolSet", "tool"]

_METHOD_MARK = "__orchestra_tool__"

F = TypeVar("F", bound=Callable[..., Any])


@overload
def tool(func: Callable[..., Any], /) -> BaseTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    side_effects: bool = False,
    on_interrupted: OnInterrupted = "retry",
    timeout: float | None = 60.0,
    retries: int = 0,
    retry_on: tuple[type[BaseException], ...] = (),
    backoff: float = 0.5,
    max_result_chars: int = 8000,
    requires_approval: bool = False,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    resources: Mapping[str, float] | None = None,
    stateful: bool = False,
    in_process: bool = False,
) -> Callable[[Callable[..., Any]], BaseTool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    side_effects: bool = False,
    on_interrupted: OnInterrupted = "retry",
    timeout: float | None = 60.0,
    retries: int = 0,
    retry_on: tuple[type[BaseException], ...] = (),
    backoff: float = 0.5,
    max_result_chars: int = 8000,
    requires_approval: bool = False,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    resources: Mapping[str, float] | None = None,
    stateful: bool = False,
    in_process: bool = False,
) -> BaseTool | Callable[[Callable[..., Any]], BaseTool]:
    """Make a tool from a sync or async function.

    The name defaults to the function's name, the description to its docstring, and the
    argument schema comes from the type hints (a parameter annotated
    :data:`~orchestra.tools.IdempotencyKey` is left out of it: orchestra passes the
    call's idempotency key there). The result is a langchain-core
    ``StructuredTool``, so it works anywhere LangChain tools do; the keyword options are
    :class:`~orchestra.tools.options.ToolOptions`.

    Example:
        >>> @tool(side_effects=True, timeout=10)
        ... def send_email(to: str, body: str, key: IdempotencyKey) -> str:
        ...     '''Send an email.'''
        ...     return mailer.send(to, body, dedupe_id=key)

    Raises:
        ConfigError: the function has neither a docstring nor a ``description``, or
            ``on_interrupted`` is not ``"retry"`` for a tool without side effects.
    """
    options = ToolOptions(
        side_effects=side_effects,
        on_interrupted=on_interrupted,
        timeout_s=timeout,
        retries=retries,
        retry_on=retry_on,
        backoff_s=backoff,
        max_result_chars=max_result_chars,
        requires_approval=requires_approval,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        resources=dict(resources or {}),
        stateful=stateful,
        in_process=in_process,
    )

    def build(fn: Callable[..., Any]) -> BaseTool:
        desc = description or inspect.getdoc(fn)
        if not desc:
            raise ConfigError(
                f"tool {fn.__name__!r} needs a description: add a docstring or pass description="
            )
        if on_interrupted != "retry" and not side_effects:
            raise ConfigError(
                f"tool {fn.__name__!r}: on_interrupted={on_interrupted!r} needs"
                " side_effects=True (only side-effecting calls are logged as started)"
            )
        is_async = inspect.iscoroutinefunction(fn)
        made = StructuredTool.from_function(
            func=None if is_async else fn,
            coroutine=fn if is_async else None,
            name=name or fn.__name__,
            description=desc,
            infer_schema=True,
        )
        key_arg = idempotency_key_param(fn)
        return with_options(made, options.model_copy(update={"idempotency_key_arg": key_arg}))

    return build(func) if func is not None else build


class ToolSet:
    """A class whose marked methods are tools sharing state (a client, a connection).

    Example::

        class Inbox(ToolSet):
            def __init__(self, client):
                self.client = client

            @ToolSet.method(side_effects=True)
            async def send(self, to: str, body: str) -> str:
                '''Send a message.'''
                return await self.client.send(to, body)

        team = Team(tools=[Inbox(client)])    # the team gets the tool "send"
    """

    @overload
    @staticmethod
    def method(func: F, /) -> F: ...

    @overload
    @staticmethod
    def method(**options: Any) -> Callable[[F], F]: ...

    @staticmethod
    def method(func: F | None = None, /, **options: Any) -> F | Callable[[F], F]:
        """Mark a method as a tool; ``options`` are those of :func:`tool`."""

        def mark(fn: F) -> F:
            setattr(fn, _METHOD_MARK, options)
            return fn

        return mark(func) if func is not None else mark

    def tools(self) -> list[BaseTool]:
        """The marked methods, bound to this instance, as tools."""
        found: list[BaseTool] = []
        for attr in dir(type(self)):
            marked = getattr(getattr(type(self), attr, None), _METHOD_MARK, None)
            if marked is None:
                continue
            options = dict(marked)
            bound = getattr(self, attr)
            name = options.pop("name", attr)
            description = options.pop("description", None) or inspect.getdoc(bound)
            found.append(tool(name=name, description=description, **options)(bound))
        return found
