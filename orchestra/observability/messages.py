"""LangChain messages in the GenAI conventions' JSON shape (``gen_ai.input.messages``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from orchestra.core.messages import message_text

__all__ = ["input_messages", "output_messages"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _parts(message: BaseMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = message_text(message)
    if isinstance(message, ToolMessage):
        return [{"type": "tool_call_response", "id": message.tool_call_id, "response": text}]
    if text:
        parts.append({"type": "text", "content": text})
    if isinstance(message, AIMessage):
        parts.extend(
            {"type": "tool_call", "id": c.get("id"), "name": c["name"], "arguments": c["args"]}
            for c in message.tool_calls
        )
    return parts


def input_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The messages sent to a model."""
    return [{"role": _ROLES.get(m.type, m.type), "parts": _parts(m)} for m in messages]


def output_messages(reply: AIMessage) -> list[dict[str, Any]]:
    """A model's reply."""
    finish = (reply.response_metadata or {}).get("finish_reason") or (
        "tool_call" if reply.tool_calls else "stop"
    )
    return [{"role": "assistant", "parts": _parts(reply), "finish_reason": str(finish)}]
