"""``ainvoke_tool`` does what ``tool.ainvoke`` does, for every shape of coroutine tool."""

import contextvars
from typing import Annotated, Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.runnables.config import ensure_config
from langchain_core.tools import InjectedToolArg, StructuredTool, ToolException
from langchain_core.tools import tool as lc_tool
from pydantic import BaseModel

from orchestra.tools.direct import _DIRECT, ainvoke_tool

_LEAK: contextvars.ContextVar[str] = contextvars.ContextVar("leak", default="outside")


class Recorder(AsyncCallbackHandler):
    """Every tool and chain event, with what matters of its arguments."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.runs: dict[Any, str] = {}

    def _run(self, run_id: Any) -> str:
        return self.runs.setdefault(run_id, f"run{len(self.runs)}")

    async def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.events.append(("tool_start", serialized, input_str, kw.get("inputs"), kw.get("tags")))
        self._run(kw["run_id"])

    async def on_tool_end(self, output: Any, **kw: Any) -> None:
        self.events.append(("tool_end", output, kw.get("name"), self._run(kw["run_id"])))

    async def on_tool_error(self, error: BaseException, **kw: Any) -> None:
        self.events.append(("tool_error", type(error).__name__, str(error)))

    async def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        parent = kw.get("parent_run_id")
        self.events.append(("chain_start", inputs, self.runs.get(parent, parent)))


class SyncRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[str] = []

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.starts.append(input_str)


async def plain(x: int, y: str = "d") -> dict[str, Any]:
    return {"x": x, "y": y}


async def with_config(x: int, config: RunnableConfig) -> str:
    return f"{x}:{sorted(config['metadata'])}:{config.get('run_name')}"


async def with_callbacks(x: int, callbacks: Any = None) -> str:
    # a runnable inside the tool: its run belongs to the tool's run
    out = await RunnableLambda(lambda v: v + 1).ainvoke(x, {"callbacks": callbacks})
    return f"{type(callbacks).__name__}: {out}"


async def nested(x: int) -> str:
    # the child config the tool runs under, as a runnable inside it sees it
    return str(await RunnableLambda(lambda v: v * 2).ainvoke(x))


async def sets_context(x: int) -> str:
    _LEAK.set("inside")
    return f"{x}:{ensure_config().get('tags')}"


async def raises_tool_error(x: int) -> str:
    raise ToolException(f"bad {x}")


async def raises_value_error(x: int) -> str:
    raise ValueError(f"broken {x}")


async def artifact(x: int) -> tuple[str, dict[str, int]]:
    return f"content {x}", {"raw": x}


async def not_a_pair(x: int) -> str:
    return "just content"


class Injected(BaseModel):
    x: int
    secret: Annotated[str, InjectedToolArg]


async def injected(x: int, secret: str) -> str:
    return f"{x}/{secret}"


def _tools() -> list[tuple[StructuredTool, dict[str, Any]]]:
    def make(fn: Any, **kw: Any) -> StructuredTool:
        return StructuredTool.from_function(coroutine=fn, description=fn.__name__, **kw)

    return [
        (make(plain), {"x": 1}),
        (make(plain), {"x": "2", "y": "z"}),
        (make(plain), {"x": "not a number"}),
        (make(plain, handle_validation_error=True), {"x": "not a number"}),
        (make(plain, handle_validation_error="fix x"), {"x": "nan"}),
        (make(with_config), {"x": 3}),
        (make(with_callbacks), {"x": 4}),
        (make(nested), {"x": 5}),
        (make(sets_context), {"x": 6}),
        (make(raises_tool_error), {"x": 7}),
        (make(raises_tool_error, handle_tool_error=True), {"x": 8}),
        (make(raises_tool_error, handle_tool_error="sorry"), {"x": 9}),
        (make(raises_value_error), {"x": 10}),
        (make(artifact, response_format="content_and_artifact"), {"x": 11}),
        (make(not_a_pair, response_format="content_and_artifact"), {"x": 12}),
        (make(injected, args_schema=Injected), {"x": 13, "secret": "s"}),
        (
            StructuredTool(
                name="json_schema",
                description="a JSON-schema tool",
                args_schema={"type": "object", "properties": {"x": {"type": "integer"}}},
                coroutine=plain,
            ),
            {"x": 14},
        ),
        (make(plain, tags=["tool-tag"], metadata={"m": 1}), {"x": 15}),
    ]


async def _outcome(call: Any, tool: StructuredTool, args: dict[str, Any]) -> tuple[Any, ...]:
    """What a call returns or raises, what callbacks saw, and whether a context leaked.

    One recorder is the tool's own (local), the other the caller's (inherited by
    runnables inside the tool), as under a graph node run with callbacks.
    """
    own, outer = Recorder(), Recorder()
    tool.callbacks = [own]
    _LEAK.set("outside")

    async def node(_: Any) -> Any:
        try:
            return ("ok", await call(tool, args))
        except Exception as exc:
            return ("raised", type(exc).__name__, str(exc))

    config: RunnableConfig = {
        "callbacks": [outer],
        "tags": ["outer"],
        "metadata": {"k": "v"},
        "run_name": "outer",
    }
    result = await RunnableLambda(node).ainvoke(None, config)
    tool.callbacks = None
    return result, own.events, outer.events, _LEAK.get()


@pytest.mark.parametrize("case", range(len(_tools())))
async def test_same_result_errors_and_callbacks_as_ainvoke(case: int) -> None:
    tool, args = _tools()[case]
    expected = await _outcome(lambda t, a: t.ainvoke(dict(a)), tool, args)
    got = await _outcome(ainvoke_tool, tool, args)
    assert _DIRECT(tool) is not None  # the direct path was taken
    assert got == expected


async def test_same_without_callbacks_and_under_a_parent_config() -> None:
    config: RunnableConfig = {"tags": ["outer"], "metadata": {"k": "v"}, "run_name": "outer"}
    for tool, args in _tools():

        async def both(tool: StructuredTool = tool, args: dict[str, Any] = args) -> Any:
            out = []
            for call in (lambda: tool.ainvoke(dict(args)), lambda: ainvoke_tool(tool, args)):
                try:
                    out.append(("ok", await call()))
                except Exception as exc:
                    out.append(("raised", type(exc).__name__, str(exc)))
            return out

        plain_run = await both()
        assert plain_run[0] == plain_run[1]

        # inside a runnable, as in a graph node: the parent config reaches the tool
        async def node(_: Any, both: Any = both) -> Any:
            return await both()

        under = await RunnableLambda(node).ainvoke(None, config)
        assert under[0] == under[1]


async def test_sync_handlers_see_the_same_input() -> None:
    tool = StructuredTool.from_function(coroutine=injected, description="d", args_schema=Injected)
    seen = []
    for call in (
        lambda: tool.ainvoke({"x": 1, "secret": "s"}),
        lambda: ainvoke_tool(tool, {"x": 1, "secret": "s"}),
    ):
        recorder = SyncRecorder()
        tool.callbacks = [recorder]
        await call()
        seen.append(recorder.starts)
    assert seen[0] == seen[1] == ["{'x': 1}"]  # the injected argument filtered out


async def test_other_tools_go_through_ainvoke() -> None:
    class Custom(StructuredTool):
        async def _arun(self, *args: Any, **kwargs: Any) -> Any:
            return "custom"

    custom = Custom(name="c", description="d", args_schema={"type": "object"}, coroutine=plain)
    assert _DIRECT(custom) is None
    assert await ainvoke_tool(custom, {}) == "custom"

    @lc_tool
    def sync(x: int) -> int:
        """A sync tool."""
        return x + 1

    assert _DIRECT(sync) is None
    assert await ainvoke_tool(sync, {"x": 1}) == 2


async def test_a_replaced_coroutine_is_called() -> None:
    tool = StructuredTool.from_function(coroutine=plain, description="d")
    assert await ainvoke_tool(tool, {"x": 1}) == {"x": 1, "y": "d"}

    async def other(x: int, y: str = "d") -> str:
        return "other"

    tool.coroutine = other
    assert await ainvoke_tool(tool, {"x": 1}) == "other"


def test_the_direct_call_is_on_exactly_for_the_langchain_it_was_checked_against():
    import langchain_core

    from orchestra.tools import direct

    checked = direct._version(langchain_core.__version__) <= direct.TESTED_UP_TO
    assert direct._STANDARD_ARUN is checked
    assert direct._version("1.10.0rc1") == (1, 10) and direct._version("2") == (2, 0)
