"""The built-in checks on clear cases each way, and how checks are run."""

from __future__ import annotations

import pytest

from orchestra import checks
from orchestra.checks import CheckedTask, CheckError, CheckFailed, check_name, run_checks
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
    restated = "Your task is to write the final answer to: explain how vaccines train the immune"
    assert checks.not_echo(TASK, restated + " system") is not None
    assert checks.not_echo(TASK, "The final answer: antigens and memory cells.") is None
    assert checks.not_echo(TASK, "The answer is memory cells.") is None


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


# -- what good answers look like: no check may fail them ------------------------------

CODE_CLASS = """```python
class Vector:
    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def __add__(self, other: "Vector") -> "Vector":
        return Vector(self.x + other.x, self.y + other.y)

    def scaled(self, k: float) -> "Vector":
        return Vector(self.x * k, self.y * k)
```"""
PRIMES = ", ".join(str(n) for n in range(2, 300) if all(n % d for d in range(2, int(n**0.5) + 1)))
ESSAY = (
    "Cheap, fast, identical copies changed religion, science, schools, law and trade."
    " Pamphlets, sermons, hymnals, catechisms, Bibles and woodcuts reached artisans,"
    " merchants, farmers, townswomen and clergy alike. Astronomers, anatomists, botanists,"
    " mathematicians, engineers and physicians compared tables, diagrams, maps and"
    " measurements, corrected errors, argued in letters and built on each other's work."
    " Almanacs, ballads, grammars, primers, chapbooks, calendars, newspapers and novels gave"
    " apprentices, servants, shopkeepers, sailors and children a reason to read, while"
    " spelling, punctuation, grammar and vocabulary slowly settled. Printers, booksellers,"
    " censors, authors, translators, lawyers and readers argued over copyright, licensing,"
    " piracy, libel, taxes and privileges, in Venice, Paris, London, Leipzig, Antwerp, Basel,"
    " Lyon, Frankfurt, Amsterdam and Geneva. Paper mills, type foundries, ink makers,"
    " binders, carters, bargemen, fairs, inns and post roads grew with them, as did"
    " libraries, catalogues, indexes, footnotes and errata."
)
SONG = (
    "Sun on the water, sand on my feet\n"
    "Summer, stay a little longer\nSummer, stay a little longer\n"
    "Nights on the porch and the crickets sing\n"
    "Summer, stay a little longer\nSummer, stay a little longer\n"
)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Write a 2D vector class in Python", CODE_CLASS),
        ("Return the top customers in SQL", "SELECT name FROM customers\nLIMIT 5;"),
        (
            "Return three novels as JSON",
            '[{"title": "Dune", "year": 1965, "sequel": true},'
            ' {"title": "Emma", "year": 1815, "sequel": false},'
            ' {"title": "Ulysses", "year": 1922, "sequel": false}]',
        ),
        ("Which of six numbers are prime, as JSON", "[true, true, false, true, false, true]"),
        (
            "A CSV of phones and their features",
            "model,jack,sd,wireless\nA,no,no,yes\nB,no,yes,no\nC,no,no,yes\nD,yes,yes,no",
        ),
        (
            "Compare languages in a table",
            "| Lang | GC | Generics |\n|---|---|---|\n| Python | Yes | No |\n| Go | Yes | Yes |\n"
            "| Java | Yes | Yes |\n| Rust | No | Yes |",
        ),
        ("List all prime numbers below 300", PRIMES + "."),
        ("Describe how printing changed Europe", ESSAY),
        ("What is the capital of Australia?", "Canberra"),
        ("Compute 17 times 23", "391"),
        ("Which is denser, ice or liquid water?", "Liquid water"),
        ("Translate 'thank you' into German", "Vielen Dank."),
        (
            "Explain in Japanese how to greet in the morning",
            "朝は「おはようございます」と言います。",
        ),
        ("Write a haiku about rain", "Cold rain on red leaves\nthe gutter hums a low song"),
        ("Which Apollo missions landed?", "Apollo 14, Apollo 15, Apollo 16 and Apollo 17."),
        ("What happened at Super Bowl XXX?", "The Dallas Cowboys won Super Bowl XXX in 1996."),
        (
            "Point to the Git documentation",
            "[Pro Git](https://git-scm.com/book) covers daily use; see `git help <command>`.",
        ),
        (
            "Summarize the evidence with references",
            "Exercise helps sleep [1].\n\n[1] Kredlow, 2015.",
        ),
        ("Give a checklist for moving", "- [x] Book movers\n- [ ] Forward mail\n- [ ] Pack"),
        ("Write a Jinja greeting", "```jinja\n<p>Hello {{ user.name }}!</p>\n```"),
        ("Write an email template with placeholders", "Hi [Name], see you on [Date]."),
        ("Write a note saying the launch date is TBD", "Version 3: launch date TBD."),
        (
            "Write a greeting for a support chatbot",
            "Hi! I'm Max, the Acme support bot. How can I help?",
        ),
        (
            "Reply to a customer whose parcel arrived damaged",
            "I'm sorry your parcel arrived damaged. Could you send me a photo? I'll arrange a"
            " replacement.",
        ),
        (
            "Give a pancake recipe",
            "Whisk 200 g flour, 2 eggs and 300 ml milk.\n\n1. Heat a pan.\n"
            "2. Cook each side for a minute\n3. Serve warm",
        ),
        ("Draft a short email", "Hi Dana,\n\nMonday at 10 works for us.\n\nBest regards,\nMarco"),
        ("Write a song about summer with a chorus", SONG),
        ("Return a JSON object", '{"city": "Paris"}\nThat is the whole answer.'),
        ("Write a section of a README", "Install it with pip.\n\n---"),
    ],
)
def test_good_answers_of_every_shape_pass_the_model_free_checks(title, text):
    task = CheckedTask(id="t", title=title)
    for check in (
        checks.not_empty,
        checks.not_boilerplate,
        checks.not_degenerate,
        checks.no_placeholders,
        checks.not_echo,
        checks.complete,
    ):
        assert check(task, text) is None, check_name(check)


