"""Teams of teams: a task given to ``Role(team=...)`` is run by the sub-team, nested."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from orchestra import Role, RunStatus, Team, tool
from orchestra.core.approval import Approve
from orchestra.core.budget import Budget
from orchestra.core.errors import ConfigError
from orchestra.core.tree import TaskStatus
from orchestra.observability.live import LiveView
from orchestra.testing import (
    ScriptedCall,
    ScriptedChatModel,
    plan,
    role_spec,
    subtask,
    tool_call,
    verdict,
)
from tests.conftest import make_team, run_collect

FILED: list[str] = []


@tool(side_effects=True, requires_approval=True)
def file_report(text: str) -> str:
    """File a report with the regulator."""
    FILED.append(text)
    return "filed"


@pytest.fixture(autouse=True)
def _no_filings() -> None:
    FILED.clear()


def _legal_script(**overrides: object) -> dict[str, object]:
    script: dict[str, object] = {
        "planner": plan(subtask("find", "Find the rules"), subtask("check", deps=["find"])),
        "role_designer": role_spec("lawyer", "Know the law.", []),
        "executor": lambda call: f"{call.task_id}: rule EU 2026/1 applies",
        "critic": verdict("pass"),
        "synthesizer": "EU rule 2026/1 applies to e-bikes.",
    }
    script.update(overrides)
    return script


def _legal(**kwargs: Any) -> tuple[Team, ScriptedChatModel]:
    script = kwargs.pop("script", None) or _legal_script()
    model = ScriptedChatModel(script)
    return Team(model, name="legal", history=False, **kwargs), model


def _parent_script(**overrides: object) -> dict[str, object]:
    script: dict[str, object] = {
        "planner": [
            plan(
                subtask("prices", "Collect prices"),
                subtask("law", "Check the law", role="legal", criteria=["names the rule"]),
                subtask("report", "Write the report", deps=["prices", "law"]),
            )
        ],
        "role_designer": role_spec("analyst", "Analyse.", []),
        "executor": lambda call: f"{call.task_id} done",
        "critic": verdict("pass"),
        "synthesizer": "report with the rule",
    }
    script.update(overrides)
    return script


def _parent(sub: Team, script: dict[str, object] | None = None, **kwargs: Any):
    return make_team(
        script or _parent_script(),
        roles=[Role(name="legal", team=sub, description="Answers legal questions")],
        **kwargs,
    )


async def test_a_delegated_task_is_run_by_the_sub_team_and_nests_in_the_record():
    sub, sub_model = _legal()
    team, model = _parent(sub)
    result, events = await run_collect(team, "Market report on e-bikes")
    assert result.status is RunStatus.SUCCEEDED
    # the sub-team planned, staffed and ran the task with its own model
    assert not model.calls_for("executor", "law")
    assert [c.task_id for c in sub_model.calls_for("executor")] == ["find", "check"]
    [sub_plan] = sub_model.calls_for("planner")
    assert "Check the law" in sub_plan.prompt and "names the rule" in sub_plan.prompt
    # the task's result is the sub-team's answer, judged by this team's critic
    law = result.tree.get("law")
    assert law.result == "EU rule 2026/1 applies to e-bikes."
    assert len(model.calls_for("critic", "law")) == 1
    # ... and the report built on it
    assert "EU rule 2026/1" in model.calls_for("executor", "report")[0].prompt

    tasks = {t.id: t for t in result.to_record().tasks}
    assert [t for t in tasks if t.startswith("law")] == ["law", "law/find", "law/check"]
    assert (tasks["law"].kind, tasks["law"].team) == ("team", "legal")
    assert tasks["law"].sub_run_id == f"{result.run_id}/law.1"
    assert (tasks["law/find"].parent_id, tasks["law/find"].depth) == ("law", 2)
    assert tasks["law/check"].depends_on == ["law/find"]
    assert tasks["law/check"].status is TaskStatus.DONE
    # the sub-team's spending is the run's: counted once, under the task
    sub_calls = len(sub_model.calls)
    assert tasks["law"].total_usage.model_calls == sub_calls + 1  # + this team's critic
    assert result.usage.model_calls == len(model.calls) + sub_calls
    # its events reach this run's stream, named under the task
    planned = [(e.task_id, e.parent_id) for e in events if e.type == "task_planned"]
    assert ("law/find", "law") in planned and ("law/check", "law") in planned
    assert {e.run_id for e in events} == {result.run_id}
    assert [e.type for e in events].count("run_finished") == 1
    # the live view nests the sub-team's tasks under the task
    view = LiveView()
    for event in events:
        view.update(event)
    console = Console(width=120, record=True, color_system=None, file=None)
    with console.capture() as capture:
        console.print(view)
    lines = capture.get().splitlines()
    law = next(i for i, line in enumerate(lines) if " law " in line)
    find = next(i for i, line in enumerate(lines) if "law/find" in line)
    assert find > law and lines[find].index("law/find") > lines[law].index("law")


async def test_a_rejected_answer_sends_the_task_back_to_the_sub_team_with_the_reason():
    sub, sub_model = _legal(
        script=_legal_script(synthesizer=["no rule found", "EU rule 2026/1 applies."])
    )
    script = _parent_script(
        **{"critic@law": [verdict("retry", "it names no rule"), verdict("pass")]}
    )
    team, _ = _parent(sub, script)
    result, _ = await run_collect(team)
    law = result.tree.get("law")
    assert law.status is TaskStatus.DONE and law.attempts == 2
    assert law.sub_run_id == f"{result.run_id}/law.2"
    second_goal = sub_model.calls_for("planner")[1].prompt
    assert "it names no rule" in second_goal


async def test_a_sub_team_that_fails_fails_its_task_and_the_run_goes_on():
    sub, _ = _legal(
        script=_legal_script(critic=verdict("retry", "wrong")), max_attempts=1, max_replans=0
    )
    team, _ = _parent(sub, max_attempts=1, max_replans=0)
    result, _ = await run_collect(team)
    assert result.status is RunStatus.PARTIAL
    law = result.tree.get("law")
    assert law.status is TaskStatus.FAILED and "legal" in (law.reason or "")
    assert result.tree.get("prices").status is TaskStatus.DONE
    assert law.subtree is not None and law.subtree.get("find").status is TaskStatus.FAILED


async def test_approvals_inside_a_sub_team_pause_the_parent_run():
    sub, _ = _legal(
        script=_legal_script(
            executor=lambda call: (
                "filed it"
                if any(m.type == "tool" for m in call.messages)
                else tool_call("file_report", {"text": "e-bike rules"})
            ),
            role_designer=role_spec("lawyer", "Know the law.", ["file_report"]),
            planner=plan(subtask("file", "File the report")),
        ),
        tools=[file_report],
    )
    team, _ = _parent(sub)
    paused = await team.arun("goal", run_id="nested-approval")
    assert paused.status is RunStatus.AWAITING_APPROVAL
    [request] = paused.pending
    assert request.task_id == "law/file" and request.id.startswith("law/")
    assert request.tool == "file_report" and not FILED
    assert paused.tree.get("prices").status is TaskStatus.DONE  # the rest went on

    done = await team.aresume("nested-approval", decisions={request.id: Approve()})
    assert done.status is RunStatus.SUCCEEDED
    assert FILED == ["e-bike rules"]
    assert {t.id: t.status for t in done.to_record().tasks}["law/file"] is TaskStatus.DONE
    [call] = [c for c in done.tool_calls if c.tool == "file_report"]
    assert call.task_id == "law/file"


async def test_a_crashed_parent_resumes_the_sub_team_where_it_was():
    crashes = {"left": 1}

    def executor(call: ScriptedCall) -> str:
        if call.task_id == "check" and crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("process died in the sub-team")
        return f"{call.task_id}: rule EU 2026/1"

    sub, sub_model = _legal(script=_legal_script(executor=executor))
    team, model = _parent(sub)
    with pytest.raises(RuntimeError, match="process died"):
        await team.arun("goal", run_id="nested-crash")
    resumed = await team.aresume("nested-crash")
    assert resumed.status is RunStatus.SUCCEEDED
    # the sub-team's plan and its finished task came back from its checkpoint
    assert len(sub_model.calls_for("planner")) == 1
    assert len(sub_model.calls_for("executor", "find")) == 1
    assert len(model.calls_for("executor", "prices")) == 1
    assert resumed.tree.get("law").sub_run_id == "nested-crash/law.1"


async def test_the_parent_budget_counts_the_sub_team_spending():
    sub, sub_model = _legal()
    team, model = _parent(sub, max_parallel=1)
    # planner, 3 designs, prices (executor + critic): 6 calls; the sub-team needs 9
    result = await team.arun("goal", run_id="nested-budget", budget=Budget(model_calls=10))
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert result.usage.model_calls <= 10
    assert result.usage.model_calls == len(model.calls) + len(sub_model.calls)
    law = result.tree.get("law")
    assert law.subtree is not None and law.status is not TaskStatus.DONE

    done = await team.aresume("nested-budget", budget=Budget(model_calls=40))
    assert done.status is RunStatus.SUCCEEDED
    # what the sub-team finished before the budget stopped it was not done again
    assert len(sub_model.calls_for("planner")) == 1
    assert done.usage.model_calls == len(model.calls) + len(sub_model.calls)


def test_a_role_with_a_team_takes_no_tools_of_its_own():
    sub, _ = _legal()
    with pytest.raises(ValueError, match="uses the team's own tools"):
        Role(name="legal", team=sub, tools=["file_report"])
    with pytest.raises(ValueError, match="needs instructions"):
        Role(name="writer")
    assert Role(name="legal", team=sub).spec().team == "legal"
    with pytest.raises(ConfigError):
        Team(ScriptedChatModel({}), roles=[Role(name="legal", team=sub)] * 2)


async def test_a_typed_sub_teams_answer_stays_typed_on_the_delegated_task():
    from pydantic import BaseModel

    class Ruling(BaseModel):
        rule: str
        applies: bool

    script = _legal_script(synthesizer='{"rule": "EU 2026/1", "applies": true}')
    sub, _ = _legal(script=script, output_type=Ruling)
    team, model = _parent(sub)
    result, _ = await run_collect(team, "Market report on e-bikes")
    assert result.status is RunStatus.SUCCEEDED
    law = result.tree.get("law")
    assert law.output == {"rule": "EU 2026/1", "applies": True}
    assert '"rule": "EU 2026/1"' in model.calls_for("executor", "report")[0].prompt


async def test_a_sub_team_named_to_lead_an_inner_task_is_not_played_by_this_teams_model():
    # a red-team pass: the planner's role hint "legal" (a sub-team) made this team's model
    # write the integration as "legal", with no notice and no call to the sub-team
    sub_model = ScriptedChatModel({"*": "unused"})
    legal = Team(sub_model, name="legal", history=False, checkpointer="memory")
    script = {
        "planner": [
            plan(
                subtask("P", "Legal review", role="legal", subtasks=[subtask("p1"), subtask("p2")]),
                subtask("other"),
            )
        ],
        "role_designer": role_spec("analyst", "Analyse.", []),
        "executor": lambda call: f"{call.task_id} done",
        "lead": lambda call: f"integrated {call.task_id}",
        "critic": verdict("pass"),
        "synthesizer": "final",
    }
    team, model = make_team(
        script, decompose="upfront", roles=[Role(name="legal", team=legal, description="Law.")]
    )
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED
    lead = result.tree.get("P").lead
    assert lead is not None and lead != "legal"
    assert [c.role for c in model.calls_for("lead", "P")] == [lead]
    [said] = [n for n in result.notices if n.kind == "role_fallback" and n.task_id == "P"]
    assert "role 'legal' is a sub-team" in said.message
    assert not sub_model.calls
