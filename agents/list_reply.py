"""Replies that hold a list of entries (one call answering for several things at once).

The role designer designs a plan's leaves in one call (``{"roles": [...]}``) and the
planner can write several plans in one (``{"plans": [...]}``). Such a reply is read entry
by entry, so one bad entry costs a repair of that entry, not of the whole reply; a reply
cut off mid-list (a model's token limit) keeps its complete entries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from orchestra.agents.calls import AgentCall, ask, ask_with_schema, structured_runnable
from orchestra.core.messages import message_text
from orchestra.core.parsing import JSONBoundError, check_json_bounds, extract_json

__all__ = ["ask_list_once", "salvaged_list"]

_DECODER = json.JSONDecoder(strict=False)


async def ask_list_once(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    call: AgentCall,
    schema: dict[str, Any],
    key: str,
) -> tuple[str, Any, Exception | None]:
    """One structured call, as a round of ``ask_structured`` makes it, for a list reply.

    The raw reply, its JSON data (a reply cut off mid-way through the ``key`` list: its
    complete entries) and what was wrong with it, if anything.
    """
    structured = structured_runnable(model, schema)
    problem: Exception | None = None
    data: Any = None
    if structured is not None:
        raw, data, problem = await ask_with_schema(structured, model, messages, call)
    else:
        raw = message_text(await ask(model, messages, call))
        try:
            data = extract_json(raw)
        except ValueError as exc:
            problem = exc
    if data is None and problem is not None and not isinstance(problem, JSONBoundError):
        data = salvaged_list(raw, key)
    return raw, data, problem


def salvaged_list(raw: str, key: str) -> dict[str, Any] | None:
    """``{key: [...]}`` with the complete entries of a ``key`` list cut off mid-way."""
    start = raw.find(f'"{key}"')
    pos = raw.find("[", start) + 1 if start >= 0 else 0
    entries: list[Any] = []
    while pos > 0:
        while pos < len(raw) and raw[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(raw) or raw[pos] != "{":
            break
        try:
            value, pos = _DECODER.raw_decode(raw, pos)
            check_json_bounds(value)
        except (ValueError, RecursionError):  # the cut entry (JSONBoundError too)
            break
        entries.append(value)
    return {key: entries} if entries else None