# -- junk the checks catch, one kind at a time ---------------------------------------


def test_not_empty_catches_headings_with_nothing_under_them():
    assert "headings" in (checks.not_empty(TASK, "## Summary\n\n### Details\n") or "")
    assert checks.not_empty(TASK, "## Summary\n\nAntigens train memory cells.") is None


@pytest.mark.parametrize(
    "text",
    [
        "Certainly! I'd be happy to help. Could you tell me more about your audience?",
        "Hello! I'm here to assist you. What would you like the text to include?",
        "Of course. Let me know what tone you want, and I will write it.",
        "I'm unable to browse the internet, so I can't look that up.",
        "I'm not able to provide a summary of that topic.",
        "I apologize, but I cannot write that for you.",
        "Sorry, I can't write reviews of products I haven't used.",
        "Hmm, I am just an AI assistant and cannot answer questions about art.",
    ],
)
def test_not_boilerplate_catches_more_ways_of_not_answering(text):
    assert checks.not_boilerplate(TASK, text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "1. It helps your career.\n2. It helps your career.\n3. It helps your career.",
        "1. Python\n2. Java\n3. Python\n4. Java\n5. Python\n6. Java",
        '["Paris", "Paris", "Paris", "Paris", "Paris", "Paris", "Paris"]',
        '{"facts": ["Vaccines are safe", "Vaccines are safe", "Vaccines are safe",'
        ' "Vaccines are safe", "Vaccines are safe", "Vaccines are safe"]}',
        "Meditation helps you relax relax relax relax relax relax relax relax relax relax.",
    ],
)
def test_not_degenerate_catches_numbered_and_json_repeats(text):
    assert checks.not_degenerate(TASK, text) is not None


def test_not_degenerate_catches_a_runaway_list_of_near_identical_items_only():
    runaway = ", ".join(f"Fact {i}" for i in range(70))
    assert checks.not_degenerate(TASK, runaway) is not None
    names = ", ".join(
        f"{a}{b}"
        for a in ("al", "be", "ce", "do", "ev", "fa", "gi", "ho")
        for b in ("nor", "mir", "ton", "vex", "lan", "rud", "sak", "pol", "qui")
    )
    assert checks.not_degenerate(TASK, names) is None  # 72 distinct names
    assert len(ESSAY.split(",")) > 60  # many clauses are not a runaway list


def test_not_degenerate_lets_a_song_repeat_its_chorus_but_not_loop():
    song = CheckedTask(id="s", title="Write a song about summer with a chorus")
    assert checks.not_degenerate(song, SONG) is None
    assert checks.not_degenerate(TASK, SONG) is not None  # not asked for: a repeated line
    assert checks.not_degenerate(song, "la la la " * 20) is not None


@pytest.mark.parametrize(
    "text",
    [
        "At [Company Name], we bake bread for [City].",
        "Welcome [insert name] as our new [job title]!",
        "Thank you for everything.\n\nWith gratitude,\n<Your Name>",
        "Revenue grew XX% to $XX million; we expect more in 20XX.",
        "Urban heat islands are warm (insert statistic here).",
        "Heat islands are warm. TODO: add causes.",
        "Step 1:\nStep 2:\nStep 3:",
    ],
)
def test_no_placeholders_catches_fields_left_to_fill_in(text):
    assert checks.no_placeholders(TASK, text) is not None


