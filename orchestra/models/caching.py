"""Provider prompt caching: where a prompt's stable prefix ends, and what the cache saved.

Every agent builds its prompt stable part first: its system message holds what many calls
share (the agent's instructions, the goal, the role), the task-specific part comes after
it (docs/models.md, "Prompt caching"). Providers reuse such prefixes:

* OpenAI caches every prompt's prefix by itself (at least 1024 tokens, matched exactly),
  so the layout is all it needs;
* Anthropic caches up to a *breakpoint* the request marks with ``cache_control``:
  :func:`with_cache_breakpoints` puts one on the last block of the leading system
  messages (tools and system are cached together, as Anthropic orders them first) and,
  in a conversation that goes on (a tool loop, a repair round), one on its last message,
  so the next call reads the whole conversation so far from the cache. Prefixes shorter
  than the model's minimum (1024 tokens for most Claude models) are not cached and cost
  nothing extra.

What a reply says the cache did is read by :func:`cache_tokens` from langchain's
``usage_metadata`` (``input_token_details``: ``cache_read``, ``cache_creation``) and
priced at the cached rates of :class:`~orchestra.core.usage.Price`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

__all__ = ["CACHE_CONTROL", "CACHING_PROVIDERS", "cache_tokens", "with_cache_breakpoints"]

CACHE_CONTROL: dict[str, str] = {"type": "ephemeral"}
"""Anthropic's breakpoint marker (a five-minute cache)."""

CACHING_PROVIDERS = frozenset({"anthropic"})
"""Providers (langchain's ``ls_provider``) that cache only where a request marks it."""


def with_cache_breakpoints(messages: Sequence[BaseMessage], provider: str) -> list[BaseMessage]:
    """``messages`` as sent to ``provider``: with cache breakpoints where it needs them.

    For other providers the messages are returned as they are. The messages given are
    never changed (the marked ones are copies), so conversations kept or checkpointed
    stay plain.
    """
    out = list(messages)
    if provider not in CACHING_PROVIDERS or not out:
        return out
    system_end = 0
    while system_end < len(out) and out[system_end].type == "system":
        system_end += 1
    if system_end:
        out[system_end - 1] = _marked(out[system_end - 1])
    goes_on = any(isinstance(m, AIMessage) for m in out[system_end:])
    if goes_on and len(out) > system_end:
        out[-1] = _marked(out[-1])
    return out


def _marked(message: BaseMessage) -> BaseMessage:
    """A copy of ``message`` whose last content block carries the cache breakpoint."""
    content = message.content
    blocks: list[str | dict[str, Any]]
    if isinstance(content, str):
        if not content:
            return message  # Anthropic refuses a breakpoint on an empty text block
        blocks = [{"type": "text", "text": content, "cache_control": dict(CACHE_CONTROL)}]
    else:
        blocks = list(content)
        for n in range(len(blocks) - 1, -1, -1):
            block = blocks[n]
            if isinstance(block, str):
                blocks[n] = {"type": "text", "text": block, "cache_control": dict(CACHE_CONTROL)}
                break
            if isinstance(block, dict) and block.get("type") in ("text", "image", "document"):
                blocks[n] = {**block, "cache_control": dict(CACHE_CONTROL)}
                break
        else:
            return message
    return message.model_copy(update={"content": blocks})


def cache_tokens(usage: Mapping[str, Any]) -> tuple[int, int]:
    """The input tokens read from and written to a prompt cache, from ``usage_metadata``.

    langchain puts both in ``input_token_details``: ``cache_read`` (OpenAI's
    ``cached_tokens``, Anthropic's ``cache_read_input_tokens``; a service tier may prefix
    it, e.g. ``priority_cache_read``) and ``cache_creation`` (Anthropic's writes; split
    into ``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` when it reports
    the cache's lifetime, with ``cache_creation`` then 0).
    """
    details = usage.get("input_token_details") or {}
    read = written = 0
    for key, value in details.items():
        if not isinstance(value, int):
            continue
        if key == "cache_read" or key.endswith("_cache_read"):
            read += value
        elif key == "cache_creation" or key.endswith(
            ("_cache_creation", "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
        ):
            written += value
    return read, written
