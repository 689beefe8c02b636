"""Values computed once per live object, for objects that cannot be dictionary keys.

Models and tools are pydantic objects (unhashable), yet facts about them (a tool's JSON
definition, a model's provider) are asked for on every call. An :class:`IdentityCache`
keys them by identity and forgets an entry when its object is collected, so a new object
that happens to reuse an address never sees a stale value.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["IdentityCache"]

K = TypeVar("K")
V = TypeVar("V")


class IdentityCache(Generic[K, V]):
    """``compute(obj)`` remembered for as long as ``obj`` lives.

    Objects that cannot be weakly referenced are computed every time (never cached,
    since their address could be reused).
    """

    def __init__(self, compute: Callable[[K], V]) -> None:
        self._compute = compute
        self._values: dict[int, tuple[weakref.ref[K], V]] = {}

    def __call__(self, obj: K) -> V:
        """The value for ``obj``, computed on the first call while it lives."""
        key = id(obj)
        found = self._values.get(key)
        if found is not None and found[0]() is obj:
            return found[1]
        value = self._compute(obj)
        try:
            ref = weakref.ref(obj, lambda _: self._values.pop(key, None))
        except TypeError:
            return value
        self._values[key] = (ref, value)
        return value

    def __len__(self) -> int:
        """How many live objects have a value."""
        return len(self._values)