def test_no_placeholders_reads_todo_only_where_the_task_does_not_ask_for_it():
    todo_app = CheckedTask(id="t", title="Describe the data model of a TODO app")
    assert checks.no_placeholders(todo_app, "A TODO item has a title and a done flag.") is None
    assert checks.no_placeholders(TASK, "A TODO item has a title and a done flag.") is not None


def test_not_echo_catches_the_whole_title_however_short():
    task = CheckedTask(id="t", title="Explain recursion")
    assert checks.not_echo(task, "Explain recursion.") is not None
    assert checks.not_echo(task, "Recursion.") is None  # too short to tell
    ice = CheckedTask(id="i", title="Which is denser, ice or liquid water?")
    assert checks.not_echo(ice, "Liquid water is denser than ice.") is None


@pytest.mark.parametrize(
    "text",
    [
        "Benefits of vaccines: 1. fewer infections; 2. herd immunity.;",
        "Vaccines go through three phases of trials. Phase 3 compares the vaccine with a"
        " placebo in thousands of people to measure how well it",
        '["Ganymede", "Callisto", "Io"',
        "```python\ndef f():\n    return",
    ],
)
def test_complete_catches_more_cut_offs(text):
    assert checks.complete(TASK, text) is not None


def test_complete_reads_a_short_unpunctuated_last_line_as_a_sign_off():
    assert checks.complete(TASK, "Antigens train memory cells. Hope this helps") is None


# -- on_topic: when it embeds, and what it catches ----------------------------------


def test_on_topic_catches_a_homonym_answer_the_shared_word_left_out():
    task = CheckedTask(
        id="g", title="Explain how a Python generator works", criteria=("mentions yield",)
    )
    power = (
        "Generators keep the power on during outages. A portable gasoline generator can run"
        " a fridge and a few lights, but it must never be used indoors."
    )
    assert "off topic" in (checks.on_topic()(task, power) or "")
    answer = (
        "Calling a generator function returns an iterator; each next() runs the body until"
        " the following yield hands back a value, and the function's state is kept between calls."
    )
    assert checks.on_topic()(task, answer) is None


@pytest.mark.parametrize(
    "text",
    [
        "Canberra",  # too short to have a topic
        "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune.",  # a list
        "Schlaf stärkt das Gedächtnis, regeneriert den Körper und stabilisiert die Stimmung.",
        "C = (F - 32) x 5/9 = (72 - 32) x 5/9 = 40 x 5/9 = 22.2 C.",  # a formula
        # a fluent answer that uses the task's own words: no embedding needed
        "Vaccines train the immune system with antigens: memory cells remember them.",
    ],
)
def test_on_topic_leaves_what_it_cannot_judge_without_embedding_it(monkeypatch, text):
    def no_model() -> None:
        raise AssertionError("the result was embedded")

    monkeypatch.setattr(checks.topic, "shared_embedder", no_model)
    assert checks.on_topic()(TASK, text) is None


def test_on_topic_config():
    with pytest.raises(ConfigError):
        checks.on_topic(overlap=0)
    with pytest.raises(ConfigError):
        checks.on_topic(max_tokens=2)


def test_the_embedder_embeds_only_the_first_max_tokens():
    from orchestra.memory.embeddings import shared_embedder

    embedder = shared_embedder()
    long, short = embedder.embed(["word " * 100, "word " * 14])  # [CLS] + 14 words + [SEP]
    cut = embedder.embed(["word " * 100], max_tokens=16)[0]
    assert abs(float(cut @ short) - 1.0) < 1e-5
    assert abs(float(embedder.embed(["word " * 100])[0] @ long) - 1.0) < 1e-5  # default as before


def test_json_schema_reads_arrays_and_fenced_json():
    check = checks.json_schema({"type": "array", "items": {"type": "string"}})
    assert check(TASK, '["Paris", "Lyon"]') is None
    assert check(TASK, '```json\n["Paris"]\n```') is None
    assert check(TASK, "[1, 2]") is not None


def test_clear_caches_forgets_analyses_and_task_vectors():
    checks.on_topic()(TASK, GOOD)
    checks.clear_caches()
    assert checks.words("Two words") == ["two", "words"]


@pytest.mark.parametrize(
    "reply",
    [
        "I'm ready to help.\nYou're welcome! I'll be here for a moment. Your task: Solar Panels",
        "I'd be happy to assist! Feel free to let me know anytime. Thanks!",
    ],
)
def test_not_boilerplate_sees_through_pleasantries_and_contractions(reply: str):
    task = CheckedTask(id="t", title="Brief me on heat pumps for old houses")
    assert "boilerplate" in (checks.not_boilerplate(task, reply) or "")
