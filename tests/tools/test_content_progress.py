"""Tool results with images and sounds, and progress reports from tool functions."""

from __future__ import annotations

import base64

from orchestra.tools import Audio, Image, call_tool, report_progress, tool
from orchestra.tools.content import media_placeholder, split_content
from orchestra.tools.invoke import tool_output
from orchestra.tools.progress import ToolProgressUpdate, progress_sink

PNG = b"\x89PNG\r\n\x1a\n" + bytes(1300)


def test_images_sounds_and_content_blocks_become_placeholders_and_media_parts():
    b64 = base64.b64encode(PNG).decode()
    text, media = tool_output(
        ["before", Image(data=PNG), {"type": "audio", "base64": "AAAA", "mime_type": "audio/mp3"}]
    )
    assert text == "before\n[image/png, 1.3 KiB]\n[audio/mp3, 3 B]"
    assert media == [
        {"type": "image", "mimeType": "image/png", "data": b64},
        {"type": "audio", "mimeType": "audio/mp3", "data": "AAAA"},
    ]
    assert tool_output(Audio(data=b"x" * 3 * 1024 * 1024, mime_type="audio/wav"))[0] == (
        "[audio/wav, 3.0 MiB]"
    )
    # values that only look like content stay values
    assert tool_output(["a", "b"]) == ('["a", "b"]', [])
    assert tool_output({"type": "image", "base64": "not base64!", "mime_type": "x"})[1] == []
    assert split_content([1, Image(data=PNG)]) == ([], False)
    assert media_placeholder({"type": "image", "mimeType": "image/gif", "data": ""}) == (
        "[image/gif, 0 B]"
    )


async def test_a_tool_function_reports_progress_from_async_code_and_from_a_worker_thread():
    @tool
    async def crunch() -> str:
        """Crunch."""
        report_progress(1, 2, "half")
        return "done"

    @tool
    def grind() -> str:
        """Grind, in a worker thread."""
        report_progress(5)
        return "done"

    seen: list[ToolProgressUpdate] = []
    tools = {"crunch": crunch, "grind": grind}
    with progress_sink(seen.append):
        await call_tool("crunch", {}, available=tools, allowed=set(tools), role="r", key="k1")
        await call_tool("grind", {}, available=tools, allowed=set(tools), role="r", key="k2")
    assert seen == [
        ToolProgressUpdate(tool="crunch", key="k1", progress=1, total=2, message="half"),
        ToolProgressUpdate(tool="grind", key="k2", progress=5),
    ]
    report_progress(1)  # outside a call: goes nowhere, raises nothing
