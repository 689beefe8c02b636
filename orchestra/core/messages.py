"""The text of a chat message, whatever shape its content has."""

from __future__ import annotations

from langchain_core.messages import BaseMessage

__all__ = ["message_text"]


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
