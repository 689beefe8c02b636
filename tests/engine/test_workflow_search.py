"""Workflow search on executor attempts, with the scripted model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from rich.console import Console

from orchestra import (
    Event,
    Role,
    RoleAssigned,
    RunStatus,
    TaskNode,
    ToolCalled,
    WorkflowSearch,
    tool,
)
from orchestra.core.approval import Approve
from orchestra.core.events import SearchStepped, ToolStarted
from orchestra.core.search_tree import SearchBudget
from orchestra.observability.live import LiveView
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, tool_call, verdict
from tests.conftest import make_team
from tests.observability.conftest import Spans

SENT: list[str] = []


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return f"fact about {q}"


@tool(side_effects=True)
def send(to: str) -> str:
    """Send a message."""
    SENT.append(to)
    return "sent"


def _executor(call: ScriptedCall) -> Any:
    """Sample 1 looks up first, sample 2 guesses, sample 3 wants to send; greedy guesses."""
    looked = any(m.type == "tool" for m in call.messages)
    if looked:
        return "right: fact about a" if call.sample in (0, 1) else "wrong"
    if call.sample == 1:
        return tool_call("lookup", {"q": "a"})
    if call.sample == 3:
        return tool_call("send", {"to": "boss"})
    return "a guess"


def _critic(call: ScriptedCall) -> Any:
    judged = call.prompt.rsplit("Result to judge:", 1)[-1]
    return verdict("pass") if "right" in judged else verdict("retry", "not grounded")


def _script() -> dict[str, Any]:
    return {
        "planner": [plan(subtask("t", "Answer with a looked-up fact"))],
        "role_designer": role_spec("worker", "Answer.", ["lookup", "send"]),
        "executor": _executor,
        "critic": _critic,
        "synthesizer": "done",
    }


def _search(**budget: Any) -> WorkflowSearch:
    limits = {"max_nodes": 6, "max_depth": 3, "branching": 3, "parallel": 2} | budget
    return WorkflowSearch(budget=SearchBudget(**limits), seed=1)


def _searching_team(**kw: Any) -> Any:
    """A one-task team that searches (one attempt, checkpointed in memory)."""
    args = {
        "tools": [lookup, send],
        "search": _search(),
        "checkpointer": "memory",
        "max_attempts": 1,
    } | kw
    return make_team(_script(), **args)


async def test_the_search_finds_the_grounded_answer_and_traces_its_tree():
    SENT.clear()
    spans = Spans()
    team, model = _searching_team(tracing=spans.tracing(capture_content=True))
    result = await team.arun("tell me a fact")
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert result.tree.get("t").result == "right: fact about a"
    assert SENT == []  # the side-effecting step was proposed, rejected, never made
    assert [c.tool for c in result.tool_calls] == ["lookup"]  # made once, then reused
    assert {c.sample for c in model.calls_for("executor")} >= {1, 2, 3}

    attempt = spans.one("invoke_agent worker")
    attrs = attempt.attributes
    assert attrs["orchestra.search.evaluations"] <= 6
    assert attrs["orchestra.search.best_score"] == 1.0
    nodes = [e for e in attempt.events if e.name == "orchestra.search.node"]
    assert len(nodes) == attrs["orchestra.search.nodes"]
    root = nodes[0].attributes
    reasons = root["orchestra.search.node.rejected_reasons"]
    assert root["orchestra.search.node.rejected"] == len(reasons) >= 1
    assert "side effects" in reasons[0]
    # a widening of the root drew samples 4-6, which only repeated a guess
    assert all(why == "the same action was proposed twice" for why in reasons[1:])


async def test_a_search_reports_each_scored_trajectory_and_its_tool_calls_as_events():
    team, _ = _searching_team()
    view = LiveView()
    events: list[Event] = []
    lines_during: list[str] = []

    def on_event(event: Event) -> None:
        events.append(event)
        view.update(event)
        if isinstance(event, SearchStepped):
            lines_during.append(_line_of(view, "t"))

    result = await team.arun("tell me a fact", on_event=on_event)
    assert result.status is RunStatus.SUCCEEDED, result.reason
    [search] = result.tree.get("t").searches
    steps = [e for e in events if isinstance(e, SearchStepped)]
    assert [e.evaluations for e in steps] == list(range(1, len(search.nodes)))
    assert {(e.task_id, e.attempt, e.max_evaluations) for e in steps} == {("t", 1, 6)}
    assert [e.best for e in steps] == [
        max(e.score for e in steps[: n + 1]) for n in range(len(steps))
    ]
    assert steps[-1].best == 1.0
    assert any(e.action.startswith("lookup(") for e in steps)
    assert any(e.action == "answer: a guess" and e.score == 0.4 for e in steps)
    # every tool call the search made was announced first, under the same key
    started = [e.key for e in events if isinstance(e, ToolStarted)]
    called = [e.key for e in events if isinstance(e, ToolCalled)]
    assert called and started == called
    # the live view shows how far the search is
    assert f"search 1/6 best {steps[0].best:.2f}" in lines_during[0]
    assert f"search {len(steps)}/6 best 1.00" in lines_during[-1]


def _line_of(view: LiveView, task_id: str) -> str:
    console = Console(width=160, record=True, color_system=None, file=None)
    with console.capture() as capture:
        console.print(view)
    return next(line for line in capture.get().splitlines() if f" {task_id} " in line)


async def test_a_users_scorer_replaces_the_critic_in_the_search():
    scored: list[str] = []

    def scorer(answer: str) -> float:
        scored.append(answer)
        return 1.0 if answer.startswith("right") else 0.0

    team, model = make_team(
        _script(),
        tools=[lookup, send],
        search=WorkflowSearch(budget=SearchBudget(max_nodes=6, branching=3), scorer=scorer),
        checkpointer="memory",
    )
    result = await team.arun("tell me a fact")
    assert result.succeeded and "right: fact about a" in scored
    assert len(model.calls_for("critic", "t")) == 1  # only the attempt's own verdict


async def test_the_search_stops_at_its_budget():
    spans = Spans()
    team, _ = _searching_team(search=_search(max_nodes=1, parallel=1), tracing=spans.tracing())
    await team.arun("tell me a fact")
    attrs = spans.one("invoke_agent worker").attributes
    assert attrs["orchestra.search.evaluations"] == 1
    assert attrs["orchestra.search.stop_reason"] == "max_nodes"


async def test_a_role_without_native_tool_calls_runs_its_attempt_as_usual():
    spans = Spans()
    script = _script() | {"executor": "right: from memory"}
    team, model = make_team(
        script,
        tools=[lookup, send],
        search=_search(),
        checkpointer="memory",
        native_tools=False,
        tracing=spans.tracing(),
    )
    result = await team.arun("tell me a fact")
    assert result.succeeded and result.tree.get("t").result == "right: from memory"
    attrs = spans.one("invoke_agent worker").attributes
    assert "no native tool calling" in attrs["orchestra.search.skipped"]
    assert "orchestra.search.nodes" not in attrs
    assert len(model.calls_for("executor")) == 1  # one ordinary attempt, no samples


def _two_task_script(executor: Any) -> dict[str, Any]:
    return {
        "planner": [
            plan(
                subtask("hard", "Answer with a looked-up fact", role="searcher"),
                subtask("easy", "Say hello", role="plain"),
            )
        ],
        "executor": executor,
        "critic": _critic,
        "synthesizer": "done",
    }


def _per_task_executor(call: ScriptedCall) -> Any:
    return _executor(call) if call.task_id == "hard" else "right: hello"


def _searched_tasks(model: Any) -> set[str | None]:
    """Tasks whose executor calls include samples (only a search samples executor steps)."""
    return {c.task_id for c in model.calls_for("executor") if c.sample > 0}


async def test_a_roles_own_search_applies_to_its_subtasks_only():
    roles = [
        Role(name="searcher", instructions="Look up.", tools=["lookup"], search=_search()),
        Role(name="plain", instructions="Answer."),
    ]
    team, model = make_team(
        _two_task_script(_per_task_executor),
        tools=[lookup],
        roles=roles,
        checkpointer="memory",
        max_attempts=1,
    )
    result = await team.arun("two things")
    assert result.succeeded, result.reason
    assert result.tree.get("hard").result == "right: fact about a"
    assert _searched_tasks(model) == {"hard"}


async def test_a_role_can_opt_out_of_the_teams_search():
    roles = [
        Role(name="searcher", instructions="Look up.", tools=["lookup"]),
        Role(name="plain", instructions="Answer.", search=False),
    ]
    team, model = make_team(
        _two_task_script(_per_task_executor),
        tools=[lookup],
        roles=roles,
        search=_search(),
        checkpointer="memory",
        max_attempts=1,
    )
    assert (await team.arun("two things")).succeeded
    assert _searched_tasks(model) == {"hard"}
    assert len([c for c in model.calls_for("executor") if c.task_id == "easy"]) == 1


async def test_applies_to_chooses_the_subtasks_to_search():
    roles = [
        Role(name="searcher", instructions="Look up.", tools=["lookup"]),
        Role(name="plain", instructions="Answer.", tools=["lookup"]),
    ]
    seen: list[str] = []

    def hard_only(task: TaskNode) -> bool:
        seen.append(task.id)
        return "looked-up" in task.title

    team, model = make_team(
        _two_task_script(_per_task_executor),
        tools=[lookup],
        roles=roles,
        search=_search().model_copy(update={"applies_to": hard_only}),
        checkpointer="memory",
        max_attempts=1,
    )
    assert (await team.arun("two things")).succeeded
    assert _searched_tasks(model) == {"hard"}
    assert sorted(seen) == ["easy", "hard"]  # asked once per attempt


async def test_from_attempt_searches_only_after_the_critic_sent_a_first_attempt_back():
    def executor(call: ScriptedCall) -> Any:
        if call.sample == 0 and not any(m.type == "tool" for m in call.messages):
            return "a guess"  # the ordinary first attempt, which the critic sends back
        return _executor(call)

    spans = Spans()
    team, model = make_team(
        _script() | {"executor": executor},
        tools=[lookup, send],
        search=_search().model_copy(update={"from_attempt": 2}),
        checkpointer="memory",
        max_attempts=2,
        tracing=spans.tracing(),
    )
    result = await team.arun("tell me a fact")
    assert result.succeeded, result.reason
    node = result.tree.get("t")
    assert node.result == "right: fact about a"
    assert [v.verdict for v in node.verdicts] == ["retry", "pass"]
    attempts = [s for s in spans.all if s.name == "invoke_agent worker"]
    assert ["orchestra.search.nodes" in s.attributes for s in attempts] == [False, True]
    first_sampled = min(i for i, c in enumerate(model.calls_for("executor")) if c.sample > 0)
    assert first_sampled > 0  # the search began after the ordinary attempt


def test_from_attempt_is_at_least_one():
    with pytest.raises(ValidationError):
        WorkflowSearch(from_attempt=0)


async def test_the_search_tree_is_kept_in_the_record_and_drawn_in_the_report(tmp_path):
    from orchestra.observability.history import RunHistory
    from orchestra.observability.report import render_report

    team, _ = _searching_team(history=RunHistory(tmp_path / "history.db"))
    result = await team.arun("tell me a fact")
    [search] = result.tree.get("t").searches
    assert search.attempt == 1 and search.best_score == 1.0
    root = search.nodes[0]
    assert root.parent is None and root.step is None
    step, why = root.rejected[0]
    assert step.startswith("send(") and "side effects" in why
    best = {n.id: n for n in search.nodes}[search.best_node]
    assert best.score == 1.0 and best.id in search.best_path() and 0 in search.best_path()
    assert all(n.parent in {m.id for m in search.nodes} for n in search.nodes[1:])

    [task] = [t for t in result.to_record().tasks if t.id == "t"]
    assert task.searches == [search]

    assert team.history is not None
    stored = team.history.get(result.run_id)
    assert stored.record is not None and stored.record.tasks[0].searches == [search]
    html = render_report(stored)
    assert 'id="searches"' in html
    assert html.count("data-node=") == len(search.nodes)
    assert "rejected send(" in html and 'class="best"' in html

    from rich.console import Console

    from orchestra.cli.render import print_record

    console = Console(width=200, record=True, color_system=None)
    print_record(console, result.to_record())
    assert f"searched={len(search.nodes) - 1} steps" in console.export_text()


async def test_attempts_that_were_not_searched_keep_no_search_record():
    team, _ = make_team(_script() | {"executor": "right: known"}, tools=[lookup, send])
    result = await team.arun("tell me a fact")
    assert result.succeeded and result.tree.get("t").searches == []


async def test_among_equal_scores_the_answer_proposed_most_wins_and_its_verdict_is_reused():
    def executor(call: ScriptedCall) -> Any:
        return "first: a" if call.sample == 1 else "second: b"  # b is proposed more often

    script = _script() | {"executor": executor, "critic": verdict("pass")}
    team, model = make_team(
        script, tools=[lookup, send], search=_search(max_widenings=0), max_attempts=1
    )
    result = await team.arun("tell me a fact")
    assert result.succeeded and result.tree.get("t").result == "second: b"
    [search] = result.tree.get("t").searches
    assert search.votes == 2
    chosen = {n.id: n for n in search.nodes}[search.best_node]
    assert chosen.step == "answer: second: b"
    # one critic call per distinct answer in the search; the attempt's verdict is the
    # search's verdict on the answer chosen, not a third call
    assert len(model.calls_for("critic", "t")) == 2
    assert [v.verdict for v in result.tree.get("t").verdicts] == ["pass"]


async def test_the_runs_budget_stops_a_search_mid_way_and_a_resume_goes_on():
    from orchestra import Budget

    # plan (1) and role (1) leave the search 3 model calls: its first expansion, no more
    team, model = _searching_team(budget=Budget(model_calls=5))
    stopped = await team.arun("tell me a fact", run_id="searching")
    assert stopped.status is RunStatus.BUDGET_EXCEEDED
    assert stopped.tree.get("t").status.value != "done"
    assert len(model.calls_for("executor")) == 3 and not model.calls_for("critic")

    done = await team.aresume("searching", budget=Budget(model_calls=60))
    assert done.succeeded and done.tree.get("t").result == "right: fact about a"


async def test_the_same_seed_searches_the_same_way_twice():
    def run_once() -> Any:
        team, _ = _searching_team()
        return team.arun("tell me a fact")

    first, second = await run_once(), await run_once()
    assert first.tree.get("t").searches == second.tree.get("t").searches


async def test_a_critic_that_cannot_judge_a_searched_answer_stops_the_run_or_falls_back():
    from orchestra import ModelBehaviorError

    script = _script() | {"critic": "not a verdict at all"}
    strict, _ = make_team(script, tools=[lookup, send], search=_search(), fallbacks=False)
    with pytest.raises(ModelBehaviorError):
        await strict.arun("tell me a fact")

    lenient, _ = make_team(
        script, tools=[lookup, send], search=_search(), fallbacks=True, max_attempts=1
    )
    result = await lenient.arun("tell me a fact")
    assert result.succeeded  # accepted unchecked, as any attempt with fallbacks
    messages = [n.message for n in result.notices if n.kind == "critic_fallback"]
    assert any("searched answer" in m and "scored 0" in m for m in messages)
    assert any("accepted unchecked" in m for m in messages)
    [search] = result.tree.get("t").searches
    assert {n.score for n in search.nodes[1:] if n.score is not None} == {0.0}


async def test_a_scorer_that_returns_no_number_is_an_error_not_a_score():
    from orchestra.core.search_tree import SearchError

    team, _ = make_team(
        _script(),
        tools=[lookup, send],
        search=WorkflowSearch(scorer=lambda answer: "0.9"),  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(SearchError, match="not a number"):
        await team.arun("tell me a fact")


async def test_several_judgments_per_answer_average_the_score_and_keep_the_majority():
    def critic(call: ScriptedCall) -> Any:
        return verdict("retry", "unsure") if call.sample == 0 else verdict("pass")

    script = _script() | {"executor": "right: known", "critic": critic}
    options = _search().model_copy(update={"judgments": 3})
    team, model = make_team(script, tools=[lookup, send], search=options, max_attempts=1)
    result = await team.arun("tell me a fact")
    assert result.succeeded  # two of three verdicts pass: the majority is the attempt's
    assert sorted(c.sample for c in model.calls_for("critic", "t")) == [0, 1, 2]
    [search] = result.tree.get("t").searches
    assert search.best_score == pytest.approx((0.4 + 1.0 + 1.0) / 3)


def test_the_majority_of_verdicts_breaks_ties_towards_the_stricter():
    from orchestra.agents.workflow_search import majority
    from orchestra.core.tree import Verdict

    def v(kind: str) -> Verdict:
        return Verdict(verdict=kind, reason=kind)  # type: ignore[arg-type]

    assert majority([v("pass"), v("retry"), v("pass")]).verdict == "pass"
    assert majority([v("pass"), v("retry")]).verdict == "retry"
    assert majority([v("replan"), v("pass")]).verdict == "replan"


def _role_choice_script() -> dict[str, Any]:
    """The designed role can only guess; a second design looks things up; a third is
    invalid (names a tool the team does not have)."""

    def designer(call: ScriptedCall) -> Any:
        if call.sample == 1:
            return role_spec("researcher", "Look it up, then answer.", ["lookup"])
        if call.sample >= 2:
            return role_spec("dreamer", "Imagine.", ["crystal_ball"])
        return role_spec("guesser", "Answer from what you know.", [])

    def executor(call: ScriptedCall) -> Any:
        if call.role != "researcher":
            return "a guess"
        looked = any(m.type == "tool" for m in call.messages)
        return "right: fact about a" if looked else tool_call("lookup", {"q": "a"})

    return _script() | {"role_designer": designer, "executor": executor}


async def test_the_search_chooses_among_designed_roles_and_the_task_takes_the_winner():
    events: list[Event] = []
    team, model = make_team(
        _role_choice_script(),
        tools=[lookup, send],
        search=WorkflowSearch(budget=SearchBudget(max_nodes=6, branching=2), roles=3, seed=1),
        checkpointer="memory",
        max_attempts=1,
    )
    result = await team.arun("tell me a fact", on_event=events.append)
    assert result.status is RunStatus.SUCCEEDED, result.reason
    task = result.tree.get("t")
    assert task.result == "right: fact about a"
    assert task.role == "researcher"  # the role whose trajectory won
    assigned = [(e.role, e.designed) for e in events if isinstance(e, RoleAssigned)]
    assert assigned == [("guesser", True), ("researcher", True)]
    assert set(result.roles) >= {"guesser", "researcher"}
    assert "dreamer" not in result.roles

    [search] = task.searches
    root = search.nodes[0]
    assert sorted(n.step for n in search.children()[0]) == ["role guesser", "role researcher"]
    # sample 2 was invalid, and so were those a widening of the root drew
    assert root.rejected
    for step, why in root.rejected:
        assert step == "role: no valid design"
        assert "unknown tool" in why and "crystal_ball" in why
    chosen = [n.step for n in search.nodes if n.id in search.best_path()]
    assert chosen == [None, "role researcher"]  # its rollout reached the answer first
    # the steps below a role ran as that role
    roles_asked = {c.role for c in model.calls_for("executor")}
    assert roles_asked == {"guesser", "researcher"}
    assert [c.sample for c in model.calls_for("role_designer")][:1] == [0]
    assert {1, 2} <= {c.sample for c in model.calls_for("role_designer")}


async def test_one_role_searches_only_that_roles_steps():
    team, model = make_team(
        _role_choice_script(),
        tools=[lookup, send],
        search=WorkflowSearch(budget=SearchBudget(max_nodes=4, branching=2), seed=1),
        checkpointer="memory",
        max_attempts=1,
    )
    result = await team.arun("tell me a fact")
    assert result.tree.get("t").role == "guesser"
    assert {c.sample for c in model.calls_for("role_designer")} == {0}
    steps = [n.step or "" for n in result.tree.get("t").searches[0].nodes]
    assert steps[1:] and not any(step.startswith("role ") for step in steps)


async def test_a_retry_runs_as_the_role_the_search_chose():
    verdicts = iter([verdict("retry", "say where the fact comes from"), verdict("pass")])
    team, model = make_team(
        _role_choice_script()
        | {"critic": lambda call: next(verdicts), "critic@root": verdict("pass")},
        tools=[lookup, send],
        search=WorkflowSearch(
            budget=SearchBudget(max_nodes=4, branching=2),
            roles=2,
            scorer=lambda answer: 1.0 if answer.startswith("right") else 0.0,
            applies_to=lambda task: task.attempts == 0,  # the first attempt only
        ),
        checkpointer="memory",
        max_attempts=2,
    )
    result = await team.arun("tell me a fact")
    assert result.status is RunStatus.SUCCEEDED, result.reason
    task = result.tree.get("t")
    assert task.attempts == 2 and len(task.searches) == 1
    assert task.role == "researcher"
    # the second, ordinary attempt: the researcher's, with its lookup tool
    second = [c for c in model.calls_for("executor") if "say where the fact" in c.prompt]
    assert second and {c.role for c in second} == {"researcher"}
    assert task.result == "right: fact about a"


def _one_call_script(role: str, tool: str, args: dict[str, str], answer: str) -> dict[str, Any]:
    """A task done by one call of ``tool``, then ``answer``; the critic passes it."""

    def executor(call: ScriptedCall) -> Any:
        called = any(m.type == "tool" for m in call.messages)
        return answer if called else tool_call(tool, args)

    designed = role_spec(role, "Do it.", [tool])
    return _script() | {"role_designer": designed, "executor": executor, "critic": verdict("pass")}


async def test_a_task_the_search_cannot_answer_runs_as_usual_and_keeps_the_tree():
    """A search never makes a side-effecting call; a task that needs one still gets done."""
    SENT.clear()
    spans = Spans()
    team, model = make_team(
        _one_call_script("mailer", "send", {"to": "boss"}, "sent it to the boss"),
        tools=[lookup, send],
        search=_search(),
        checkpointer="memory",
        max_attempts=1,
        tracing=spans.tracing(),
    )
    result = await team.arun("tell the boss")
    assert result.status is RunStatus.SUCCEEDED, result.reason
    task = result.tree.get("t")
    assert task.result == "sent it to the boss"
    assert SENT == ["boss"]  # once: by the ordinary attempt, never by the search
    [search] = task.searches
    assert search.stop_reason == "exhausted" and len(search.nodes) == 1
    assert all("side effects" in why for _, why in search.nodes[0].rejected)
    attrs = spans.one("invoke_agent mailer").attributes
    assert "no answer" in attrs["orchestra.search.fallback"]
    assert [c.tool for c in result.tool_calls] == ["send"]
    assert {c.sample for c in model.calls_for("executor")} >= {0, 1}  # searched, then as usual


async def test_a_search_before_an_approval_pause_stays_on_the_record():
    @tool(side_effects=True, requires_approval=True)
    def wire(to: str) -> str:
        """Wire money (a person approves each transfer)."""
        SENT.append(to)
        return f"wired to {to}"

    SENT.clear()
    team, _ = make_team(
        _one_call_script("payer", "wire", {"to": "acme"}, "wired it"),
        tools=[wire],
        search=_search(),
        max_attempts=1,
    )
    paused = await team.arun("pay acme", run_id="searched-then-paused")
    assert paused.status is RunStatus.AWAITING_APPROVAL
    assert SENT == [] and len(paused.tree.get("t").searches) == 1

    done = await team.aresume("searched-then-paused", decisions=Approve())
    assert done.status is RunStatus.SUCCEEDED, done.reason
    assert SENT == ["acme"]
    [search] = done.tree.get("t").searches  # kept through the pause, not searched again
    assert all("side effects" in why for _, why in search.nodes[0].rejected)


async def test_a_searched_answer_failing_a_check_scores_0_without_a_critic_call():
    def no_guessing(task: Any, result: str) -> str | None:
        return "the answer is a guess" if "guess" in result else None

    team, model = _searching_team(checks=[no_guessing])
    events: list[Event] = []
    result = await team.arun("tell me a fact", on_event=events.append)
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert result.tree.get("t").result == "right: fact about a"
    judged = [c.prompt.rsplit("Result to judge:", 1)[-1] for c in model.calls_for("critic", "t")]
    assert judged and not any("guess" in text for text in judged)  # the check ruled it out
    guesses = [e for e in events if isinstance(e, SearchStepped) and e.action == "answer: a guess"]
    assert guesses and all(e.score == 0.0 for e in guesses)
