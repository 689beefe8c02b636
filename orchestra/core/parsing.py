"""Reading JSON out of untrusted model text."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["extract_json"]


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (code fences and chatter around it are ignored).

    Raises:
        ValueError: with a message a model can act on, when there is no valid object.
    """
    start = text.find("{")
    if start < 0:
        raise ValueError("the reply contains no JSON object")
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return value
