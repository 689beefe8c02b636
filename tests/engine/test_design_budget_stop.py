"""A budget that stops a role-design repair keeps the roles already found ("never lost work")."""

from __future__ import annotations

from typing import Any

from orchestra import RunStatus, TaskStatus
from orchestra.core.budget import Budget
from orchestra.core.events import Event, RoleAssigned, UsageRecorded
from orchestra.core.roles import RoleSpec
from orchestra.testing import ScriptedCall, message_text, plan, role_spec, subtask, verdict
from tests.conftest import make_team

BAD = role_spec("checker", "Check it.", ["delete_everything"])  # the team has no such tool
GOOD = role_spec("checker", "Check it.", [])
WRITER = RoleSpec(name="writer", instructions="Write it.")


def _script(**overrides: Any) -> dict[str, Any]:
    # No plain "role_designer" key: a task asked about again without a turn of its own
    # would be a ScriptError, so a leaf designed twice cannot go unnoticed.
    script: dict[str, Any] = {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer@a": [role_spec("writer", "Write it.", [])],
        "role_designer@b": [BAD, GOOD],
        "executor": lambda call: f"result of {call.task_id}",
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }
    script.update(overrides)
    return script


def _tokens(call: ScriptedCall) -> int:
    """The input tokens the scripted model charges for ``call`` (4 characters a token)."""
    return max(1, len(call.prompt) // 4)


async def test_a_stopped_repair_keeps_the_valid_entry_and_a_resume_asks_only_for_the_other():
    # planner 1 + the plan's design 1 (a valid, b names an unknown tool) = 2 calls: the
    # repair for b would be the 3rd and does not start
    team, model = make_team(_script(), budget=Budget(model_calls=2))
    result = await team.arun("goal", run_id="kept")
    assert result.status is RunStatus.BUDGET_EXCEEDED
    assert "2 model calls spent of 2" in (result.reason or "")
    assert [c.agent for c in model.calls] == ["planner", "role_designer"]
    assert model.calls[1].task_id == "root" and model.calls[1].task_ids == ("a", "b")
    # a's spec is kept, in the run's roles; b has none yet
    assert {n.id: n.role for n in result.tree.leaves()} == {"a": "writer", "b": None}
    assert result.roles["writer"] == WRITER
    assert "checker" not in result.roles
    assert all(n.status is TaskStatus.SKIPPED for n in result.tree.leaves())

    done = await team.aresume("kept", budget=Budget(model_calls=20))
    assert done.status is RunStatus.SUCCEEDED and done.output == "answer"
    model.assert_complete()  # a's one turn was used once; b's two turns both
    after = model.calls[2:]
    # the resumed run asks the role designer about b alone, then runs the tasks
    assert [c.agent for c in after] == [
        "role_designer",
        "executor",
        "critic",
        "executor",
        "critic",
        "synthesizer",
        "critic",
    ]
    redesign = after[0]
    assert redesign.task_id == "root" and redesign.task_ids == ("b",)
    system, request = (message_text(m) for m in redesign.messages)
    assert "Task b: " in request and "Task a: " not in request
    assert "writer" in system  # a's kept role is one the designer may reuse
    assert {n.id: n.role for n in done.tree.leaves()} == {"a": "writer", "b": "checker"}
    assert done.roles["writer"] == WRITER and done.roles["checker"].tools == ()
    assert [c.role for c in model.calls_for("executor")] == ["writer", "checker"]
    assert {n.id: n.executions for n in done.tree.leaves()} == {"a": 1, "b": 1}


async def test_the_kept_design_is_counted_once_in_usage_events_and_the_record():
    team, model = make_team(_script(), budget=Budget(model_calls=2))
    events: list[Event] = []
    stopped = await team.arun("goal", run_id="counted", on_event=events.append)
    assert stopped.status is RunStatus.BUDGET_EXCEEDED
    assert stopped.tree.root.usage.model_calls == 2  # the plan's and its (stopped) design
    first_run = len(events)
    done = await team.aresume("counted", budget=Budget(model_calls=20), on_event=events.append)
    assert done.status is RunStatus.SUCCEEDED

    designs = model.calls_for("role_designer")
    assert [c.task_ids for c in designs] == [("a", "b"), ("b",)]
    # planner, 2 designs, 2 x (executor, critic), synthesizer and its critic
    assert done.usage.model_calls == len(model.calls) == 9
    spent = done.usage.by_agent["role_designer"]
    assert spent.model_calls == 2
    assert spent.input_tokens == sum(_tokens(c) for c in designs)
    assert done.tree.root.usage.model_calls == 5  # planner, 2 designs, synthesis, its critic
    assert all(n.usage.model_calls == 2 for n in done.tree.leaves())  # executor, critic

    # one usage event per design call, on the root; a's role is written once (designed=True)
    design_usage = [
        e
        for e in events
        if isinstance(e, UsageRecorded)
        and e.task_id == "root"
        and "role_designer" in e.usage.by_agent
    ]
    assert [e.usage.model_calls for e in design_usage] == [1, 1]
    written = [
        (i < first_run, e.task_id, e.role)
        for i, e in enumerate(events)
        if isinstance(e, RoleAssigned) and e.designed
    ]
    assert written == [(True, "a", "writer"), (False, "b", "checker")]

    assert team.history is not None
    record = team.history.get("counted").record
    assert record is not None
    assert record.usage.model_calls == 9
    assert record.usage.by_agent["role_designer"].model_calls == 2
    assert sorted(r.name for r in record.roles) == ["checker", "writer"]


async def test_a_grafts_stopped_design_repair_keeps_its_valid_entry_on_resume():
    # a design job in dispatch (a re-plan's graft): planner, design (a, b), a's executor
    # and critic (replan), a's re-plan, the graft's design (x valid, y not) = 6 calls; y's
    # repair would be the 7th
    script = _script(
        **{
            "critic@a": [verdict("replan", "wrong way")],
            "planner@a": [plan(subtask("x"), subtask("y", deps=["x"]))],
            "role_designer@b": [role_spec("worker", "Do the task.", [])],
            "role_designer@x": [role_spec("drafter", "Draft it.", [])],
            "role_designer@y": [BAD, GOOD],
        }
    )
    team, model = make_team(script, budget=Budget(model_calls=6))
    result = await team.arun("goal", run_id="grafted")
    assert result.status is RunStatus.BUDGET_EXCEEDED and len(model.calls) == 6
    assert {t: result.tree.get(t).role for t in ("x", "y")} == {"x": "drafter", "y": None}
    assert "drafter" in result.roles

    done = await team.aresume("grafted", budget=Budget(model_calls=30))
    assert done.status is RunStatus.SUCCEEDED
    model.assert_complete()
    designs = [c.task_ids for c in model.calls_for("role_designer")]
    assert designs == [("a", "b"), ("x", "y"), ("y",)]  # x is not designed again
    assert {t: done.tree.get(t).role for t in ("x", "y")} == {"x": "drafter", "y": "checker"}
    # the graft's two design calls are the replaced task's, counted once each
    assert done.tree.get("a").usage.by_agent["role_designer"].model_calls == 2
    assert done.usage.model_calls == len(model.calls)
