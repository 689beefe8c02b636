"""Checks on a result's shape: degenerate repetition, cut off, length, JSON schema."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from orchestra.checks.text import (
    _FENCED,
    _content,
    _json_value,
    _looks_like_json,
    _prose,
    _words,
)
from orchestra.core.checks import CheckedTask
from orchestra.core.errors import ConfigError
from orchestra.core.parsing import extract_json

__all__ = ["Complete", "JsonSchema", "Length", "NotDegenerate", "json_schema", "length"]

_LIST_MARKER = re.compile(r"^\s*(?:[-*+•>]|\d{1,3}[.)]|[a-z][.)])\s+")
_ITEM_SPLIT = re.compile(r"[,;\n]|\s\d{1,3}[.)]\s")
_TEMPLATE = re.compile(r"\d+|\b[a-z]\b")
_LYRICS = frozenset("song songs lyrics chorus refrain chant anthem jingle".split())


def _json_texts(value: Any) -> Iterator[str]:
    """The string values (not the keys) of a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_texts(item)


def _json_lists(value: Any) -> Iterator[list[Any]]:
    """Every array inside a JSON value."""
    if isinstance(value, list):
        yield value
        for item in value:
            yield from _json_lists(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_lists(item)


@dataclass(frozen=True, slots=True)
class NotDegenerate:
    """Catches text that repeats itself.

    Looping phrases, one word over and over, the same line (bullets and numbers aside)
    again and again, list items that come back, runaway lists of near-identical items
    ("Fact 1, Fact 2, ..."). Code blocks and table rows are not read as prose (code
    repeats ``self`` and ``return`` by nature); JSON is judged on its values and arrays,
    not its keys; a CSV's rows, not its cells, are its items; lines and items may come
    back in what the task calls a song (a chorus, a refrain).
    """

    name: ClassVar[str] = "not_degenerate"
    min_words: int = 12
    """Shorter results are not judged for repeated phrases."""
    distinct_trigrams: float = 0.5
    """Below this share of distinct word triples, the text loops."""
    top_word_share: float = 0.15
    """A single content word above this share of a long text (40+ words) is a loop."""
    max_items: int = 60
    """More near-identical list items than this is a runaway list."""

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        is_json, value = _json_value(result.strip())
        if is_json:
            return self._json(value)
        prose = _prose(result)
        if not _LYRICS.isdisjoint(_words(task.text)):
            return self._phrases(prose)  # a chorus comes back by design
        return self._phrases(prose) or self._lines(result) or self._items(prose)

    def _json(self, value: Any) -> str | None:
        for array in _json_lists(value):
            # As in text lists, flags, numbers and short codes may repeat.
            items = [i for i in array if isinstance(i, dict | list) or len(str(i)) > 3]
            items = [i for i in items if not isinstance(i, bool | int | float)]
            if len(items) >= 6:
                distinct = len({json.dumps(i, sort_keys=True) for i in items}) / len(items)
                if distinct < 0.75:
                    return f"the result is a list whose items repeat ({1 - distinct:.0%} repeats)"
        return self._phrases("\n".join(_json_texts(value)))

    def _phrases(self, text: str) -> str | None:
        tokens = _words(text)
        if len(tokens) >= self.min_words:
            triples = set(zip(tokens, tokens[1:], tokens[2:], strict=False))
            share = len(triples) / (len(tokens) - 2)
            if share < self.distinct_trigrams:
                return f"the result repeats itself ({1 - share:.0%} of its phrases are repeats)"
        content = _content(text)
        if len(content) >= 40:
            word, times = Counter(content).most_common(1)[0]
            if times / len(content) > self.top_word_share:
                return f"the result says {word!r} {times} times in {len(content)} words"
        return None

    def _lines(self, text: str) -> str | None:
        lines = []
        for raw in _FENCED.sub("\n", text).splitlines():
            line = " ".join(_LIST_MARKER.sub("", raw).lower().split())
            if len(_words(line)) >= 3:  # "else:", "return None", "}" repeat in any code
                lines.append(line)
        if lines:
            line, times = Counter(lines).most_common(1)[0]
            if times >= 3:
                return f"the result repeats the line {line[:60]!r} {times} times"
        return None

    def _items(self, text: str) -> str | None:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        commas = [ln.count(",") for ln in lines]
        if len(lines) >= 3 and commas[0] >= 2 and len(set(commas)) == 1:
            items = lines  # a CSV: its rows are the items, its cells may well repeat
        else:
            items = _ITEM_SPLIT.split(text)
        items = [" ".join(_LIST_MARKER.sub("", i).lower().split()).strip(" .") for i in items]
        # Numbers and one- or two-letter cells (yes/no, n/a) are not items that can "repeat".
        items = [i for i in items if len(i) > 3 and not i.replace(".", "").isdigit()]
        if len(items) >= 6:
            distinct = len(set(items)) / len(items)
            if distinct < 0.75:
                return f"the result is a list whose items repeat ({1 - distinct:.0%} repeats)"
        if len(items) > self.max_items:
            templates = Counter(_TEMPLATE.sub("#", i) for i in items)
            template, times = templates.most_common(1)[0]
            if times > self.max_items:
                return (
                    f"the result is a runaway list ({len(items)} items, {times} of them"
                    f" like {template[:40]!r})"
                )
        return None


_DANGLING = frozenset(
    """a an the of to and or but nor is are was were be been being with for in on at by
    from into onto that which who whose whom as than because if when while so such this
    these those its their our your my his her first second third next then also e.g i.e
    like including""".split()
)
_HR = re.compile(r"(?:\n\s*(?:-{3,}|\*{3,}|_{3,})\s*)+\Z")
_SENTENCE_END = re.compile(r"[.!?。！？]\s+\S")
_PLAIN_LINE = re.compile(r"^\s*(?:[-*+•>#|]|\d{1,3}[.)]\s)")
_CODE = re.compile(
    r"[{}=]|^\s*(?:[A-Z]{3,}|def|class|function|return|import|const|let|var)\b", re.M
)


@dataclass(frozen=True, slots=True)
class Complete:
    """Catches a result cut off mid-sentence.

    It ends on a word that cannot end one ("...the first factor is"), on a colon, comma
    or dangling dash, on a semicolon unless it is code (SQL and C statements end so),
    inside an open bracket or code block, or it is prose whose last sentence stops
    without punctuation after earlier ones had it ("...has several causes. The first is
    that demand grows faster than what firms can"); or it starts as JSON whose brackets
    never close. Lists, headings, poems, sign-offs and code may end without a full stop.
    """

    name: ClassVar[str] = "complete"
    unfinished_words: int = 8
    """A last sentence with no end mark and at least this many words is cut off."""

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        text = _HR.sub("", result.strip())
        if not text:
            return None  # not_empty's to say
        if _looks_like_json(text):
            try:
                json.JSONDecoder().raw_decode(text)  # text may follow the JSON
            except (ValueError, RecursionError):
                if text.count("{") > text.count("}") or text.count("[") > text.count("]"):
                    return "the result is JSON cut off before its end"
            return None
        if text.count("```") % 2:
            return "the result ends inside an open code block"
        if text[-1] in ":,(" or (text[-1] in "-–—" and text[-2:-1].isspace()):
            return f"the result ends mid-sentence (on {text[-1]!r})"
        if text[-1] == ";" and not _CODE.search(text):
            return "the result ends mid-sentence (on ';')"
        if text.count("(") > text.count(")"):
            return "the result ends inside an open bracket"
        tail = _words(text[-40:])
        if tail and tail[-1] in _DANGLING and text[-1].isalnum():
            return f"the result ends mid-sentence (on {tail[-1]!r})"
        return self._unfinished(text)

    def _unfinished(self, text: str) -> str | None:
        last_line = text.rsplit("\n", 1)[-1]
        if not text[-1].isalpha() or not text[-1].islower() or _PLAIN_LINE.match(last_line):
            return None
        paragraph = text.rsplit("\n\n", 1)[-1]
        ends = list(_SENTENCE_END.finditer(paragraph))
        if not ends:
            return None  # no sentence in it ended with a mark: a title, a poem, a list
        last = paragraph[ends[-1].end() - 1 :]
        if len(last.split()) >= self.unfinished_words and "://" not in last:
            return f"the result stops mid-sentence ({last[-40:]!r})"
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
        """Why ``result`` fails this check, or None when it passes."""
        n_words, n_chars = len(_words(result)), len(result.strip())
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


_FENCE_BODY = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


def _parse_json(text: str) -> Any:
    """The JSON of ``text``: all of it, or a fenced block, or the first object in it."""
    fenced = _FENCE_BODY.match(text)
    body = (fenced.group(1) if fenced else text).strip()
    if _looks_like_json(body):
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            pass
    return extract_json(text)


@lru_cache(maxsize=32)
def _validator(schema_json: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


@dataclass(frozen=True, slots=True)
class JsonSchema:
    """Catches a result that is not JSON valid against ``schema`` (JSON Schema 2020-12).

    The JSON is the whole result, a fenced block, or the first object in the text.
    """

    schema: Mapping[str, Any]
    name: ClassVar[str] = "json_schema"

    def __call__(self, task: CheckedTask, result: str) -> str | None:
        """Why ``result`` fails this check, or None when it passes."""
        try:
            value = _parse_json(result)
        except ValueError as exc:
            return f"the result is not JSON ({exc})"
        validator = _validator(json.dumps(self.schema, sort_keys=True, default=str))
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
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
