"""Checks: model-free tests a result must pass before the critic is asked about it.

A check is a plain function (sync or async) of the task and the result. It returns
nothing when the result is fine and a reason when it is not::

    def cites_a_source(task: CheckedTask, result: str) -> str | None:
        return None if "http" in result else "the result cites no source"

    team = Team(..., checks=[checks.not_empty, cites_a_source])

A reason means ``retry`` (the executor tries again with the reason as feedback); raise
:class:`CheckFailed` with ``verdict="replan"`` or ``"fail"`` to ask for more. Checks run
in order on every attempt, before the LLM critic; the first that fails is the verdict
(source ``check:<name>``) and the critic is not called. A check costs no model call.

The built-in checks below catch what small models get wrong most often, each on any
text (none knows anything about a particular goal); :data:`DEFAULT_CHECKS` are those that
need no configuration, cheapest first.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from orchestra.core.checks import (
    Check,
    CheckedTask,
    CheckError,
    CheckFailed,
    CheckOutcome,
    CheckVerdict,
    check_name,
    run_checks,
)
from orchestra.core.errors import ConfigError
from orchestra.core.parsing import extract_json
from orchestra.memory.embeddings import shared_embedder

__all__ = [
    "DEFAULT_CHECKS",
    "Check",
    "CheckError",
    "CheckFailed",
    "CheckOutcome",
    "CheckVerdict",
    "CheckedTask",
    "check_name",
    "complete",
    "grounded",
    "json_schema",
    "length",
    "no_placeholders",
    "not_boilerplate",
    "not_degenerate",
    "not_echo",
    "not_empty",
    "on_topic",
    "run_checks",
]

# -- text helpers ------------------------------------------------------------------

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


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased."""
    return [w.lower() for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning (no stopwords, no single letters)."""
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


# -- built-in checks -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotEmpty:
    """Catches an empty result, or one of nothing but whitespace and punctuation."""

    name: ClassVar[str] = "not_empty"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        return None if words(result) else "the result is empty"


_DISCLAIMERS = (
    r"\bas an ai\b",
    r"\bas an? (?:large )?language model\b",
    r"\bi(?:'m| am) (?:just )?an? (?:ai|assistant|language model|chatbot)\b",
    r"\bi (?:can ?not|can't|won't|am unable to|am not able to|'m unable to|'m not able to)"
    r" (?:help|assist|provide|do|answer|comply|fulfil|complete|write|create|access)",
    r"\bi(?:'m| am) sorry,? but\b",
    r"\bi (?:do not|don't) have (?:personal|access|the ability|real[- ]time|opinions|feelings)",
)
_READINESS = (
    r"\bi(?:'m| am) (?:ready|here|happy|glad|eager) to (?:help|assist)",
    r"\bwhat(?:'s| is) (?:your|the) (?:task|question|request)\b",
    r"\bhow (?:can|may|could) i (?:help|assist)\b",
    r"\b(?:please )?(?:provide|give|send|share) (?:me )?(?:with )?(?:the|your|more|some)"
    r" (?:task|details|information|context|text|question)\b",
    r"\bwhat would you like (?:me )?to\b",
)


@dataclass(frozen=True, slots=True)
class NotBoilerplate:
    """Catches refusals and assistant boilerplate instead of a result.

    AI disclaimers and refusals ("As an AI language model...", "I can't help with...",
    "I'm sorry, but...") near the start, and readiness talk anywhere in a short reply
    ("I'm ready to help. What's your task?", "How can I assist you?").
    """

    name: ClassVar[str] = "not_boilerplate"
    opening_chars: int = 300
    """How far into the result a disclaimer or refusal is looked for."""
    short_words: int = 60
    """Readiness talk is boilerplate in replies up to this many words."""

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        text = result.lower().replace("’", "'")
        opening = text[: self.opening_chars]
        for pattern in _DISCLAIMERS:
            found = re.search(pattern, opening)
            if found:
                return f"the result is a refusal or an AI disclaimer ({found.group(0)!r})"
        if len(words(text)) <= self.short_words:
            for pattern in _READINESS:
                found = re.search(pattern, text)
                if found:
                    return f"the result is assistant boilerplate, not a result ({found.group(0)!r})"
        return None


@dataclass(frozen=True, slots=True)
class NotDegenerate:
    """Catches text that repeats itself.

    Looping phrases, one word over and over, runaway lists or lists whose items come
    back, the same line again and again.
    """

    name: ClassVar[str] = "not_degenerate"
    min_words: int = 12
    """Shorter results are not judged for repetition."""
    distinct_trigrams: float = 0.5
    """Below this share of distinct word triples, the text loops."""
    top_word_share: float = 0.15
    """A single content word above this share of a long text (40+ words) is a loop."""
    max_items: int = 60
    """More list items than this is a runaway list."""

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        tokens = words(result)
        if len(tokens) >= self.min_words:
            triples = list(zip(tokens, tokens[1:], tokens[2:], strict=False))
            share = len(set(triples)) / len(triples)
            if share < self.distinct_trigrams:
                return f"the result repeats itself ({1 - share:.0%} of its phrases are repeats)"
        lines = [ln.strip().lower() for ln in result.splitlines() if len(ln.strip()) > 3]
        if lines:
            line, times = Counter(lines).most_common(1)[0]
            if times >= 3:
                return f"the result repeats the line {line[:60]!r} {times} times"
        content = content_words(result)
        if len(content) >= 40:
            word, times = Counter(content).most_common(1)[0]
            if times / len(content) > self.top_word_share:
                return f"the result says {word!r} {times} times in {len(content)} words"
        items = [i.strip().lower() for i in re.split(r"[,;\n]|\s\d+[.)]\s", result) if i.strip()]
        if len(items) > self.max_items:
            return f"the result is a runaway list ({len(items)} items)"
        if len(items) >= 6:
            distinct = len(set(items)) / len(items)
            if distinct < 0.75:
                return f"the result is a list whose items repeat ({1 - distinct:.0%} repeats)"
        return None


_PLACEHOLDERS = (
    r"\[(?:insert|your|placeholder|todo|tbd|add|name|date|source)\b[^\]]*\]",
    r"<(?:insert|placeholder|your)\b[^>]*>",
    r"\{\{[^}]*\}\}",
    r"\blorem ipsum\b",
    r"\b(?:TODO|TBD|FIXME|XXX)\b",
)


@dataclass(frozen=True, slots=True)
class NoPlaceholders:
    """Catches templates instead of content.

    ``[insert ...]``, ``lorem ipsum``, ``TODO``, ``{{...}}``, and numbered labels with
    nothing between them ("Fact 1 - Fact 2 Fact 3").
    """

    name: ClassVar[str] = "no_placeholders"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        for pattern in _PLACEHOLDERS:
            found = re.search(pattern, result, flags=0 if "TODO" in pattern else re.IGNORECASE)
            if found:
                return f"the result holds a placeholder ({found.group(0)!r})"
        empty_labels = re.search(
            r"\b([A-Za-z]+) (\d+)\W{0,3}(?:\w+\W+){0,1}?\1 (\d+)\W{0,3}(?:\w+\W+){0,1}?\1 (\d+)\b",
            result,
        )
        if empty_labels:
            return (
                "the result lists numbered labels with nothing in them"
                f" ({empty_labels.group(0)[:60]!r})"
            )
        return None


@dataclass(frozen=True, slots=True)
class NotEcho:
    """Catches a result that only restates the task.

    A short text (nearly) all of whose words come from the task's own title and
    description (words of its acceptance criteria are what an answer should use).
    """

    name: ClassVar[str] = "not_echo"
    max_words: int = 20
    """Longer results are not taken for echoes."""
    share: float = 0.9
    """The share of the result's content words found in the task that makes it an echo."""

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        said = content_words(result)
        if not said or len(said) > self.max_words:
            return None
        known = set(content_words(f"{task.title} {task.description}"))
        if sum(w in known for w in said) / len(said) >= self.share:
            return "the result only restates the task"
        return None


_DANGLING = frozenset(
    """a an the of to and or but nor is are was were be been being with for in on at by
    from into onto that which who whose whom as than because if when while so such this
    these those its their our your my his her first second third next then also e.g i.e
    like including""".split()
)


@dataclass(frozen=True, slots=True)
class Complete:
    """Catches a result cut off mid-sentence.

    It ends on a word that cannot end one ("...the first factor is"), on a colon or
    comma, inside an open bracket or code block, or, when it starts as JSON, as JSON that
    does not parse.
    """

    name: ClassVar[str] = "complete"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        text = result.strip()
        if not text:
            return None  # not_empty's to say
        if text[0] in "{[":
            try:
                json.loads(text)
            except ValueError:
                if (
                    text.startswith("{")
                    and not text.endswith("}")
                    or (text.startswith("[") and not text.endswith("]"))
                ):
                    return "the result is JSON cut off before its end"
            return None
        if text[-1] in ":,;-–(":
            return f"the result ends mid-sentence (on {text[-1]!r})"
        if text.count("(") > text.count(")") or text.count("```") % 2:
            return "the result ends inside an open bracket or code block"
        tail = words(text[-40:])
        if tail and tail[-1] in _DANGLING and text[-1].isalnum():
            return f"the result ends mid-sentence (on {tail[-1]!r})"
        return None


@dataclass(frozen=True, slots=True)
class Length:
    """Catches results outside the length the task allows (in words or characters)."""

    min_words: int | None = None
    max_words: int | None = None
    min_chars: int | None = None
    max_chars: int | None = None
    name: ClassVar[str] = "length"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        n_words, n_chars = len(words(result)), len(result.strip())
        if self.min_words is not None and n_words < self.min_words:
            return f"the result is too short ({n_words} words, at least {self.min_words})"
        if self.max_words is not None and n_words > self.max_words:
            return f"the result is too long ({n_words} words, at most {self.max_words})"
        if self.min_chars is not None and n_chars < self.min_chars:
            return f"the result is too short ({n_chars} characters, at least {self.min_chars})"
        if self.max_chars is not None and n_chars > self.max_chars:
            return f"the result is too long ({n_chars} characters, at most {self.max_chars})"
        return None


def length(
    *,
    min_words: int | None = None,
    max_words: int | None = None,
    min_chars: int | None = None,
    max_chars: int | None = None,
) -> Length:
    """A check of the result's length; give at least one bound."""
    if all(b is None for b in (min_words, max_words, min_chars, max_chars)):
        raise ConfigError("length() needs at least one bound")
    return Length(min_words, max_words, min_chars, max_chars)


@dataclass(frozen=True, slots=True)
class JsonSchema:
    """Catches a result that is not JSON valid against ``schema`` (JSON Schema 2020-12)."""

    schema: Mapping[str, Any]
    name: ClassVar[str] = "json_schema"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        from jsonschema import Draft202012Validator

        try:
            value = extract_json(result)
        except ValueError as exc:
            return f"the result is not JSON ({exc})"
        errors = sorted(
            Draft202012Validator(dict(self.schema)).iter_errors(value), key=lambda e: e.path
        )
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "the top level"
            return f"the result's JSON does not match the schema at {where}: {errors[0].message}"
        return None


def json_schema(schema: Mapping[str, Any]) -> JsonSchema:
    """A check that the result is JSON valid against ``schema``."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        raise ConfigError(f"json_schema(): not a valid JSON Schema: {exc.message}") from exc
    return JsonSchema(schema)


@dataclass(frozen=True, slots=True)
class Grounded:
    """Catches a result that ignores every tool output of its attempt.

    When tools returned something, the result must carry at least ``min_shared`` of the
    words or numbers they returned that the task itself does not contain.
    """

    min_shared: int = 1
    name: ClassVar[str] = "grounded"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        outputs = [o for o in task.tool_outputs if o.strip()]
        if not outputs:
            return None
        known = set(content_words(task.text))
        returned = {w for o in outputs for w in content_words(o[:20_000])} - known
        if not returned:
            return None  # the tools returned nothing the task did not already say
        shared = returned & set(content_words(result))
        if len(shared) < self.min_shared:
            return (
                f"the result uses nothing the {len(outputs)} tool call(s) of its attempt returned"
            )
        return None


@lru_cache(maxsize=256)
def _task_vector(text: str) -> Any:
    return shared_embedder().embed([text])[0]


@dataclass(frozen=True, slots=True)
class OnTopic:
    """Catches a fluent result about something else.

    The cosine similarity between the task and the result (offline MiniLM embeddings,
    shipped with the package) is below ``threshold``.
    """

    threshold: float = 0.15
    name: ClassVar[str] = "on_topic"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        if not words(result):
            return None
        similarity = float(_task_vector(task.text) @ shared_embedder().embed([result[:2000]])[0])
        if math.isnan(similarity) or similarity < self.threshold:
            return (
                f"the result is off topic (similarity {similarity:.2f} to the task,"
                f" below {self.threshold:.2f})"
            )
        return None


def on_topic(threshold: float = 0.15) -> OnTopic:
    """A check that the result is about the task (see :class:`OnTopic`)."""
    if not -1.0 <= threshold <= 1.0:
        raise ConfigError(f"on_topic(): threshold {threshold} is not a cosine similarity")
    return OnTopic(threshold)


not_empty = NotEmpty()
not_boilerplate = NotBoilerplate()
not_degenerate = NotDegenerate()
no_placeholders = NoPlaceholders()
not_echo = NotEcho()
complete = Complete()
grounded = Grounded()

DEFAULT_CHECKS: tuple[Check, ...] = (
    not_empty,
    not_boilerplate,
    not_degenerate,
    no_placeholders,
    not_echo,
    complete,
    grounded,
    on_topic(),
)
"""The built-in checks that need no configuration, cheapest first (``on_topic`` last: it
embeds the result)."""
