"""Text analysis the built-in checks share: words, content words, prose, JSON.

Each analysis of a result is cached, so the checks split a result's words once.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

__all__ = ["STOPWORDS", "content_words", "words"]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours""".split()
)

_TASK_WORDS = frozenset(
    """write give list explain describe summarize summarise return provide create make show
    find name names use uses using answer include includes including mention mentions
    covers cover contains each every least short long brief simple clear correct valid
    good new way one two three four five six seven eight nine ten first second""".split()
)
"""Words of how tasks are phrased, not of what they are about (ignored when the words a
result shares with its task are counted)."""


@lru_cache(maxsize=64)
def _words(text: str) -> tuple[str, ...]:
    # Every check of a result asks for its words: cached, they are split once.
    return tuple(w.lower() for w in _WORD.findall(text))


@lru_cache(maxsize=64)
def _content(text: str) -> tuple[str, ...]:
    return tuple(w for w in _words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit()))


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased."""
    return list(_words(text))


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning (no stopwords, no single letters)."""
    return list(_content(text))


def _stem(word: str) -> str:
    """A crude stem: plural ``s`` off, then the first five letters (compost ~ composting)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:5]


def _topic_stems(text: str) -> set[str]:
    """Stems of the words that say what ``text`` is about (no numbers, no task phrasing)."""
    return {_stem(w) for w in _content(text) if not w.isdigit() and w not in _TASK_WORDS}


_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_TABLE_ROW = re.compile(r"^\s*\|.*$", re.MULTILINE)


@lru_cache(maxsize=64)
def _prose(text: str) -> str:
    """``text`` without code (fenced blocks, inline code) and table rows."""
    text = _FENCED.sub("\n", text)
    text = _INLINE_CODE.sub(" ", text)
    return _TABLE_ROW.sub("", text)


_JSON_START = re.compile(
    r"\s*(?:\{\s*[\"}]|\[\s*(?:[\[{\"\]]|-?\d+(?:\.\d+)?\s*[,\]]|true\b|false\b|null\b))"
)


def _looks_like_json(text: str) -> bool:
    return _JSON_START.match(text) is not None


@lru_cache(maxsize=64)
def _json_value(text: str) -> tuple[bool, Any]:
    """``(True, value)`` when the whole of ``text`` is JSON, else ``(False, None)``."""
    if not _looks_like_json(text):
        return False, None
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


_HEADING = re.compile(r"^\s*#{1,6}\s.*$", re.MULTILINE)
