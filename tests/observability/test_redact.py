"""Redaction before any cut: no secret straddling a cut survives, not even in part."""

from __future__ import annotations

import json

import pytest

from orchestra import tool
from orchestra.agents.workflow_search import Step
from orchestra.observability import semconv as sc
from orchestra.observability.redact import REDACTED, Redactor, url_without_password
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team, run_collect
from tests.observability.conftest import Spans

SECRET = "sk-proj-QWERTYUIOPASDFGHJKLZXCVBNMqwertyuiop"
MARKED = "launch-code-MNBVCXZLKJHG"


def _stubs(secret: str) -> list[str]:
    """Every piece of the secret's own characters long enough to be telling (4 chars)."""
    body = secret.removeprefix("sk-proj-")
    return [body[i : i + 4] for i in range(len(body) - 3)]


def _leaks(text: str, secret: str) -> list[str]:
    return [stub for stub in _stubs(secret) if stub in text]


@pytest.mark.parametrize("secret", [SECRET, MARKED])
@pytest.mark.parametrize("offset", range(-len(SECRET) - 2, 3))
def test_clip_redacts_before_it_cuts(secret: str, offset: int):
    redactor = Redactor([MARKED], environ={})
    limit = 1000
    text = "." * (limit + offset) + secret + "." * 3000
    clipped = redactor.clip(text, limit)
    assert not _leaks(clipped, secret), clipped[limit - 60 :]
    assert clipped.startswith("." * min(limit, limit + offset))
    assert clipped.endswith(" more chars]")


def test_clip_leaves_short_text_whole_and_redacted():
    redactor = Redactor(environ={})
    assert redactor.clip(f"key {SECRET}", 1000) == f"key {REDACTED}"


def test_clip_of_a_huge_text_redacts_only_its_head():
    redactor = Redactor([MARKED], environ={})
    # many secrets, each shorter once redacted: the head must grow to stay clear of the cut
    text = (SECRET + " ") * 3000 + MARKED * 50
    clipped = redactor.clip(text, 1000)
    assert not _leaks(clipped, SECRET) and not _leaks(clipped, MARKED)
    assert clipped.startswith(f"{REDACTED} {REDACTED} ")


@pytest.mark.parametrize("offset", range(-len(SECRET) - 2, 3))
def test_safe_cut_never_splits_a_secret(offset: int):
    redactor = Redactor(environ={})
    limit = 500
    text = "." * (limit + offset) + SECRET + "." * 100
    cut = redactor.safe_cut(text, limit)
    assert cut <= limit
    assert not _leaks(redactor(text[:cut]), SECRET)


async def test_a_secret_straddling_any_cut_never_reaches_a_span(spans: Spans):
    # the tool result is cut for the model at 8,000 characters (and the chat span shows the
    # model's messages) and for the tool span at 32,000: a key straddles both cuts, leaving
    # "sk-proj-" and 5 characters before each, too few for the key's rule to recognise
    first, second = 8000 - 13, 32_000 - 13
    big = "." * first + SECRET + "." * (second - first - len(SECRET)) + SECRET + "." * 100

    @tool
    def dump(q: str) -> str:
        """Dump the configuration."""
        return big

    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("analyst", "Analyse.", ["dump"]),
        "executor@a": [tool_call("dump", {"q": "all"}), "dumped"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, _ = make_team(script, tools=[dump], tracing=spans.tracing(capture_content=True))
    result, _ = await run_collect(team)
    assert result.succeeded
    [tool_span] = spans.named("execute_tool dump")
    assert tool_span.attributes[sc.TOOL_CALL_RESULT].endswith(" more chars]")
    chats = [s for s in spans.named("chat ") if "truncated:" in str(s.attributes)]
    assert chats, "the tool result cut for the model reached a chat span"
    assert not _leaks(str(tool_span.attributes[sc.TOOL_CALL_RESULT]), SECRET)
    assert not _leaks(json.dumps([dict(s.attributes) for s in chats]), SECRET)
    assert not _leaks(json.dumps([dict(s.attributes) for s in spans.all]), SECRET)


async def test_a_secret_in_the_goal_is_not_cut_in_two_by_the_roots_title(spans: Spans):
    # the root task's title is the goal's first 120 characters
    goal = "." * (120 - 13) + SECRET + " and more words"
    script = {
        "planner": [plan(subtask("a"))],
        "role_designer": role_spec("analyst", "Analyse.", []),
        "executor@a": ["done"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    team, _ = make_team(script, tracing=spans.tracing(capture_content=True))
    result, _ = await run_collect(team, goal)
    assert result.tree.root.title == goal[:120]  # the record keeps its title as it was
    titles = [s.attributes.get(sc.ORCHESTRA_TASK_TITLE) for s in spans.all]
    assert "." * (120 - 13) in titles  # the root's title, cut before the key
    dumped = json.dumps(
        [{"a": dict(s.attributes), "e": [dict(e.attributes) for e in s.events]} for s in spans.all]
    )
    assert not _leaks(dumped, SECRET)


@pytest.mark.parametrize(
    ("step", "limit"),
    [
        (Step(text="." * 107 + SECRET, calls=(), message=None, index=0), 120),
        (Step(text="", calls=(("send", "." * 67 + SECRET),), message=None, index=0), 80),
    ],
)
def test_a_search_steps_summary_is_not_cut_inside_a_secret(step: Step, limit: int):
    summary = step.summary()
    assert len(summary) < limit + 10
    assert not _leaks(Redactor(environ={})(summary), SECRET)


def test_a_urls_password_is_hidden_in_messages_and_the_rest_kept():
    assert (
        url_without_password("postgresql://ann:s3cret@db:5432/x")
        == "postgresql://ann:***@db:5432/x"
    )
    assert url_without_password("http://ann:p@ss@h:1/") == "http://ann:***@h:1/"  # '@' in it
    assert url_without_password("postgresql://u:pw@[::1/x") == "postgresql://u:***@[::1/x"
    for kept in ("http://ann@h:1", "sqlite:///a.db", "/tmp/x.db", "http://h:1/p?user=a:b@c"):
        assert url_without_password(kept) == kept
