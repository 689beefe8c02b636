"""Reading JSON out of untrusted model text, within a size and a nesting bound.

Python's JSON decoder recurses once per nesting level, so a reply of 100,000 ``[`` raised
``RecursionError`` (which no repair loop caught) and a value nested a few hundred levels
deep could still overflow whatever walks it next (validation, hashing, checkpointing).
Model JSON is therefore read here only: past :data:`MAX_JSON_CHARS` characters or
:data:`MAX_JSON_DEPTH` levels, or with an integer beyond 64 bits (which a checkpoint
cannot store: the run failed where it saved one), it is a :class:`JSONBoundError`, a
``ValueError`` whose message goes back to the model like any other parse error.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "MAX_JSON_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_INT",
    "MIN_JSON_INT",
    "JSONBoundError",
    "check_json_bounds",
    "extract_json",
]

MAX_JSON_CHARS = 1_000_000
"""The longest reply JSON is read from (a plan of 8 x 8 x 8 tasks is about 200,000)."""
MAX_JSON_DEPTH = 64
"""The deepest nesting of objects and arrays read from a model (a plan needs about 10)."""


MIN_JSON_INT = -(2**63)
"""The smallest integer read from a model (a checkpoint stores 64-bit integers)."""
MAX_JSON_INT = 2**64 - 1
"""The largest integer read from a model."""


class JSONBoundError(ValueError):
    """Model JSON past the size or nesting bound; the message says which, for the model."""


_DECODER = json.JSONDecoder(strict=False)


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (code fences and chatter around it are ignored).

    Raises:
        JSONBoundError: ``text`` is longer than :data:`MAX_JSON_CHARS`, or the object is
            nested deeper than :data:`MAX_JSON_DEPTH`.
        ValueError: with a message a model can act on, when there is no valid object.
    """
    if len(text) > MAX_JSON_CHARS:
        raise JSONBoundError(
            f"the reply is {len(text):,} characters long; JSON is read from replies of at"
            f" most {MAX_JSON_CHARS:,}: answer with a shorter object"
        )
    start = text.find("{")
    if start < 0:
        raise ValueError("the reply contains no JSON object")
    try:
        # strict=False: a raw newline or tab inside a string (small models write them,
        # some grammars allow them) is read as itself instead of costing a repair round
        value, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError:  # the decoder's own guard, far past MAX_JSON_DEPTH
        raise _too_deep() from None
    check_json_bounds(value)
    return value


def check_json_bounds(value: object, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`JSONBoundError` if ``value`` is past the bounds model JSON is read in.

    Dicts and lists nested deeper than ``limit``, or an integer outside
    [:data:`MIN_JSON_INT`, :data:`MAX_JSON_INT`]: Python reads any integer, but the run's
    checkpoints store 64-bit ones only, and a bigger one would fail the run where it is
    saved instead of going back to the model. It walks with a stack of its own, so no
    depth can make it recurse. Use it on JSON data a model produced that did not come
    through :func:`extract_json` (a provider's parsed tool-call arguments).
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        elif isinstance(item, int) and not MIN_JSON_INT <= item <= MAX_JSON_INT:
            raise JSONBoundError(
                f"{_said(item)} is outside the integers JSON is read in"
                f" ({MIN_JSON_INT} to {MAX_JSON_INT}): write it as a string"
            )
        else:
            continue
        if depth > limit:
            raise _too_deep(limit)
        stack.extend((child, depth + 1) for child in children)


def _too_deep(limit: int = MAX_JSON_DEPTH) -> JSONBoundError:
    return JSONBoundError(
        f"the JSON is nested deeper than {limit} levels of objects and arrays: answer with a"
        " flatter object"
    )


def _said(number: int) -> str:
    """``number`` for a message to the model: its digits, or how many when very long."""
    if number.bit_length() <= 128:
        return f"the number {number}"
    return f"a number of about {int(number.bit_length() * 0.30103) + 1} digits"
