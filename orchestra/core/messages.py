"""The text of a chat message, whatever shape its content has."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage, BaseMessage, ToolCallChunk

__all__ = ["message_text", "tool_call_chunks"]


def message_text(message: BaseMessage) -> str:
    """The message's text: its content when that is a string, else the text of its parts.

    Plain string content is the common case, and ``BaseMessage.text`` builds an accessor
    object on every read, so it is only asked for list-of-parts content.
    """
    content = message.content
    if isinstance(content, str):
        return content
    text = message.text
    return text if isinstance(text, str) else str(content)


def tool_call_chunks(message: AIMessage) -> list[ToolCallChunk]:
    """A reply's tool calls as the chunks a stream carries them in (one per call)."""
    return [
        ToolCallChunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=n)
        for n, c in enumerate(message.tool_calls)
    ]
