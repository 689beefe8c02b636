from __future__ import annotations

import pytest
from pydantic import BaseModel

from orchestra import ConfigError, tool
from orchestra.tools import call_tool


@tool
async def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


class Point(BaseModel):
    x: int
    y: int


@tool(name="origin", description="The origin point.")
def make_origin() -> Point:
    return Point(x=0, y=0)


def test_decorator_takes_name_description_and_schema_from_the_function():
    assert add.name == "add" and add.description == "Add two numbers."
    assert add.args == {
        "a": {"title": "A", "type": "integer"},
        "b": {"default": 1, "title": "B", "type": "integer"},
    }
    assert make_origin.name == "origin" and make_origin.description == "The origin point."


def test_a_tool_without_description_is_a_config_error():
    def nodoc(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match="needs a description"):
        tool(nodoc)


async def test_call_tool_validates_serializes_and_refuses():
    tools = {"add": add, "origin": make_origin}
    allowed = {"add", "origin"}
    ok = await call_tool("add", {"a": 2}, available=tools, allowed=allowed, role="r")
    assert ok.ok and ok.output == "3" and ok.duration_s >= 0
    model = await call_tool("origin", {}, available=tools, allowed=allowed, role="r")
    assert model.output == '{"x":0,"y":0}'
    bad = await call_tool("add", {"a": "many"}, available=tools, allowed=allowed, role="r")
    assert not bad.ok and bad.output.startswith("invalid arguments for add: a:")
    not_obj = await call_tool("add", ["a"], available=tools, allowed=allowed, role="r")
    assert not not_obj.ok and "expected a JSON object" in not_obj.output
    refused = await call_tool("add", {"a": 1}, available=tools, allowed={"origin"}, role="r")
    assert not refused.ok and refused.output == (
        "refused: tool 'add' is not available to role 'r'; you may use ['origin']"
    )
