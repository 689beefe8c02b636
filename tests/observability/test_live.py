"""The live terminal view, fed by a real run's events."""

from __future__ import annotations

import asyncio

from rich.console import Console

from orchestra import Event, tool
from orchestra.core.events import ToolProgress, ToolStarted
from orchestra.observability.live import LiveView
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from orchestra.tools import report_progress
from tests.conftest import GUARD_S, make_team


def _text(view: LiveView) -> str:
    console = Console(width=120, record=True, color_system=None, file=None)
    with console.capture() as capture:
        console.print(view)
    return capture.get()


async def test_the_view_shows_running_tools_then_statuses_tokens_and_times():
    released = asyncio.Event()

    @tool
    async def fetch(url: str) -> str:
        """Fetch a page."""
        await asyncio.wait_for(released.wait(), GUARD_S)
        return "page"

    script = {
        "planner": [
            plan(
                subtask("gather", "Gather sources", subtasks=[subtask("web"), subtask("notes")]),
                subtask("write", "Write it up", deps=["gather"]),
            )
        ],
        "role_designer": role_spec("researcher", "Research.", ["fetch"]),
        "executor@web": [tool_call("fetch", {"url": "http://x"}), "found"],
        "executor": "done",
        "lead@gather": "sources, integrated",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, _ = make_team(script, tools=[fetch])
    view = LiveView()
    during: list[str] = []

    def on_event(event: Event) -> None:
        view.update(event)
        if isinstance(event, ToolStarted):
            during.append(_text(view))  # the tool is blocked until we let it go
            released.set()

    result = await team.arun("research and write", on_event=on_event)
    assert result.succeeded

    [mid] = during
    assert "running" in mid.splitlines()[0]
    web_line = next(line for line in mid.splitlines() if " web " in line)
    assert "◐" in web_line and "⚙ fetch" in web_line and "researcher" in web_line
    write_line = next(line for line in mid.splitlines() if " write " in line)
    assert "○" in write_line and "waits for gather" in write_line

    final = _text(view)
    header = final.splitlines()[0]
    assert header.startswith("succeeded") and "4 tasks: 4 done" in header
    assert f"{result.usage.total_tokens} tokens" in header
    lines = final.splitlines()
    # the tree: gather's children are indented under it, and every task is done
    gather = next(i for i, line in enumerate(lines) if " gather " in line)
    web = next(i for i, line in enumerate(lines) if " web " in line)
    assert web > gather and lines[web].index("web") > lines[gather].index("gather")
    for task_id in ("gather", "web", "notes", "write"):
        line = next(line for line in lines if f" {task_id} " in line)
        assert "●" in line, line
    web_tokens = result.tree.get("web").usage.total_tokens
    assert f"{web_tokens} tok" in lines[web] and "⚙" not in lines[web]


async def test_replacements_follow_the_task_they_replaced():
    script = {
        "planner": [plan(subtask("draft"), subtask("other"))],
        "planner@draft": [plan(subtask("outline"), subtask("write", deps=["outline"]))],
        "role_designer": role_spec("worker", "Do it.", []),
        "executor@draft": ["bad draft"],
        "executor": "fine",
        "critic@draft": [verdict("replan", "wrong approach")],
        "critic": verdict("pass"),
        "synthesizer": "ok",
    }
    team, _ = make_team(script)
    view = LiveView()
    await team.arun("goal", on_event=view.update)
    lines = _text(view).splitlines()
    assert "4 tasks: 3 done, 1 replaced" in lines[0]
    order = [
        next(t for t in ("draft", "outline", "write", "other") if f" {t} " in line)
        for line in lines[2:]
    ]
    assert order == ["draft", "outline", "write", "other"]
    assert "↻" in lines[2]


async def test_a_running_tool_shows_its_progress_on_its_line():
    released = asyncio.Event()

    @tool
    async def render(pages: int) -> str:
        """Render pages."""
        report_progress(2, pages, "page 2\x1b[2J")
        await asyncio.wait_for(released.wait(), GUARD_S)
        return "rendered"

    script = {
        "planner": [plan(subtask("doc", "Render the document"))],
        "role_designer": role_spec("renderer", "Render.", ["render"]),
        "executor": [tool_call("render", {"pages": 5}), "done"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, _ = make_team(script, tools=[render])
    view = LiveView()
    during: list[str] = []

    def on_event(event: Event) -> None:
        view.update(event)
        if isinstance(event, ToolProgress):
            during.append(_text(view))  # the tool waits until we let it go
            released.set()

    result = await team.arun("render", on_event=on_event)
    assert result.succeeded
    [mid] = during
    line = next(line for line in mid.splitlines() if " doc " in line)
    assert "⚙ render 2/5 page 2[2J" in line  # the escape character is not printed
    assert "⚙" not in next(line for line in _text(view).splitlines() if " doc " in line)
