"""The metadata of the model call being streamed, for models that need it.

LangChain hands a chat model's ``_astream`` no run manager, so the call's metadata
(which agent asks, for which task) does not reach it the way it reaches ``_agenerate``.
Orchestra sets it here around a streamed call; orchestra's own models read it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

__all__ = ["call_metadata", "current_call_metadata"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_METADATA: ContextVar[Mapping[str, Any]] = ContextVar("orchestra_call_metadata", default=_EMPTY)


@contextmanager
def call_metadata(metadata: Mapping[str, Any]) -> Iterator[None]:
    """Make ``metadata`` the current call's while the block runs."""
    token = _METADATA.set(MappingProxyType(dict(metadata)))
    try:
        yield
    finally:
        _METADATA.reset(token)


def current_call_metadata() -> Mapping[str, Any]:
    """The metadata of the call being streamed here (empty outside one)."""
    return _METADATA.get()
