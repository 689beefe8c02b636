"""Values orchestra passes to a tool that asks for them, hidden from the model's schema.

A tool asks for its call's idempotency key with a parameter annotated
:data:`IdempotencyKey`; the model never sees that parameter, and orchestra fills it in on
every call. The key is the same for the same call at the same point of the same attempt
of a run, also when a resumed run makes the call again, so an outside system that
dedupes by it (as payment APIs do with an ``Idempotency-Key`` header) applies the effect
once.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg

from orchestra.core.errors import ConfigError

__all__ = ["IdempotencyKey", "idempotency_key_param"]


class _IdempotencyKeyArg(InjectedToolArg):
    """Marks the parameter that receives the call's idempotency key."""


IdempotencyKey = Annotated[str, _IdempotencyKeyArg()]
"""Annotate a tool parameter with this to receive the call's idempotency key.

Example::

    @tool(side_effects=True)
    def charge(customer: str, cents: int, key: IdempotencyKey) -> str:
        '''Charge a customer.'''
        return payments.charge(customer, cents, idempotency_key=key)
"""


def idempotency_key_param(fn: Callable[..., Any]) -> str | None:
    """The name of ``fn``'s parameter annotated :data:`IdempotencyKey`, if it has one.

    Raises:
        ConfigError: more than one parameter asks for the key.
    """
    params = inspect.signature(fn).parameters
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError):  # a name the module cannot resolve: read them as written
        hints = {name: p.annotation for name, p in params.items()}
    found = [
        name
        for name in params
        if any(
            isinstance(m, _IdempotencyKeyArg) for m in getattr(hints.get(name), "__metadata__", ())
        )
    ]
    if len(found) > 1:
        raise ConfigError(f"tool {fn.__name__!r} asks for the idempotency key twice: {found}")
    return found[0] if found else None
