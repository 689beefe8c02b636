"""Checks on what a result says: empty, boilerplate or refusal, placeholders, the task echoed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from orchestra.checks.text import _HEADING, _content, _prose, _stem, _words
from orchestra.core.checks import CheckedTask

__all__ = ["NoPlaceholders", "NotBoilerplate", "NotEcho", "NotEmpty"]


@dataclass(frozen=True, slots=True)
class NotEmpty:
    """Catches an empty result: nothing but whitespace and punctuation, or only headings."""

    name: ClassVar[str] = "not_empty"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        if not _words(result):
            return "the result is empty"
        if "#" in result and not _words(_HEADING.sub("", result)):
            return "the result is only headings, with nothing under them"
        return None


_REFUSAL_VERBS = (
    "help|assist|provide|do|answer|comply|fulfil|fulfill|complete|write|create|access"
    "|browse|search|look|generate|give|produce|share|offer|perform|draft|tell"
)
_DISCLAIMERS = re.compile(
    "|".join(
        (
            r"\bas an ai\b",
            r"\bas an artificial intelligence\b",
            r"\bas an? (?:large )?language model\b",
            r"\bi(?:'m| am) (?:just |only )?an? (?:ai|artificial intelligence|assistant"
            r"|language model|chatbot|virtual assistant)\b",
            r"\bi(?: cannot| can not| can't| won't| will not| am unable to|'m unable to"
            r"| am not able to|'m not able to| do not have the ability to"
            rf"| don't have the ability to)(?: \w+ly)? (?:{_REFUSAL_VERBS})\b",
            r"\bi(?:'m| am) sorry,? but\b",
            r"\bi apologi[sz]e,? but\b",
            r"\b(?:unfortunately|sorry),? i (?:cannot|can't|can not|am unable|'m unable"
            r"|do not|don't|won't)\b",
            r"\bi (?:do not|don't) have (?:personal|access|the ability|real[- ]time|opinions"
            r"|feelings|browsing|internet)",
        )
    )
)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_READINESS = re.compile(
    "|".join(
        (
            r"\bi(?:'m| am|'d be| would be|'ll be| will be) (?:(?:so|very|more than) )?"
            r"(?:ready|here|happy|glad|eager|delighted) to (?:help|assist)",
            r"\bwhat(?:'s| is) (?:your|the) (?:task|question|request)\b",
            r"\bhow (?:can|may|could) i (?:help|assist)\b",
            r"\b(?:provide|give|send|share|tell) (?:me )?(?:with )?(?:the|your|more|some"
            r"|a bit more|a little more|additional) (?:\w+ )?(?:task|details|information"
            r"|context|text|question|specifics|requirements)\b",
            r"\b(?:could|can|would) you (?:please )?(?:tell me|share|provide|clarify|specify"
            r"|give me|send|describe|let me know)\b",
            r"\blet me know (?:what|which|how|the)\b",
            r"\bwhat (?:would|do) you (?:like|want)\b",
            r"\b(?:would|do) you (?:like|want) me to\b",
        )
    )
)


_PLEASANTRIES = frozenset(
    """welcome thanks thank sure certainly absolutely course okay ok hello hi hey please
    glad happy ready great moment moments help assist assistance task tasks question
    questions request project detail details pace time discuss free feel anytime need
    needs let know""".split()
)
"""Words of assistant small talk: they say nothing about a task."""


@dataclass(frozen=True, slots=True)
class NotBoilerplate:
    """Catches refusals and assistant boilerplate instead of a result.

    AI disclaimers, refusals and apologies ("As an AI language model...", "I'm unable to
    browse...", "I apologize, but I cannot...") near the start, and in a short reply
    readiness talk or questions back to the user ("I'd be happy to help! Could you tell
    me more?", "How can I assist you?") with little else. A long answer may end with an
    offer of more help, and a written reply may ask its reader something.
    """

    name: ClassVar[str] = "not_boilerplate"
    opening_chars: int = 300
    """How far into the result a disclaimer or refusal is looked for."""
    short_words: int = 60
    """Readiness talk is boilerplate in replies up to this many words..."""
    other_words: int = 3
    """...that say no more than this many content words besides it."""

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        text = result.lower().replace("’", "'")
        found = _DISCLAIMERS.search(text, 0, self.opening_chars)
        if found:
            return f"the result is a refusal or an AI disclaimer ({found.group(0)!r})"
        if len(_words(result)) <= self.short_words:
            found = _READINESS.search(text)
            if found and self._little_else(text):
                return f"the result is assistant boilerplate, not a result ({found.group(0)!r})"
        return None

    def _little_else(self, text: str) -> bool:
        """Whether the reply says little besides its readiness talk ("Sure! How can I help?").

        Pleasantries and contractions ("You're welcome! I'll be here for a moment...")
        say nothing either.
        """
        rest = " ".join(s for s in _SENTENCES.split(text) if not _READINESS.search(s))
        said = [w for w in _content(rest) if "'" not in w and w not in _PLEASANTRIES]
        return len(said) <= self.other_words


_PLACEHOLDER_WORDS = (
    "insert|your|placeholder|todo|tbd|name|date|source|company|city|address|email|phone"
    "|number|amount|title|link|url|citation|author|product|location|organization"
)
_PLACEHOLDERS = (
    # [Company Name], [insert source]; not [1], [x], [a, b], links [text](url), data[name]
    re.compile(
        rf"(?<![\w\]\)])\[[^\[\]\n\"'`,]{{0,40}}?\b(?:{_PLACEHOLDER_WORDS})\b"
        r"[^\[\]\n\"'`,]{0,40}\](?![(:])",
        re.IGNORECASE,
    ),
    re.compile(r"<(?:insert|placeholder|your)\b[^<>\n]*>", re.IGNORECASE),
    re.compile(r"\((?:insert|placeholder)\b[^()\n]*\)", re.IGNORECASE),
    re.compile(r"\{\{[^{}\n]*\}\}"),
    re.compile(r"\blorem ipsum\b", re.IGNORECASE),
    # XX%, $XX, 20XX, X,XXX: figures left to fill in
    re.compile(
        r"(?<![A-Za-z0-9])(?:\$\s?X{2,}\b|X{2,}(?:\.X+)?\s?%|(?:19|20)XX\b|X{1,3}(?:,XXX)+\b)"
    ),
)


_MARKERS = re.compile(r"\b(?:TODO|TBD|FIXME)\b")
_LABEL = re.compile(r"\b([A-Za-z]+) (\d{1,3})\b")


def _empty_labels(text: str, run: int = 3) -> str | None:
    """The first ``run`` numbered labels in a row with nothing between them.

    "Fact 1 - Fact 2 Fact 3" is a template; "Apollo 15, Apollo 16" (commas) names things.
    """
    chain: list[re.Match[str]] = []
    for found in _LABEL.finditer(text):
        if chain:
            last = chain[-1]
            gap = text[last.end() : found.start()]
            if (
                found.group(1).lower() == last.group(1).lower()
                and int(found.group(2)) == int(last.group(2)) + 1
                and len(gap) <= 3
                and not any(c.isalnum() or c in ",;&/" for c in gap)
            ):
                chain.append(found)
                if len(chain) >= run:
                    return text[chain[0].start() : found.end()]
                continue
        chain = [found]
    return None


@dataclass(frozen=True, slots=True)
class NoPlaceholders:
    """Catches templates instead of content.

    Fields left to fill in (``[Company Name]``, ``[insert source]``, ``<your name>``,
    ``{{...}}``, figures like ``XX%`` or ``$XX``), ``lorem ipsum``, ``TODO``/``TBD``/
    ``FIXME`` (unless the task itself uses the word), and numbered labels with nothing
    between them ("Fact 1 - Fact 2 Fact 3"). Code (fenced or inline) may hold template
    syntax and brackets: only ``TODO`` and ``FIXME`` count there. A task that asks for a
    template or placeholders gets them.
    """

    name: ClassVar[str] = "no_placeholders"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        prose = _prose(result)
        asked = {w.upper() for w in _words(task.text)}
        if asked & {"TEMPLATE", "TEMPLATES", "PLACEHOLDER", "PLACEHOLDERS"}:
            return None
        for pattern in _PLACEHOLDERS:
            found = pattern.search(prose)
            if found:
                return f"the result holds a placeholder ({found.group(0)!r})"
        for found in _MARKERS.finditer(result):
            if found.group(0) not in asked:
                return f"the result holds a placeholder ({found.group(0)!r})"
        labels = _empty_labels(prose)
        if labels:
            return f"the result lists numbered labels with nothing in them ({labels[:60]!r})"
        return None


def _in_order(said: list[str], known: list[str]) -> int:
    """How many of ``said`` appear in ``known`` in the same order (longest common subsequence)."""
    previous = [0] * (len(known) + 1)
    for word in said:
        current = [0]
        for j, other in enumerate(known):
            current.append(previous[j] + 1 if word == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


_ABOUT_THE_REQUEST = frozenset(
    "task tasks final answer question request prompt write following goal reply result".split()
)
"""Words a model uses when it restates its instructions rather than answering them."""


@dataclass(frozen=True, slots=True)
class NotEcho:
    """Catches a result that only restates the task.

    A short text (at least ``min_words``) nearly all of whose words are the task's own
    title and description, in the task's order ("Describe the main steps of making
    bread." as the answer to that task). Words of the acceptance criteria are what an
    answer should use; picking among the task's options in another order ("Which is
    denser, ice or water?" - "Water is denser than ice.") is an answer.
    """

    name: ClassVar[str] = "not_echo"
    max_words: int = 20
    """Longer results are not taken for echoes."""
    min_words: int = 3
    """Shorter results ("Paris", "liquid water") are answers, unless they are the whole
    title ("Explain recursion.")."""
    share: float = 0.9
    """The share of the result's content words found in the task that makes it an echo."""

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        content = _content(result)
        if not content or len(content) > self.max_words:
            return None
        # "Your task is to write the final answer to: <the task>" restates it too
        said = [_stem(w) for w in content if w not in _ABOUT_THE_REQUEST]
        if len(said) < self.min_words:
            title = [_stem(w) for w in _content(task.title)]
            return "the result only restates the task" if said == title else None
        known = [_stem(w) for w in _content(f"{task.title} {task.description}")]
        if _in_order(said, known) / len(said) >= self.share:
            return "the result only restates the task"
        return None
