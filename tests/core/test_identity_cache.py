"""IdentityCache: one computation per live object, nothing stale after it is gone."""

from __future__ import annotations

import gc

from langchain_core.tools import tool

from orchestra.core.identity_cache import IdentityCache
from orchestra.tools.definitions import tool_definition


class _Thing:
    def __init__(self, name: str) -> None:
        self.name = name


def test_a_value_is_computed_once_per_live_object():
    computed: list[str] = []
    cache: IdentityCache[_Thing, str] = IdentityCache(lambda t: computed.append(t.name) or t.name)
    a, b = _Thing("a"), _Thing("b")
    assert [cache(a), cache(a), cache(b), cache(a)] == ["a", "a", "b", "a"]
    assert computed == ["a", "b"]


def test_an_entry_goes_with_its_object():
    cache: IdentityCache[_Thing, str] = IdentityCache(lambda t: t.name)
    thing = _Thing("x")
    cache(thing)
    assert len(cache) == 1
    del thing
    gc.collect()
    assert len(cache) == 0


def test_objects_without_weak_references_are_computed_every_time():
    computed: list[int] = []
    cache: IdentityCache[tuple[int, ...], int] = IdentityCache(
        lambda t: computed.append(1) or len(t)
    )
    value = (1, 2)
    assert cache(value) == cache(value) == 2
    assert len(computed) == 2 and len(cache) == 0


def test_a_tool_is_converted_to_its_definition_once():
    @tool
    def lookup(key: int) -> str:
        """Look a key up."""
        return str(key)

    first = tool_definition(lookup)
    assert first is tool_definition(lookup)
    assert first["function"]["name"] == "lookup"
    assert first["function"]["parameters"]["properties"]["key"]["type"] == "integer"
