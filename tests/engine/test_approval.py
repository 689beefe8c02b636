"""Human in the loop: plan approval and tools that require approval (LangGraph interrupts)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra import InputError, RunStatus, TaskStatus, tool
from orchestra.core.approval import Approve, EditArgs, EditPlan, Reject, describe_plan_edit
from orchestra.core.plan import DraftTask, PlanDraft
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, tool_call, verdict
from orchestra.tools import IdempotencyKey
from tests.conftest import make_team

SENT: list[dict[str, Any]] = []


@tool(side_effects=True, requires_approval=True)
def send_email(to: str, body: str) -> str:
    """Send an email."""
    SENT.append({"to": to, "body": body})
    return f"sent to {to}"


@pytest.fixture(autouse=True)
def _outbox() -> None:
    SENT.clear()


def _plan_script(**extra: Any) -> dict[str, Any]:
    return {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["a", "b"]))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": lambda call: f"{call.task_id} done",
        "critic": verdict("pass"),
        "synthesizer": "final",
        **extra,
    }


async def test_approve_plan_pauses_after_planning_and_goes_on_when_approved():
    team, model = make_team(_plan_script(), approve_plan=True)
    paused = await team.arun("goal", run_id="r1")
    assert paused.status is RunStatus.AWAITING_APPROVAL
    [request] = paused.pending
    assert request.kind == "plan" and request.id == "plan"
    assert request.plan is not None
    assert [t.id for t in request.plan.tasks] == ["a", "b", "c"]
    assert not model.calls_for("executor") and not model.calls_for("role_designer")
    assert paused.to_record().pending == [request]

    done = await team.aresume("r1", decisions=Approve())
    assert done.status is RunStatus.SUCCEEDED and done.output == "final"
    assert [n.id for n in done.tree.leaves()] == ["a", "b", "c"]
    assert len(model.calls_for("planner")) == 1  # the plan was not made again


async def test_an_edited_plan_is_validated_and_replaces_the_plan():
    team, model = make_team(_plan_script(), approve_plan=True)
    paused = await team.arun("goal", run_id="r2")
    draft = paused.pending[0].plan
    assert draft is not None

    cyclic = draft.with_task(DraftTask(id="d", title="D", description="x", depends_on=["d"]))
    with pytest.raises(InputError, match="depends on itself"):
        await team.aresume("r2", decisions=EditPlan(plan=cyclic))
    with pytest.raises(InputError, match="EditArgs is for tool calls"):
        await team.aresume("r2", decisions=EditArgs(args={}))
    with pytest.raises(InputError, match="waits for approval"):
        await team.aresume("r2")
    assert (await team.aget_run("r2")).status is RunStatus.AWAITING_APPROVAL  # still paused

    edited = (
        draft.without("b")
        .reworded("a", title="Collect the figures")
        .with_task(DraftTask(id="e", title="Check", description="Check c.", depends_on=["c"]))
    )
    done = await team.aresume("r2", decisions={"plan": EditPlan(plan=edited)})
    assert done.status is RunStatus.SUCCEEDED
    assert [(n.id, n.title) for n in done.tree.leaves()] == [
        ("a", "Collect the figures"),
        ("c", "C"),
        ("e", "Check"),
    ]
    assert done.tree.get("c").depends_on == ["a"]  # the dependency on b went with b
    assert sorted(c.task_id for c in model.calls_for("executor")) == ["a", "c", "e"]
    [notice] = [n for n in done.notices if n.kind == "plan_edited"]
    assert notice.message == (
        "a person edited the plan: dropped ['b'], added ['e'], reworded ['a'], rewired ['c']"
    )


def test_the_plan_edited_notice_says_only_what_changed():
    shown = PlanDraft.model_validate(
        plan(
            subtask("a", "A"),
            subtask("b", "B", deps=["a"], subtasks=[subtask("b1", "B one")]),
            subtask("c", "C"),
        )
    )
    assert describe_plan_edit(shown, shown) == "a person sent the plan back as it was"
    retooled = shown.model_copy(
        update={
            "tasks": [shown.tasks[0].model_copy(update={"tools": ["search"]}), *shown.tasks[1:]]
        }
    )
    assert describe_plan_edit(shown, retooled) == "a person edited the plan: changed ['a']"
    moved = PlanDraft.model_validate(
        plan(
            subtask("a", "A"),
            subtask("b", "B", deps=["a"]),
            subtask("c", "C", subtasks=[subtask("b1", "B one")]),
        )
    )
    assert describe_plan_edit(shown, moved) == "a person edited the plan: moved ['b1']"


async def test_a_rejected_plan_ends_the_run_without_executing_anything():
    team, model = make_team(_plan_script(), approve_plan=True)
    await team.arun("goal", run_id="r3")
    done = await team.aresume("r3", decisions=Reject(reason="too broad"))
    assert done.status is RunStatus.REJECTED
    assert done.reason == "a person rejected the plan: too broad"
    assert all(n.status is TaskStatus.SKIPPED for n in done.tree.leaves())
    assert not model.calls_for("executor")
    with pytest.raises(InputError, match="not waiting"):
        await team.aresume("r3", decisions=Approve())


async def test_plan_approval_survives_another_process(tmp_path):
    """Paused in one Team object, approved through another one on the same database."""
    db = tmp_path / "runs.db"
    team_a, _ = make_team(_plan_script(), approve_plan=True, checkpointer=str(db))
    await team_a.arun("goal", run_id="r4")
    team_b, model_b = make_team(_plan_script(), approve_plan=True, checkpointer=str(db))
    assert (await team_b.aget_run("r4")).pending[0].kind == "plan"
    done = await team_b.aresume("r4", decisions=Approve())
    assert done.status is RunStatus.SUCCEEDED
    assert not model_b.calls_for("planner")


def _email_script(executor_b: Any = "b done") -> dict[str, Any]:
    return {
        "planner": [plan(subtask("a"), subtask("b"), subtask("c", deps=["a"]))],
        "role_designer": role_spec("mailer", "Do the task.", ["send_email"]),
        "executor@a": [
            tool_call("send_email", {"to": "ann@example.com", "body": "hi"}),
            "a done",
        ],
        "executor@b": executor_b,
        "executor@c": "c done",
        "critic": verdict("pass"),
        "synthesizer": "final",
    }


async def test_a_tool_that_requires_approval_pauses_its_task_while_the_rest_goes_on():
    team, model = make_team(_email_script(), tools=[send_email])
    events: list[Any] = []
    paused = await team.arun("goal", run_id="t1", on_event=events.append)
    assert paused.status is RunStatus.AWAITING_APPROVAL
    [request] = paused.pending
    assert request.kind == "tool_call" and request.task_id == "a"
    assert request.tool == "send_email"
    assert request.args == {"to": "ann@example.com", "body": "hi"}
    assert request.role == "mailer"
    assert [e.request for e in events if e.type == "approval_requested"] == [request]
    assert not SENT  # not called before approval
    tree = paused.tree
    assert tree.get("a").status is TaskStatus.WAITING
    assert tree.get("b").status is TaskStatus.DONE  # independent work went on
    assert tree.get("c").status is TaskStatus.PENDING  # c needs a

    done = await team.aresume("t1", decisions={request.id: Approve()})
    assert done.status is RunStatus.SUCCEEDED
    assert SENT == [{"to": "ann@example.com", "body": "hi"}]
    # the attempt went on from the pause: the model was asked once before and once after
    a_calls = model.calls_for("executor", "a")
    assert len(a_calls) == 2
    assert "sent to ann@example.com" in a_calls[1].prompt
    assert done.tree.get("a").attempts == 1 and done.tree.get("a").executions == 1
    [logged] = [c for c in done.tool_calls if c.tool == "send_email"]
    assert logged.ok and logged.key == request.id


async def test_edited_arguments_are_used_and_a_rejected_call_is_not_made():
    team, _ = make_team(_email_script(), tools=[send_email])
    paused = await team.arun("goal", run_id="t2")
    request = paused.pending[0]
    done = await team.aresume(
        "t2", decisions={request.id: EditArgs(args={"to": "bob@example.com", "body": "hi"})}
    )
    assert done.status is RunStatus.SUCCEEDED
    assert SENT == [{"to": "bob@example.com", "body": "hi"}]

    SENT.clear()
    seen: list[str] = []

    def executor_a(call: ScriptedCall) -> Any:
        if len(seen) == 0:
            seen.append("asked")
            return tool_call("send_email", {"to": "ann@example.com", "body": "hi"})
        seen.append(call.last)
        return "a done without email"

    team, _ = make_team(_email_script() | {"executor@a": executor_a}, tools=[send_email])
    paused = await team.arun("goal", run_id="t3")
    done = await team.aresume("t3", decisions=Reject(reason="not to customers"))
    assert done.status is RunStatus.SUCCEEDED
    assert not SENT
    assert "rejected: a person did not approve this call (not to customers)" in seen[1]
    [logged] = [c for c in done.tool_calls if c.tool == "send_email"]
    assert not logged.ok and "not to customers" in (logged.error or "")


async def test_edited_args_that_do_not_fit_the_tool_are_refused_and_the_run_stays_paused():
    team, model = make_team(_email_script(), tools=[send_email])
    paused = await team.arun("goal", run_id="t4")
    with pytest.raises(InputError, match="invalid arguments for send_email: body"):
        await team.aresume("t4", decisions=EditArgs(args={"to": "x"}))
    huge = EditArgs(args={"to": "bo@example.com", "body": [10**30]})  # no checkpoint stores it
    with pytest.raises(InputError, match="cannot be kept with the run: the number 1000"):
        await team.aresume("t4", decisions=huge)
    wrong = {paused.pending[0].id: {"decision": "edit_args", "args": {"to": 3, "body": "b"}}}
    with pytest.raises(InputError, match="to: Input should be a valid string"):
        await team.aresume("t4", decisions=wrong)
    still = await team.aget_run("t4")
    assert still.status is RunStatus.AWAITING_APPROVAL and len(still.pending) == 1
    assert not SENT and len(model.calls_for("executor", "a")) == 1
    done = await team.aresume("t4", decisions=EditArgs(args={"to": "bo@example.com", "body": "b"}))
    assert done.status is RunStatus.SUCCEEDED
    assert SENT == [{"to": "bo@example.com", "body": "b"}]


async def test_an_edit_need_not_give_the_idempotency_key_the_tool_takes():
    got: list[tuple[str, str]] = []

    @tool(requires_approval=True, side_effects=True)
    def pay(to: str, key: IdempotencyKey) -> str:
        """Pay someone."""
        got.append((to, key))
        return f"paid {to}"

    script = _email_script() | {
        "role_designer": role_spec("payer", "Do the task.", ["pay"]),
        "executor@a": [tool_call("pay", {"to": "ann"}), "a done"],
    }
    team, _ = make_team(script, tools=[pay])
    paused = await team.arun("goal", run_id="t4k")
    done = await team.aresume("t4k", decisions=EditArgs(args={"to": "bob"}))
    assert done.status is RunStatus.SUCCEEDED
    assert got == [("bob", paused.pending[0].id)]


async def test_two_calls_in_one_reply_pause_one_after_the_other():
    both = tool_call("send_email", {"to": "ann@example.com", "body": "1"})
    second = tool_call("send_email", {"to": "bob@example.com", "body": "2"})
    both.tool_calls.extend(second.tool_calls)
    for n, tc in enumerate(both.tool_calls):
        tc["id"] = f"call-{n}"
    script = _email_script() | {"executor@a": [both, "a done"]}
    team, model = make_team(script, tools=[send_email])
    first = await team.arun("goal", run_id="t5")
    assert first.pending[0].args["to"] == "ann@example.com"
    second_pause = await team.aresume("t5", decisions=Approve())
    assert second_pause.status is RunStatus.AWAITING_APPROVAL
    assert second_pause.pending[0].args["to"] == "bob@example.com"
    assert [m["to"] for m in SENT] == ["ann@example.com"]
    done = await team.aresume("t5", decisions=Approve())
    assert done.status is RunStatus.SUCCEEDED
    assert [m["to"] for m in SENT] == ["ann@example.com", "bob@example.com"]
    assert len(model.calls_for("executor", "a")) == 2


async def test_json_action_models_pause_and_go_on_too():
    script = _email_script() | {
        "executor@a": [
            '{"tool": "send_email", "args": {"to": "ann@example.com", "body": "hi"}}',
            '{"final": "a done"}',
        ]
    }
    team, model = make_team(script, tools=[send_email], native_tools=False)
    paused = await team.arun("goal", run_id="t6")
    assert paused.pending[0].tool == "send_email"
    done = await team.aresume("t6", decisions=Approve())
    assert done.status is RunStatus.SUCCEEDED and len(SENT) == 1
    assert "sent to ann@example.com" in model.calls_for("executor", "a")[1].prompt


async def test_plan_approval_and_tool_approval_in_one_run():
    team, _ = make_team(_email_script(), tools=[send_email], approve_plan=True)
    first = await team.arun("goal", run_id="t7")
    assert first.pending[0].kind == "plan"
    second = await team.aresume("t7", decisions=Approve())
    assert second.pending[0].kind == "tool_call"
    done = await team.aresume("t7", decisions=Approve())
    assert done.status is RunStatus.SUCCEEDED and len(SENT) == 1
