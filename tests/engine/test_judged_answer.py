"""The synthesizer is the goal's lead: its answer is judged like an inner task's result."""

from __future__ import annotations

from orchestra import RunStatus
from orchestra.core.tree import ROOT_ID
from orchestra.testing import plan, role_spec, subtask, verdict
from tests.conftest import make_team, run_collect


def _script(**overrides: object) -> dict[str, object]:
    script: dict[str, object] = {
        "planner": [plan(subtask("a"), subtask("b"))],
        "role_designer": role_spec("worker", "Do the task.", []),
        "executor": lambda call: f"result of {call.task_id}",
        "critic": verdict("pass"),
        "synthesizer": ["an answer that forgets b", "an answer with a and b"],
        "critic@root": [verdict("retry", "b is missing"), verdict("pass")],
    }
    script.update(overrides)
    return script


async def test_a_rejected_answer_is_written_again_with_the_critics_reason():
    team, model = make_team(_script())
    result, events = await run_collect(team)
    model.assert_complete()
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == "an answer with a and b"
    second = model.calls_for("synthesizer")[1]
    assert "b is missing" in second.prompt
    assert [v.verdict for v in result.to_record().answer_verdicts] == ["retry", "pass"]
    verdicts = [e for e in events if e.type == "verdict" and e.task_id == ROOT_ID]
    assert [v.verdict for v in verdicts] == ["retry", "pass"]
    assert not result.notices


async def test_an_answer_never_accepted_still_stands_with_a_notice():
    script = _script(**{"critic@root": verdict("retry", "too vague")})
    team, model = make_team(script, max_attempts=2)
    result, _ = await run_collect(team)
    assert result.output == "an answer with a and b"  # the last one written
    assert len(model.calls_for("synthesizer")) == 2
    [notice] = result.notices
    assert notice.kind == "answer_rejected" and "too vague" in notice.message


async def test_without_leads_or_critic_the_answer_is_taken_as_it_is():
    for options in ({"leads": False}, {"critic": False}):
        team, model = make_team(_script(), **options)
        result, _ = await run_collect(team)
        assert result.output == "an answer that forgets b"
        assert model.calls_for("critic", ROOT_ID) == []


async def test_the_record_says_when_planning_role_design_and_synthesis_ran():
    team, _ = make_team(_script())
    result, _ = await run_collect(team)
    stages = result.to_record().stages
    assert [s.stage for s in stages] == ["plan", "design_roles", "synthesize"]
    assert [s.label for s in stages] == ["planning", "role design", "synthesis"]
    assert all(s.started_at <= s.finished_at for s in stages)
    first_task = min(t.started_at for t in result.to_record().tasks if t.started_at)
    assert stages[1].finished_at <= first_task <= stages[2].started_at
