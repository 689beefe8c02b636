"""Prompt caching: how much of each agent's prompt repeats an earlier call's prefix.

    python benchmarks/prompt_cache.py

Providers cache prompt prefixes: OpenAI automatically (an exact prefix match of at least
1024 tokens), Anthropic from the ``cache_control`` breakpoints orchestra puts on the end
of an agent's stable prefix (docs/models.md). A cache only helps when the parts of a
prompt that many calls share come first, so this benchmark records every model call of a
run of the research team (``examples/research_team.py``: its tools and roles, on the
scripted model, with a scripted plan of four research tasks under a lead, a draft and an
edit, one retry) and measures, per agent, the share of its prompt tokens that repeat a
prefix already sent: for each call, the longest common prefix (in tokens) with any
earlier call of the same agent and model, summed over the agent's calls and divided by
the tokens it sent.

A call's prompt is what a provider sees, in the order Anthropic documents for its cache
(tools, then system, then messages): the definitions of the tools bound for the call
(their JSON), then each message as a role marker and its text. Tokens come from the
embedded model's tokenizer (SmolLM2's BPE vocabulary, read from the GGUF file without
loading the weights; a regex word/punctuation split if that is not installed). Each part
is tokenized on its own, so a change inside one part never shifts the tokens of another.

``share`` counts every call; ``opening_share`` only the first call of each executor
attempt (a tool loop's later calls repeat its earlier ones whatever the layout), which is
what the prompt layout decides. ``ceiling`` is the highest share any layout of the same
content could reach under the provider's order: the tool definitions and the system
prompt stay where the provider puts them, the opening user turn (a task's inputs, the
task, a retry's feedback) may be ordered freely, the tool loop follows it (see
``_best_against``). A share at its ceiling can only rise by sending different content
(other tools, other instructions), not by moving it.

The layout before the issue-23 change (role instructions first, the goal inside the task
message) was measured with this benchmark on the same script before the change and is
printed as ``before``; the issue-23 layout itself (the task before its inputs, a retry's
feedback inside the task message, tools bound in the role's order), measured the same
way before the executor's task message was kept the same on every attempt, is printed as
``previous``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import publish
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from orchestra import Team
from orchestra.core.messages import message_text
from orchestra.testing import ScriptedCall, ScriptedChatModel, plan, subtask, tool_call, verdict
from orchestra.tools.definitions import tool_definition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from research_team import team as research_team  # noqa: E402

GOAL = "Brief me on heat pumps for old houses"

BEFORE: dict[str, dict[str, dict[str, float]]] = {
    # Measured with this script before the layout change (role instructions first, the
    # goal in the task message). Same tokenizer, same script.
    "tools_first": {
        "executor": {"share": 0.551, "opening_share": 0.378},
        "critic": {"share": 0.606, "opening_share": 0.606},
    },
    "system_first": {
        "executor": {"share": 0.548, "opening_share": 0.372},
        "critic": {"share": 0.606, "opening_share": 0.606},
    },
}

PREVIOUS: dict[str, dict[str, dict[str, float]]] = {
    # Measured with this script on the issue-23 layout (the task before its inputs, a
    # retry's feedback inside the task message, tools bound in the role's order), before
    # the change that keeps the executor's task message the same on every attempt (the
    # feedback in a message of its own), puts the inputs first and sorts the tools.
    "tools_first": {
        "executor": {"share": 0.553, "opening_share": 0.381},
        "executor:editor": {"share": 0.47, "opening_share": 0.028},
        "executor:researcher": {"share": 0.644, "opening_share": 0.639},
        "executor:writer": {"share": 0.0, "opening_share": 0.0},
        "critic": {"share": 0.609, "opening_share": 0.609},
    },
    "system_first": {
        "executor": {"share": 0.587, "opening_share": 0.456},
        "executor:editor": {"share": 0.531, "opening_share": 0.161},
        "executor:researcher": {"share": 0.644, "opening_share": 0.639},
        "executor:writer": {"share": 0.258, "opening_share": 0.258},
        "critic": {"share": 0.609, "opening_share": 0.609},
    },
}

FACTS = {
    "background": "Heat pumps move heat instead of making it; in old houses the question is"
    " whether the walls and windows keep enough of it in. Pilots in pre-1930 homes show"
    " they work when the flow temperature stays low.",
    "costs": "Installation costs 8,000 to 16,000 EUR before subsidies; running costs depend"
    " on the price of electricity against gas. Payback times of 7 to 12 years are reported.",
    "benefits": "Measured pilots report 50 to 70 percent lower heating emissions and lower"
    " bills when insulation was improved first.",
    "risks": "Skilled installers are scarce, radiators may need upgrading, and results vary"
    " by site: measure heat loss before and after instead of trusting averages.",
}


def _plan() -> dict[str, Any]:
    research = [
        subtask(
            key,
            f"Research {key}",
            f"Find the facts about the {key} of heat pumps in old houses with search_notes.",
            criteria=[f"states at least two facts about {key}", "names where each fact is from"],
            role="researcher",
        )
        for key in FACTS
    ]
    return plan(
        subtask(
            "research",
            "Research heat pumps in old houses",
            "Collect the facts the brief needs.",
            criteria=["covers background, costs, benefits and risks"],
            role="researcher",
            subtasks=research,
        ),
        subtask(
            "draft",
            "Write the brief",
            "Write a one-page brief for a homeowner from the research.",
            deps=["research"],
            criteria=["under 300 words", "plain language", "ends with a recommendation"],
            role="writer",
        ),
        subtask(
            "edit",
            "Check the brief",
            "Check the brief's length with word_count and report it.",
            deps=["draft"],
            criteria=["reports the word count"],
            role="editor",
        ),
    )


def _researcher(call: ScriptedCall) -> Any:
    if not any(m.type == "tool" for m in call.messages):
        return tool_call("search_notes", {"query": f"{call.task_id} heat pumps old houses"})
    return FACTS.get(call.task_id or "", "facts") + " (from the research notes)"


def _editor(call: ScriptedCall) -> Any:
    if not any(m.type == "tool" for m in call.messages):
        return tool_call("word_count", {"text": "the brief"})
    return "The brief has 212 words, within the limit."


def _script() -> dict[str, Any]:
    return {
        "planner": [_plan()],
        "executor:researcher": _researcher,
        "executor:writer": "Heat pumps in old houses: " + " ".join(FACTS.values()) * 2,
        "executor:editor": _editor,
        "lead": "The research, integrated: " + " ".join(FACTS.values()),
        "critic@costs": [verdict("retry", "Give the payback time too."), verdict("pass")],
        "critic": verdict("pass"),
        "synthesizer": "A brief on heat pumps for old houses, checked: 212 words.",
    }


class _Recorder(ScriptedChatModel):
    """The scripted model, keeping the JSON schema each structured call was asked under.

    A provider receives that schema with the call (OpenAI's ``response_format``, which it
    caches as a prefix of the system message; Anthropic's forced tool, which comes first).
    """

    schemas: list[str | None] = Field(default_factory=list)

    def bind_schema(self, schema: dict[str, Any]) -> Runnable[LanguageModelInput, BaseMessage]:
        return self.bind(response_format=schema)

    def _answer(self, messages: Any, run_manager: Any, kwargs: Any) -> ChatResult:
        schema = kwargs.get("response_format")
        self.schemas.append(json.dumps(schema) if schema is not None else None)
        return super()._answer(messages, run_manager, kwargs)


def record_run() -> tuple[list[tuple[ScriptedCall, str | None]], dict[str, Any]]:
    """Every model call of one scripted run of the research team (with the schema it was
    asked under, if any); the team's tools."""
    runtime = research_team.runtime
    model = _Recorder(_script())
    team = Team(
        model,
        tools=list(runtime.tools.values()),
        roles=[r for r in runtime.roles.values()],
        max_depth=2,
        history=False,
        checkpointer="memory",
        name="research-team",
    )
    result = asyncio.run(team.arun(GOAL))
    assert result.succeeded, result.reason
    model.assert_complete()
    return list(zip(model.calls, model.schemas, strict=True)), dict(runtime.tools)


# -- tokens ------------------------------------------------------------------------------


def tokenizer() -> tuple[str, Callable[[str], list[int | str]]]:
    """The embedded model's tokenizer (vocabulary only), else a regex split."""
    try:
        import llama_cpp

        from orchestra.models.embedded import default_model_path

        vocab = llama_cpp.Llama(
            model_path=str(default_model_path()), vocab_only=True, verbose=False
        )
    except Exception:  # not installed: a deterministic split that needs nothing
        pattern = re.compile(r"\w+|[^\w\s]")
        return "regex words and punctuation", lambda text: list(pattern.findall(text))

    def tokens(text: str) -> list[int | str]:
        return list(vocab.tokenize(text.encode(), add_bos=False, special=False))

    return "SmolLM2-135M BPE (embedded model's vocabulary)", tokens


ORDERS = ("tools_first", "system_first")
"""Where a provider puts the tool definitions: before the system prompt (Anthropic's
documented order: tools, system, messages) or after it (OpenAI's rendering in its
harmony format: instructions, then the tools; the reply's schema before both)."""


def prompt_parts(
    call: ScriptedCall,
    schema: str | None,
    tools: dict[str, Any],
    tokens: Callable[[str], list[int | str]],
) -> tuple[list[int | str], list[int | str], list[list[int | str]]]:
    """The call's prompt in parts: the tool definitions, the head (the reply's schema, then
    the system prompt) and each message after it; each part starts with its marker."""
    defs: list[int | str] = []
    for name in call.tools:
        defs += ["<tool>", *tokens(json.dumps(tool_definition(tools[name])))]
    head: list[int | str] = ["<schema>", *tokens(schema)] if schema is not None else []
    messages = list(call.messages)
    while messages and messages[0].type == "system":
        head += ["<system>", *tokens(message_text(messages.pop(0)))]
    rest = [[f"<{m.type}>", *tokens(message_text(m))] for m in messages]
    return defs, head, rest


def prompt_tokens(
    call: ScriptedCall,
    schema: str | None,
    tools: dict[str, Any],
    tokens: Callable[[str], list[int | str]],
    order: str,
) -> list[int | str]:
    """The call's prompt as a provider sees it, in ``order`` (see ``ORDERS``)."""
    defs, head, rest = prompt_parts(call, schema, tools, tokens)
    messages = [t for part in rest for t in part]
    if order == "tools_first":
        return [*defs, *head, *messages]
    schema_part = head[: head.index("<system>")] if "<system>" in head else head
    return [*schema_part, *head[len(schema_part) :], *defs, *messages]


def _common_prefix(a: Sequence[object], b: Sequence[object]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def reuse(
    calls: list[tuple[str, str | None, bool, list[int | str]]],
) -> dict[str, dict[str, Any]]:
    """Per agent: calls, tokens sent, tokens repeating an earlier call's prefix, shares.

    Executors are also broken down by role (``executor:<role>``), still matched against
    every earlier executor call.
    """
    seen: dict[str, list[list[int | str]]] = defaultdict(list)
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for agent, role, opening, toks in calls:
        best = max((_common_prefix(toks, old) for old in seen[agent]), default=0)
        seen[agent].append(toks)
        keys = [agent, f"{agent}:{role}"] if agent == "executor" else [agent]
        for key in keys:
            s = stats[key]
            s["calls"] += 1
            s["tokens"] += len(toks)
            s["reused"] += best
            if opening:
                s["opening_tokens"] += len(toks)
                s["opening_reused"] += best
    return {
        agent: {
            "calls": s["calls"],
            "tokens": s["tokens"],
            "reused_tokens": s["reused"],
            "share": round(s["reused"] / s["tokens"], 3) if s["tokens"] else 0.0,
            "opening_share": (
                round(s["opening_reused"] / s["opening_tokens"], 3) if s["opening_tokens"] else None
            ),
        }
        for agent, s in sorted(stats.items())
    }


Parts = tuple[list[list[int | str]], list[list[int | str]]]
"""A prompt as its stable parts, in the provider's fixed order, and its messages."""


def _best_against(
    stable: list[list[int | str]], messages: list[list[int | str]], old: Parts
) -> int:
    """The most of a prompt that can repeat one earlier prompt's prefix, whatever the
    layout of the same content.

    The stable parts keep the provider's order: they count while they match, and a
    changed one ends the repeat after its shared start. The opening user turn (the
    leading user messages: a task's inputs, the task, a retry's feedback) may be laid out
    in any order, so each of its messages the earlier opening also sent counts, then the
    shared start of one more; only when both openings hold the same messages does the
    repeat go on, message by message, into the tool loop that follows.
    """
    reused = 0
    for part, was in zip(stable, old[0], strict=True):
        if part != was:
            return reused + _common_prefix(part, was)
        reused += len(part)
    opening, loop = _split_opening(messages)
    old_opening, old_loop = _split_opening(old[1])
    seen = {tuple(m) for m in old_opening}
    fresh = [m for m in opening if tuple(m) not in seen]
    reused += sum(len(m) for m in opening if tuple(m) in seen)
    if fresh or len(seen) != len({tuple(m) for m in opening}):
        return reused + max((_common_prefix(m, o) for m in fresh for o in old_opening), default=0)
    for message, was in zip(loop, old_loop, strict=False):
        if message != was:
            return reused + _common_prefix(message, was)
        reused += len(message)
    return reused


def _split_opening(
    messages: list[list[int | str]],
) -> tuple[list[list[int | str]], list[list[int | str]]]:
    cut = next((i for i, m in enumerate(messages) if m[:1] != ["<human>"]), len(messages))
    return messages[:cut], messages[cut:]


def ceiling(calls: list[tuple[str, str | None, Parts]]) -> dict[str, float]:
    """Per agent (executors also by role): the highest share any layout of the same
    content could reach (``_best_against``), each call matched against each earlier call
    of its agent as in ``reuse``."""
    seen: dict[str, list[Parts]] = defaultdict(list)
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for agent, role, (stable, messages) in calls:
        best = max((_best_against(stable, messages, old) for old in seen[agent]), default=0)
        seen[agent].append((stable, messages))
        size = sum(len(p) for p in stable) + sum(len(m) for m in messages)
        for key in [agent, f"{agent}:{role}"] if agent == "executor" else [agent]:
            sums[key][0] += best
            sums[key][1] += size
    return {k: round(r / n, 3) if n else 0.0 for k, (r, n) in sorted(sums.items())}


def _stable(
    parts: tuple[list[int | str], list[int | str], list[list[int | str]]], order: str
) -> Parts:
    defs, head, rest = parts
    if order == "tools_first":
        return [defs, head], rest
    cut = head.index("<system>") if "<system>" in head else len(head)
    return [head[:cut], head[cut:], defs], rest


def run() -> dict[str, Any]:
    calls, tools = record_run()
    name, tokens = tokenizer()
    out: dict[str, Any] = {"tokenizer": name, "goal": GOAL}
    for order in ORDERS:
        rows = [
            (
                str(c.agent),
                c.role,
                c.agent != "executor" or not any(m.type in ("ai", "tool") for m in c.messages),
                prompt_tokens(c, schema, tools, tokens, order),
            )
            for c, schema in calls
        ]
        bound = ceiling(
            [
                (str(c.agent), c.role, _stable(prompt_parts(c, schema, tools, tokens), order))
                for c, schema in calls
            ]
        )
        after = reuse(rows)
        for agent, row in after.items():
            row["ceiling"] = bound[agent]
        out[order] = {"after": after, "before": BEFORE[order], "previous": PREVIOUS[order]}
    return out


def main() -> int:
    result = run()
    for order in ORDERS:
        print(
            f"{order}: prefix share per agent (before issue 23; previous layout)", file=sys.stderr
        )
        for agent, row in result[order]["after"].items():
            was = _was(result[order]["before"].get(agent), result[order]["previous"].get(agent))
            print(
                f"  {agent:20} {row['share']:.3f}{was('share')}  first calls of attempts"
                f" {row['opening_share']:.3f}{was('opening_share')}"
                f"  ceiling {row['ceiling']:.3f}",
                file=sys.stderr,
            )
    publish("prompt_cache", result)
    return 0


def _was(
    before: dict[str, float] | None, previous: dict[str, float] | None
) -> Callable[[str], str]:
    """How a figure read before: `` (before; previous)``, the ones measured."""

    def was(key: str) -> str:
        known = [f"{row[key]:.3f}" if row else "-" for row in (before, previous)]
        return f" ({'; '.join(known)})" if before or previous else ""

    return was


if __name__ == "__main__":
    raise SystemExit(main())
