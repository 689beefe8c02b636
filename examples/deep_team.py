"""A three-level team: decomposition on demand, judged integration, escalation, partial runs.

    orchestra run examples/deep_team.py:team "Prepare a market report on e-bikes" --json
    orchestra run examples/deep_team.py:partial_team "Prepare a market report on e-bikes"

``team``'s plan has two top-level tasks. ``research`` is led by an editor and has three
subtasks; ``report`` is marked to be decomposed on demand. What happens, on every run:

(a) ``report`` is broken into ``outline`` and ``write`` by its lead only once ``research``
    has finished, and the lead's decomposition sees research's result;
(b) the editor's first integration of ``research`` is sent back by the critic ("the
    figures disagree") and integrated again with that reason;
(c) ``quotes`` fails for good (the critic rejects every attempt and its own re-plan budget is
    zero), so the failure climbs to ``research``, whose subtree is planned again: the
    finished ``prices`` and ``sales`` are kept, ``sourced_quotes`` replaces ``quotes``,
    and the run succeeds;
(d) the rules that apply are checked by a sub-team, a member of this team
    (``Role(team=legal_team)``): it plans and runs the task with its own planner, roles
    and model, and its tree nests under ``rules`` in the record (``rules/find``,
    ``rules/check``); the market numbers come from another team called as a tool
    (``team.as_tool()``).

``partial_team`` gives up one branch for good while an independent one finishes: the run
ends ``partial`` and its answer says what is missing. The models are scripted
(``orchestra.testing``) so that all of this happens offline, in seconds.
"""

from __future__ import annotations

from orchestra import Role, Team
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)


def _tool_result(call: ScriptedCall) -> str | None:
    done = [m for m in call.messages if m.type == "tool"]
    return str(done[-1].content) if done else None


numbers_team = Team(
    ScriptedChatModel(
        {
            "planner": plan(subtask("count", "Count sales"), subtask("rank", "Rank makers")),
            "role_designer": role_spec("statistician", "Work out market figures.", []),
            "executor": lambda call: f"{call.task_id}: e-bike sales grew 11% last year",
            "critic": verdict("pass"),
            "synthesizer": "E-bike sales grew 11% last year; three makers hold 60%.",
        }
    ),
    name="numbers",
    history=False,
)
"""The team the research team asks for market figures, as a tool."""
ask_numbers = numbers_team.as_tool(description="Ask the numbers team for market figures.")


legal_team = Team(
    ScriptedChatModel(
        {
            "planner": plan(
                subtask("find", "Find the rules for e-bikes"),
                subtask("check", "Check which rules apply", deps=["find"]),
            ),
            "role_designer": role_spec("lawyer", "Know the rules for vehicles.", []),
            "executor@find": "EN 15194 (safety) and EU 168/2013 (above 25 km/h)",
            "executor@check": "EN 15194 applies; EU 168/2013 only to speed pedelecs",
            "critic": verdict("pass"),
            "synthesizer": "E-bikes must meet EN 15194; speed pedelecs also EU 168/2013.",
        }
    ),
    name="legal",
    history=False,
)
"""The sub-team that checks the rules: a member of the research team."""


def _sales_executor(call: ScriptedCall) -> object:
    found = _tool_result(call)
    if found is None:
        return tool_call(ask_numbers.name, {"goal": "E-bike sales last year"})
    return "Sales grew 11% last year (the numbers team)" if "11%" in found else "Sales: unknown"


def _script() -> dict[str, object]:
    return {
        "planner": [
            plan(
                subtask(
                    "research",
                    "Research the market",
                    criteria=["prices, sales and quotes agree"],
                    subtasks=[
                        subtask("prices", "Collect prices"),
                        subtask("sales", "Collect sales figures"),
                        subtask("quotes", "Collect expert quotes"),
                    ],
                ),
                subtask("rules", "Check the rules that apply", role="legal"),
                subtask("report", "Write the report", deps=["research", "rules"], decompose=True),
            )
        ],
        # (c) the subtree re-plan after 'quotes' failed for good
        "planner@research": [plan(subtask("sourced_quotes", "Collect sourced quotes"))],
        "role_designer": role_spec("analyst", "Research and write carefully.", [ask_numbers.name]),
        "role_designer@research": role_spec("editor", "Merge findings into one account.", []),
        "executor@prices": ["Prices: 1,200 to 4,500 EUR"],
        "executor@sales": _sales_executor,
        "executor@quotes": "'E-bikes are the future' - someone",
        "executor@sourced_quotes": ["'Demand doubled' - J. Doe, Cycle Trade Weekly, 2026"],
        "executor": lambda call: f"{call.task_id} done",
        # (b) the first integration is sent back, the second accepted
        "lead@research": [
            "Prices are high; sales fell.",
            "Prices 1,200-4,500 EUR; sales grew 11%; demand doubled (J. Doe).",
        ],
        "critic@research": [verdict("retry", "the figures disagree"), verdict("pass")],
        "critic@quotes": verdict("retry", "the quote has no source"),
        # (a) the report, decomposed on demand once the research is in, then integrated
        "lead@report": [
            plan(subtask("outline", "Outline"), subtask("write", "Write", deps=["outline"])),
            "E-bike market report: prices, 11% growth, doubled demand.",
        ],
        "critic": verdict("pass"),
        "synthesizer": "E-bike market report: prices 1,200-4,500 EUR, sales up 11%.",
    }


team = Team(
    ScriptedChatModel(_script()),
    tools=[ask_numbers],
    roles=[Role(name="legal", team=legal_team, description="Checks the rules that apply.")],
    max_attempts=2,
    max_replans_per_node=0,
    name="deep-team",
)


def _partial_script() -> dict[str, object]:
    return {
        "planner": [
            plan(
                subtask("prices", "Collect prices"),
                subtask("interviews", "Interview dealers"),
                subtask("summary", "Summarize the interviews", deps=["interviews"]),
            )
        ],
        "role_designer": role_spec("analyst", "Research carefully.", []),
        "executor@prices": ["Prices: 1,200 to 4,500 EUR"],
        "executor@interviews": "(no dealer answered)",
        "critic@interviews": verdict("retry", "no interview took place"),
        "critic": verdict("pass"),
        "synthesizer": "Prices range from 1,200 to 4,500 EUR.",
    }


partial_team = Team(
    ScriptedChatModel(_partial_script()),
    max_attempts=2,
    max_replans_per_node=0,
    name="deep-team-partial",
)
