"""Checks that a result is about its task and its attempt: grounded in tool outputs, on topic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from orchestra.checks.text import (
    _WORD,
    STOPWORDS,
    _content,
    _json_value,
    _prose,
    _stem,
    _topic_stems,
    _words,
)
from orchestra.core.checks import CheckedTask
from orchestra.core.errors import ConfigError
from orchestra.memory.embeddings import shared_embedder

__all__ = ["Grounded", "OnTopic", "on_topic"]


@dataclass(frozen=True, slots=True)
class Grounded:
    """Catches a result that ignores every tool output of its attempt.

    When tools returned something, the result must carry at least ``min_shared`` of the
    words or numbers they returned that the task itself does not contain.
    """

    min_shared: int = 1
    name: ClassVar[str] = "grounded"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        outputs = [o for o in task.tool_outputs if o.strip()]
        if not outputs:
            return None
        known = set(_content(task.text))
        returned = {w for o in outputs for w in _content(o[:20_000])} - known
        if not returned:
            return None  # the tools returned nothing the task did not already say
        shared = returned & set(_content(result))
        if len(shared) < self.min_shared:
            return (
                f"the result uses nothing the {len(outputs)} tool call(s) of its attempt returned"
            )
        return None


@lru_cache(maxsize=256)
def _task_vector(text: str) -> Any:
    return shared_embedder().embed([text], max_tokens=_TASK_TOKENS)[0]


_TASK_TOKENS = 64
"""How much of a task (title and description) is embedded once for all its attempts."""


_FOREIGN_WORDS = frozenset(
    """der die das und ist nicht mit den zu ein eine für auf wird sich dem des von im le les
    et est une pour dans qui pas du au sur avec sont ce elle el los las y es que en una por
    para con del se lo como más il di che è sono della alla gli os não uma com do da em het
    een van niet""".split()
)
"""Function words of French, German, Spanish, Italian, Portuguese and Dutch."""


def _english_prose(text: str, share: float) -> bool:
    """Whether ``text`` reads as English sentences.

    At least ``share`` of its words are English function words, more than those of other
    European languages, and most of its letters are Latin ones.
    """
    letters = [c for c in text if c.isalpha()]
    if sum(not c.isascii() for c in letters) > 0.3 * len(letters):
        return False
    tokens = _words(text)
    english = sum(w in STOPWORDS for w in tokens)
    return english >= share * len(tokens) and english >= sum(w in _FOREIGN_WORDS for w in tokens)


def _without(text: str, stems: set[str]) -> str:
    """``text`` without the words whose stems are in ``stems``."""
    return _WORD.sub(lambda m: "" if _stem(m.group(0).lower()) in stems else m.group(0), text)


@dataclass(frozen=True, slots=True)
class OnTopic:
    """Catches a fluent result about something else.

    The result's meaning is compared with the task's (its title and description): the
    cosine similarity of their offline MiniLM embeddings (shipped with the package) must
    reach ``threshold``. Words
    the result shares with the task are left out of it before it is embedded, so that
    one word in common (remote work, remote sensing) cannot make an unrelated text look
    related.

    Only English prose is judged, as MiniLM compares English sentences well and little
    else: short results ("391", "Canberra"), lists of names, formulas, code, tables, JSON
    and other languages are left to the critic. A result that uses enough of the task's
    own topic words is on topic without an embedding; of the others only the first
    ``max_tokens`` tokens are embedded (the cost grows with the tokens; a topic shows
    early). So most results cost no model call at all.
    """

    threshold: float = 0.15
    """The least cosine similarity between task and result."""
    min_words: int = 8
    """Results with fewer content words are too short to judge."""
    overlap: float = 0.25
    """The share of the task's topic words (and two or more) that makes a result on topic."""
    max_tokens: int = 32
    """How much of the result is embedded."""
    prose: float = 0.12
    """Texts fewer of whose words are English function words (the, of, and) are not prose."""
    name: ClassVar[str] = "on_topic"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        if _json_value(result.strip())[0]:
            return None  # data, not prose: json_schema's and the critic's to judge
        text = _prose(result[: self.max_tokens * 12])  # tokens are 3-5 characters
        if len(_content(text)) < self.min_words or not _english_prose(text, self.prose):
            return None
        topic = _topic_stems(task.text)
        shared = topic & _topic_stems(result)
        if len(shared) >= 2 and len(shared) >= self.overlap * len(topic):
            return None
        if shared:
            text = _without(text, shared)
        vector = shared_embedder().embed([text], max_tokens=self.max_tokens)[0]
        # What the task is about: its title and description (its criteria say how to judge).
        about = f"{task.title} {task.description}".strip()
        similarity = float(_task_vector(about) @ vector)
        if math.isnan(similarity) or similarity < self.threshold:
            return (
                f"the result is off topic (similarity {similarity:.2f} to the task,"
                f" below {self.threshold:.2f})"
            )
        return None


def on_topic(
    threshold: float = 0.15,
    *,
    min_words: int = 8,
    overlap: float = 0.25,
    max_tokens: int = 32,
    prose: float = 0.12,
) -> OnTopic:
    """A check that the result is about the task (see :class:`OnTopic`)."""
    if not -1.0 <= threshold <= 1.0:
        raise ConfigError(f"on_topic(): threshold {threshold} is not a cosine similarity")
    if not 0.0 < overlap <= 1.0:
        raise ConfigError(f"on_topic(): overlap {overlap} is not a share in (0, 1]")
    if max_tokens < 8:
        raise ConfigError(f"on_topic(): max_tokens {max_tokens} is too few to embed")
    return OnTopic(threshold, min_words, overlap, max_tokens, prose)
