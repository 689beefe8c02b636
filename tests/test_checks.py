"""The built-in checks on clear cases each way, and how checks are run."""

from __future__ import annotations

import pytest

from orchestra import checks
from orchestra.checks import CheckedTask, CheckError, CheckFailed, run_checks
from orchestra.core.errors import ConfigError

TASK = CheckedTask(
    id="explain",
    title="Explain how vaccines train the immune system",
    description="A short explanation for a general audience.",
    criteria=("mentions antigens", "mentions memory cells"),
)
GOOD = (
    "Vaccines show the immune system a harmless piece or a weakened form of a pathogen:"
    " its antigens. B cells make antibodies against them and T cells learn to recognise"
    " infected cells; afterwards memory cells remain, so a real infection later is fought"
    " off quickly."
)


def fails(check: checks.Check, result: str, task: CheckedTask = TASK) -> str | None:
    reason = check(task, result)
    assert not isinstance(reason, type(None)) or reason is None
    return reason  # type: ignore[return-value]


@pytest.mark.parametrize(
    "check",
    [
        checks.not_empty,
        checks.not_boilerplate,
        checks.not_degenerate,
        checks.no_placeholders,
        checks.not_echo,
        checks.complete,
        checks.grounded,
    ],
)
def test_a_good_answer_passes_every_text_check(check):
    assert check(TASK, GOOD) is None
    assert check(TASK, "Antigens; memory cells then remember them.") is None


def test_not_empty():
    assert checks.not_empty(TASK, "  \n ... ") == "the result is empty"
    assert checks.not_empty(TASK, "42") is None


@pytest.mark.parametrize(
    "text",
    [
        "I'm ready to help. What's your task?",
        "Hello! How can I assist you today?",
        "Please provide more details about the task.",
        "As an AI language model, I do not have a body, but vaccines are useful.",
        "I'm sorry, but I can't help with that request.",
        "I cannot provide medical advice.",
    ],
)
def test_not_boilerplate_catches_refusals_and_readiness_talk(text):
    assert checks.not_boilerplate(TASK, text) is not None


def test_not_boilerplate_lets_a_long_answer_end_politely():
    text = GOOD + " " + " ".join(["More detail on antibodies and cells."] * 8)
    text += " How can I help further? Let me know."
    assert checks.not_boilerplate(TASK, text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Vaccines are good. " * 6,
        "\n".join(["- antigens and cells"] * 4),
        ", ".join(["antigen", "antibody", "cell", "vaccine"] * 4),
        " ".join(f"vaccine vaccine {w}" for w in "abcdefghijklmnopqrstuvwxyz"),
    ],
)
def test_not_degenerate_catches_loops_repeated_lines_and_lists(text):
    assert checks.not_degenerate(TASK, text) is not None


def test_not_degenerate_leaves_a_long_list_of_distinct_items():
    items = ", ".join(f"item{i}" for i in range(40))
    assert checks.not_degenerate(TASK, items) is None
    runaway = ", ".join(f"item{i}" for i in range(80))
    assert "runaway" in (checks.not_degenerate(TASK, runaway) or "")


@pytest.mark.parametrize(
    "text",
    [
        "Vaccines work, see [insert citation here].",
        "Dear <your name>, vaccines are fine.",
        "Lorem ipsum dolor sit amet.",
        "TODO: explain antigens",
        "Facts: Fact 1 - Fact 2 Fact 3 are important.",
    ],
)
def test_no_placeholders(text):
    assert checks.no_placeholders(TASK, text) is not None


def test_no_placeholders_leaves_real_numbered_steps():
    steps = "Step 1: inject antigens. Step 2: B cells make antibodies. Step 3: memory cells stay."
    assert checks.no_placeholders(TASK, steps) is None


def test_not_echo():
    assert checks.not_echo(TASK, "How vaccines train the immune system.") is not None
    assert checks.not_echo(TASK, "Through antigens and memory cells.") is None


@pytest.mark.parametrize(
    "text",
    ["Vaccines work by exposing the body to antigens, and the", "It has three parts:", '{"a": 1'],
)
def test_complete_catches_cut_off_results(text):
    assert checks.complete(TASK, text) is not None


@pytest.mark.parametrize(
    "text", ["Cold rain on red leaves lamps come on at four", '{"a": 1}', "Yes (mostly)."]
)
def test_complete_leaves_whole_results(text):
    assert checks.complete(TASK, text) is None


def test_length_bounds_and_config():
    assert checks.length(max_words=3)(TASK, "one two three four") is not None
    assert checks.length(min_chars=3)(TASK, "ok") is not None
    assert checks.length(min_words=1, max_words=3)(TASK, "one two") is None
    with pytest.raises(ConfigError):
        checks.length()


def test_json_schema():
    check = checks.json_schema(
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    )
    assert check(TASK, '{"city": "Paris"}') is None
    assert check(TASK, '```json\n{"city": "Paris"}\n```') is None
    assert "city" in (check(TASK, '{"town": "Paris"}') or "")
    assert "not JSON" in (check(TASK, "Paris") or "")
    with pytest.raises(ConfigError):
        checks.json_schema({"type": "no-such-type"})


def test_grounded_wants_something_the_tools_returned():
    with_tools = CheckedTask(
        id="t", title="Find the population of Lyon", tool_outputs=("Lyon: 522,250 (2021)",)
    )
    assert checks.grounded(with_tools, "About 522,250 people (2021).") is None
    assert checks.grounded(with_tools, "Lyon is a large city in France.") is not None
    assert checks.grounded(TASK, "No tools ran: nothing to ground.") is None


def test_on_topic_uses_the_offline_embeddings():
    check = checks.on_topic()
    assert check(TASK, GOOD) is None
    off = "The stock market rose on Tuesday as chip makers reported strong quarterly earnings."
    assert "off topic" in (check(TASK, off) or "")
    with pytest.raises(ConfigError):
        checks.on_topic(threshold=3)


async def test_checks_run_in_order_sync_or_async_and_the_first_failure_is_the_verdict():
    ran: list[str] = []

    def first(task: CheckedTask, result: str) -> str | None:
        ran.append("first")
        return None

    async def second(task: CheckedTask, result: str) -> str | None:
        ran.append("second")
        raise CheckFailed("needs a new plan", verdict="replan")

    def third(task: CheckedTask, result: str) -> str | None:
        ran.append("third")
        return "never reached"

    out = await run_checks([first, second, third], TASK, GOOD)
    assert ran == ["first", "second"]
    assert out is not None and (out.source, out.verdict) == ("check:second", "replan")
    assert await run_checks([first], TASK, GOOD) is None


async def test_a_check_that_crashes_is_a_typed_error_naming_it():
    def broken(task: CheckedTask, result: str) -> str | None:
        raise KeyError("oops")

    with pytest.raises(CheckError, match="broken"):
        await run_checks([broken], TASK, GOOD)
