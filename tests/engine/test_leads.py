"""Leads of inner tasks: judged integration of their subtasks' results."""

from __future__ import annotations

from orchestra import Role, RunStatus
from orchestra.core.tree import TaskStatus
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect


def _tree() -> dict[str, object]:
    return plan(
        subtask(
            "research",
            criteria=["covers both sources"],
            subtasks=[subtask("a"), subtask("b", deps=["a"])],
        ),
        subtask("write", deps=["research"]),
    )


def _script(**overrides: object) -> dict[str, object]:
    script: dict[str, object] = {
        "planner": [_tree()],
        "role_designer": role_spec("analyst", "Analyse.", []),
        "role_designer@research": role_spec("editor", "Merge findings into one account.", []),
        "executor@a": ["source a says 1"],
        "executor@b": ["source b says 2"],
        "executor@write": ["the text"],
        "lead@research": ["Both sources: a says 1, b says 2."],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    script.update(overrides)
    return script


async def test_an_inner_tasks_lead_integrates_its_subtasks_and_is_judged():
    team, model = make_team(_script())
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    research = result.tree.get("research")
    assert research.lead == "editor"
    assert research.result == "Both sources: a says 1, b says 2."
    assert [v.verdict for v in research.verdicts] == ["pass"]
    assert research.integrations == 1

    # the lead saw its task, its criteria and both subtasks' results
    [call] = model.calls_for("lead", "research")
    assert call.role == "editor"
    for text in ("covers both sources", "source a says 1", "source b says 2", "Research"):
        assert text in call.prompt
    # the critic judged the integrated result, not the concatenation
    [judged] = model.calls_for("critic", "research")
    assert "Both sources: a says 1, b says 2." in judged.prompt
    # the dependent task and the synthesizer get the integrated result
    assert "Both sources" in model.calls_for("executor", "write")[0].prompt
    assert "Both sources" in model.calls_for("synthesizer")[0].prompt

    kinds = [e.type for e in events if getattr(e, "task_id", None) == "research"]
    assert kinds.index("lead_assigned") < kinds.index("verdict") < kinds.index("task_finished")
    assert "integrating" in kinds
    record = result.to_record()
    [task] = [t for t in record.tasks if t.id == "research"]
    assert (task.kind, task.lead, [v.verdict for v in task.verdicts]) == (
        "inner",
        "editor",
        ["pass"],
    )
    assert {t.id: t.kind for t in record.tasks}["a"] == "leaf"


async def test_an_integration_sent_back_is_integrated_again_with_the_reason():
    script = _script(
        **{
            "lead@research": ["only a: 1", "a says 1, b says 2"],
            "critic@research": [verdict("retry", "b is missing"), verdict("pass")],
        }
    )
    team, model = make_team(script)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    research = result.tree.get("research")
    assert research.integrations == 2
    assert research.result == "a says 1, b says 2"
    first, second = model.calls_for("lead", "research")
    assert "b is missing" not in first.prompt and "b is missing" in second.prompt
    # the subtasks are not run again for a re-integration
    assert len(model.calls_for("executor", "a")) == len(model.calls_for("executor", "b")) == 1


async def test_an_integration_that_never_passes_fails_its_task_and_the_run_is_partial():
    script = _script(
        **{
            "planner": [plan(*_tree()["tasks"], subtask("other"))],
            "lead@research": ["bad", "still bad"],
            "critic@research": verdict("retry", "contradictory"),
            "executor@other": ["other done"],
            "executor@write": [],  # never runs: it needs the research
        }
    )
    team, model = make_team(script, max_attempts=2)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.PARTIAL
    research = result.tree.get("research")
    assert research.status is TaskStatus.FAILED
    assert "no accepted integration after 2 attempt(s): contradictory" in (research.reason or "")
    assert result.tree.get("write").status is TaskStatus.SKIPPED
    assert result.tree.get("other").status is TaskStatus.DONE
    assert [m.task_id for m in result.missing] == ["research", "write"]
    assert result.reason == "tasks ['research'] failed for good; the rest finished"


async def test_without_leads_an_inner_result_is_its_subtasks_joined():
    script = _script()
    del script["lead@research"], script["role_designer@research"]
    team, model = make_team(script, leads=False)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    assert model.calls_for("lead") == []
    research = result.tree.get("research")
    assert research.result == "A: source a says 1\n\nB: source b says 2"
    assert research.lead is None and research.verdicts == []


async def test_a_role_hint_naming_a_user_role_leads_without_a_design_call():
    editor = Role(name="chief", instructions="Merge findings.")
    tree = _tree()
    tree["tasks"][0]["role"] = "chief"
    script = _script(planner=[tree])
    del script["role_designer@research"]
    team, model = make_team(script, roles=[editor])
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.tree.get("research").lead == "chief"
    assert model.calls_for("role_designer", "research") == []
    [assigned] = [e for e in events if e.type == "lead_assigned"]
    assert (assigned.task_id, assigned.role, assigned.designed) == ("research", "chief", False)


async def test_a_lead_that_never_answers_fails_its_task_not_the_run():
    script = _script(
        **{
            "planner": [plan(*_tree()["tasks"], subtask("other"))],
            "lead@research": [""] * 3,
            "executor@other": ["other done"],
            "executor@write": [],
        }
    )
    team, model = make_team(script, fallbacks=False)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.PARTIAL
    research = result.tree.get("research")
    assert research.status is TaskStatus.FAILED
    assert "the lead gave no usable result" in (research.reason or "")
    assert result.tree.get("other").status is TaskStatus.DONE


async def test_with_fallbacks_an_empty_integration_keeps_the_subtasks_results():
    script = _script(**{"lead@research": [""] * 3})
    team, model = make_team(script, fallbacks=True)
    result, _ = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    research = result.tree.get("research")
    assert "source a says 1" in (research.result or "") and "source b says 2" in research.result
    assert [n.kind for n in result.notices] == ["integration_fallback"]
