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
text (none knows anything about a particular goal) and each leaving alone what good
answers look like: code, JSON, tables, lists, one-word answers, other languages.
:data:`DEFAULT_CHECKS` are those that need no configuration, cheapest first. Together
they cost a fraction of a millisecond per result (its words are split once for all of
them), plus an embedding of the result's first tokens when ``on_topic`` cannot decide
without one (see :class:`OnTopic`).
"""

from __future__ import annotations

from orchestra.checks.shape import (
    Complete,
    JsonSchema,
    Length,
    NotDegenerate,
    json_schema,
    length,
)
from orchestra.checks.text import _content, _json_value, _prose, _words, content_words, words
from orchestra.checks.topic import Grounded, OnTopic, _task_vector, on_topic
from orchestra.checks.wording import NoPlaceholders, NotBoilerplate, NotEcho, NotEmpty
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

__all__ = [
    "DEFAULT_CHECKS",
    "Check",
    "Complete",
    "Grounded",
    "JsonSchema",
    "Length",
    "NoPlaceholders",
    "NotBoilerplate",
    "NotDegenerate",
    "NotEcho",
    "NotEmpty",
    "OnTopic",
    "CheckError",
    "CheckFailed",
    "CheckOutcome",
    "CheckVerdict",
    "CheckedTask",
    "check_name",
    "clear_caches",
    "complete",
    "content_words",
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
    "words",
]

# -- text helpers ------------------------------------------------------------------


def clear_caches(*, tasks: bool = True) -> None:
    """Forget the text analyses (and with ``tasks`` the task embeddings) checks cache.

    A result's words are split once for all checks, and a task is embedded once for all
    its attempts; a benchmark clears them to time a result as the first check of it does.
    """
    for cached in (_words, _content, _prose, _json_value):
        cached.cache_clear()
    if tasks:
        _task_vector.cache_clear()


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
may embed the result)."""
