"""A plan with alternatives to its tasks in one planner call (``plan_sampling="alternatives"``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import pytest
from rich.console import Console

from orchestra import ConfigError, InputError, PlanningError, RunStatus
from orchestra.agents.planner import plan_goal_with_alternatives
from orchestra.cli.approval_cmd import edit_from_json, plan_decision, plan_text, print_pending
from orchestra.cli.render import print_record, selection_line
from orchestra.core.action_tree import ProposedAlternative, with_alternative, written_action_tree
from orchestra.core.approval import (
    MAX_ALTERNATIVES_PER_TASK,
    ApprovalRequest,
    Approve,
    EditPlan,
    edit_errors,
)
from orchestra.core.events import Replanned
from orchestra.core.plan import PlanDraft
from orchestra.core.tree import TaskTree
from orchestra.observability.history import RunHistory
from orchestra.observability.report import render_report
from orchestra.testing import ScriptedCall, plan, role_spec, subtask, verdict
from tests.conftest import make_team
from tests.engine.test_plan_sampling import CYCLE, _script

FIND = subtask("find", "Find prices", "Look up the prices.")
SPECS = subtask("specs", "Compare specs", "Compare the specs.")
PICK = subtask("pick", "Pick one", "Choose the best laptop.", deps=["find", "specs"])
SEARCH = subtask("search", "Search shops", "Search shops for the prices.")
ASK = subtask("ask", "Ask a dealer", "Ask a dealer for the prices.")


def _reply(*alternatives: dict[str, Any]) -> dict[str, Any]:
    return {**plan(FIND, SPECS, PICK), "alternatives": list(alternatives)}


def _instead(task_id: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    return {"instead_of": task_id, "tasks": list(tasks)}


def _team(planner: Any, critic: Any = None, **options: Any) -> tuple[Any, Any]:
    script = _script(planner, None)
    del script["plan_critic"]  # nothing to choose: a plan critic call would find no reply
    if critic is not None:
        script["critic"] = critic
    options = {"plan_samples": 3, "plan_sampling": "alternatives", **options}
    return make_team(script, **options)


async def test_one_call_writes_the_plan_and_alternatives_that_become_the_action_tree():
    team, model = _team(_reply(_instead("find", SEARCH), _instead("find", ASK)))
    result = await team.arun("which laptop should I buy?")

    assert result.status is RunStatus.SUCCEEDED
    [call] = model.calls_for("planner")
    assert call.alternatives == 3 and "up to 2 other ways to do it" in call.prompt
    assert model.calls_for("plan_critic") == []
    assert [n.id for n in result.tree.leaves()] == ["find", "specs", "pick"]
    selection = result.plan_selection
    assert selection is not None
    assert (selection.sampling, selection.chosen_by, selection.chosen) == (
        "alternatives",
        "planner",
        "A",
    )
    assert selection.reason == "the planner's plan, with 2 alternatives for 1 of its 3 tasks"
    assert selection.sample_calls == [1] and selection.rejected == []
    tree = selection.action_tree
    assert tree is not None and (tree.samples, tree.shared, tree.alternatives) == (3, 2, 2)
    find = tree.branch("find")
    assert find is not None and find.samples == [0]
    assert [(a.id, a.tasks[0].id, a.samples) for a in find.alternatives] == [
        ("find~1", "search", [1]),
        ("find~2", "ask", [2]),
    ]
    # one plan's estimate: the prompt and the plan's share of the reply
    planner_usage = result.usage.by_agent["planner"]
    one = selection.single_shot_usage
    assert one.input_tokens == planner_usage.input_tokens
    assert 0.5 * planner_usage.output_tokens < one.output_tokens < planner_usage.output_tokens


async def test_a_rejected_task_takes_the_planners_alternative_without_another_planner_call():
    def critic(call: ScriptedCall) -> dict[str, Any]:
        if call.task_id == "find":
            return verdict("replan", "the prices are made up")
        return verdict("pass")

    team, model = _team(_reply(_instead("find", SEARCH)), critic)
    events: list[Any] = []
    result = await team.arun("which laptop should I buy?", on_event=events.append)

    assert result.status is RunStatus.SUCCEEDED
    assert len(model.calls_for("planner")) == 1
    [replanned] = [e for e in events if isinstance(e, Replanned)]
    assert (replanned.task_id, replanned.alternative) == ("find", "find~1")
    assert replanned.new_task_ids == ["search"]
    assert result.tree.get("pick").depends_on == ["specs", "search"]
    assert result.tree.get("search").status.value == "done"


@pytest.mark.parametrize("alternatives", [None, {"instead_of": "find"}, "search instead"])
async def test_alternatives_that_are_not_a_list_never_send_the_plan_back(alternatives: Any):
    team, model = _team({**plan(FIND, SPECS, PICK), "alternatives": alternatives})
    result = await team.arun("which laptop should I buy?")
    assert result.status is RunStatus.SUCCEEDED and len(model.calls_for("planner")) == 1
    selection = result.plan_selection
    assert selection is not None and selection.action_tree is not None
    assert selection.action_tree.alternatives == 0
    if alternatives is not None:
        [(n, why)] = [(r.sample, r.error) for r in selection.rejected]
        assert n == 0 and "alternatives is not a list" in why


async def test_alternatives_no_graft_could_use_are_left_out_with_why():
    inner = subtask(
        "research",
        "Research",
        "Find things out.",
        subtasks=[subtask("web", "Search the web", "Search."), subtask("call", "Call", "Call.")],
    )
    reply = {
        **plan(FIND, inner, subtask("pick", "Pick one", "Choose.", deps=["find", "research"])),
        "alternatives": [
            _instead("research", SEARCH),  # broken into subtasks: never grafted
            _instead("find", {**FIND, "id": "find2"}),  # the same task again
            _instead("find", {**SEARCH, "depends_on": ["research"]}),  # waits for a sibling
            _instead("find", ASK),  # usable, and the repeat took no slot
            _instead("web", subtask("crawl", "Crawl shops", "Crawl.")),  # a nested leaf
        ],
    }
    team, model = _team(reply, plan_samples=2, leads=False)
    result = await team.arun("which laptop should I buy?")

    assert result.status is RunStatus.SUCCEEDED and len(model.calls_for("planner")) == 1
    selection = result.plan_selection
    assert selection is not None and selection.action_tree is not None
    why = {r.sample: r.error for r in selection.rejected}
    assert sorted(why) == [1, 2, 3]
    assert "'research' is broken into subtasks" in why[1]
    assert "repeats 'find'" in why[2]
    assert "depends on ['research'], outside its own tasks" in why[3]
    kept = {
        b.task_id: [a.tasks[0].id for a in b.alternatives] for b in selection.action_tree.branches
    }
    assert kept["find"] == ["ask"] and kept["web"] == ["crawl"] and kept["research"] == []


async def test_a_flood_of_bad_alternatives_is_noted_in_bounded_space():
    flood = [_instead(f"nowhere{n}", SEARCH) for n in range(100)]
    team, _ = _team(_reply(*flood))
    result = await team.arun("which laptop should I buy?")
    rejected = result.plan_selection.rejected
    assert len(rejected) == 20 and rejected[-1].error == "81 more left out"


async def test_unusable_alternatives_are_left_out_with_why_and_cost_no_repair():
    cyclic = [
        subtask("s1", "Search shops", "Search.", deps=["s2"]),
        subtask("s2", "Read offers", "Read.", deps=["s1"]),
    ]
    team, model = _team(
        _reply(
            _instead("nowhere", SEARCH),  # names no task of the plan
            {"instead_of": "find"},  # no tasks
            _instead("specs", *cyclic),  # no valid plan in its place
            _instead("find", {**SEARCH, "id": "pick"}),  # an id the plan uses
            _instead("find", SEARCH),
            _instead("find", ASK),  # one more than plan_samples - 1 = 1
        ),
        plan_samples=2,
    )
    result = await team.arun("which laptop should I buy?")

    assert result.status is RunStatus.SUCCEEDED
    assert len(model.calls_for("planner")) == 1
    selection = result.plan_selection
    assert selection is not None
    why = {r.sample: r.error for r in selection.rejected}
    assert sorted(why) == [1, 2, 3, 4, 6]
    assert "'nowhere', no task of the plan" in why[1]
    assert "tasks" in why[2]
    assert "cycle" in why[3]
    assert "duplicate" in why[4] or "pick" in why[4]
    assert "more than 1 alternatives for 'find'" in why[6]
    assert selection.action_tree is not None
    assert [a.tasks[0].id for a in selection.action_tree.branch("find").alternatives] == ["search"]


async def test_an_invalid_plan_is_repaired_and_its_alternatives_never_decide_that():
    team, model = _team([{**CYCLE, "alternatives": [_instead("a", SEARCH)]}, _reply()])
    result = await team.arun("which laptop should I buy?")
    assert result.status is RunStatus.SUCCEEDED
    first, repair = model.calls_for("planner")
    assert "cycle" in repair.last
    assert result.plan_selection is not None and result.plan_selection.sample_calls == [2]


async def test_a_plan_that_stays_invalid_raises_with_every_reply():
    team, model = _team({**CYCLE, "alternatives": []}, max_repairs=1, fallbacks=False)
    with pytest.raises(PlanningError, match="cycle") as caught:
        await team.arun("which laptop should I buy?")
    assert len(caught.value.raw_outputs) == 2


async def test_a_plain_plan_is_a_plan_without_alternatives():
    team, _ = _team(plan(FIND, SPECS, PICK))
    result = await team.arun("which laptop should I buy?")
    assert result.status is RunStatus.SUCCEEDED
    assert result.plan_selection is not None and result.plan_selection.action_tree is not None
    assert result.plan_selection.action_tree.alternatives == 0


def test_the_schema_asks_for_the_plan_and_a_bounded_list_of_alternatives():
    captured: list[dict[str, Any]] = []

    async def fake_ask(model: Any, messages: Any, schema: Any, call: Any, **kw: Any) -> Any:
        captured.append(kw["json_schema"])
        return schema.model_validate(plan(FIND, SPECS, PICK))

    with mock.patch("orchestra.agents.planner.ask_structured", fake_ask):
        tree = TaskTree.for_goal("which laptop?", 2, 6)
        asyncio.run(plan_goal_with_alternatives(mock.Mock(), tree, ways=3, roles=[], tools={}))
    schema = captured[0]
    assert "alternatives" in schema["required"] and "tasks" in schema["required"]
    alternatives = schema["properties"]["alternatives"]
    assert alternatives["maxItems"] == 2 * 6
    assert alternatives["items"]["required"] == ["instead_of", "tasks"]
    assert alternatives["items"]["properties"]["tasks"]["minItems"] == 1


def test_the_action_tree_counts_each_alternative_as_a_sample_that_keeps_the_rest():
    draft = PlanDraft.model_validate(plan(FIND, SPECS, PICK))
    proposals = [
        ProposedAlternative.model_validate(_instead("find", SEARCH)),
        ProposedAlternative.model_validate(_instead("specs", ASK)),
        ProposedAlternative.model_validate(_instead("find", {**FIND, "id": "find2"})),  # same
    ]
    tree = written_action_tree(draft, proposals)
    assert tree.samples == 4
    assert {b.task_id: b.samples for b in tree.branches} == {
        "find": [0, 2, 3],
        "specs": [0, 1, 3],
        "pick": [0, 1, 2, 3],
    }
    assert tree.branch("find").alternatives[0].id == "find~1"
    swapped = with_alternative(draft, proposals[0])
    assert [t.id for t in swapped.tasks] == ["search", "specs", "pick"]
    assert swapped.tasks[2].depends_on == ["search", "specs"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"plan_sampling": "alternatives"}, "set plan_samples"),
        (
            {"plan_samples": 3, "plan_sampling": "alternatives", "plan_choice": "votes"},
            "nothing to choose",
        ),
    ],
)
def test_alternatives_options_that_make_no_sense_are_refused(options: dict[str, Any], match: str):
    with pytest.raises(ConfigError, match=match):
        make_team({}, **options)


async def test_the_record_and_report_say_the_plan_came_with_alternatives(tmp_path):
    team, _ = _team(
        _reply(_instead("find", SEARCH), {"instead_of": "x"}),
        history=RunHistory(tmp_path / "h.db"),
    )
    result = await team.arun("which laptop should I buy?")
    console = Console(width=200, record=True, color_system=None)
    print_record(console, result.to_record())
    line = next(x for x in console.export_text().splitlines() if "plan written with" in x)
    assert "1 alternatives to its tasks in one call (up to 3 ways a task; 1 left out)" in line
    assert "one plan ~" in line
    assert team.history is not None
    html = render_report(team.history.get(result.run_id))
    assert "wrote the plan and alternatives to its tasks" in html
    assert "data-action-tree" in html and "find~1" in html and "Search shops" in html
    candidates = html[html.index("<th>candidate</th>") :].split("</table>")[0]
    assert ">agreement<" not in candidates and 'colspan="3"' in candidates
    action_table = html[html.index("data-action-tree") :].split("</table>")[0]
    assert ">the planner<" in action_table and ">votes<" not in action_table  # no votes here
    assert "alternative 2" in html  # the one left out, by its place in the reply


# -- plan approval: a person sees the alternatives, and decides which stay -------------


def _reject(task_id: str) -> Any:
    def critic(call: ScriptedCall) -> dict[str, Any]:
        if call.task_id == task_id:
            return verdict("replan", "the prices are made up")
        return verdict("pass")

    return critic


def _grafted(events: list[Any]) -> list[tuple[str, str | None, list[str]]]:
    return [(e.task_id, e.alternative, e.new_task_ids) for e in events if isinstance(e, Replanned)]


async def test_plan_approval_shows_the_alternatives_and_approving_keeps_them():
    team, model = _team(_reply(_instead("find", SEARCH)), _reject("find"), approve_plan=True)
    paused = await team.arun("which laptop should I buy?", run_id="alt-approve")
    [request] = paused.pending
    assert request.alternatives == [ProposedAlternative.model_validate(_instead("find", SEARCH))]

    events: list[Any] = []
    done = await team.aresume("alt-approve", decisions=Approve(), on_event=events.append)
    assert done.status is RunStatus.SUCCEEDED
    assert _grafted(events) == [("find", "find~1", ["search"])]
    assert len(model.calls_for("planner")) == 1


async def test_editing_a_task_drops_its_alternatives_and_keeps_the_others():
    other_specs = subtask("bench", "Run benchmarks", "Benchmark the laptops.")
    reply = _reply(_instead("find", SEARCH), _instead("specs", other_specs))
    team, _ = _team(reply, approve_plan=True)
    paused = await team.arun("which laptop should I buy?", run_id="alt-edit")
    [request] = paused.pending
    assert request.plan is not None and request.alternatives is not None
    assert [a.instead_of for a in request.alternatives] == ["find", "specs"]

    edited = request.plan.reworded("find", title="Find prices in two shops")
    done = await team.aresume("alt-edit", decisions=EditPlan(plan=edited))
    assert done.status is RunStatus.SUCCEEDED
    tree = done.plan_selection.action_tree if done.plan_selection else None
    assert tree is not None
    assert tree.proposed() == [ProposedAlternative.model_validate(_instead("specs", other_specs))]
    [notice] = [n for n in done.notices if n.kind == "plan_edited"]
    assert "alternatives: 1 kept of 2" in notice.message


async def test_alternatives_a_person_gives_replace_the_planners_and_are_checked():
    team, model = _team(_reply(_instead("find", SEARCH)), _reject("find"), approve_plan=True)
    paused = await team.arun("which laptop should I buy?", run_id="alt-given")
    plan_as_shown = paused.pending[0].plan
    assert plan_as_shown is not None

    def edit(*alternatives: dict[str, Any]) -> EditPlan:
        given = [ProposedAlternative.model_validate(a) for a in alternatives]
        return EditPlan(plan=plan_as_shown, alternatives=given)

    with pytest.raises(InputError, match="alternative 1: instead_of names 'nope'"):
        await team.aresume("alt-given", decisions=edit(_instead("nope", ASK)))
    in_a_loop = (  # usable on its own terms, but not a valid plan in find's place
        _instead("find", {**SEARCH, "depends_on": ["ask"]}, {**ASK, "depends_on": ["search"]})
    )
    with pytest.raises(InputError, match="alternative 2: .*cycle"):
        await team.aresume("alt-given", decisions=edit(_instead("find", ASK), in_a_loop))
    assert (await team.aget_run("alt-given")).status is RunStatus.AWAITING_APPROVAL

    events: list[Any] = []
    done = await team.aresume(
        "alt-given", decisions=edit(_instead("find", ASK)), on_event=events.append
    )
    assert done.status is RunStatus.SUCCEEDED
    # the person's (numbered after the planner's find~1, which it replaced)
    assert _grafted(events) == [("find", "find~2", ["ask"])]
    assert len(model.calls_for("planner")) == 1
    tree = done.plan_selection.action_tree if done.plan_selection else None
    assert tree is not None and tree.edit is not None
    assert (tree.edit.offered, tree.edit.kept, tree.edit.given) == (1, 0, 1)
    [alternative] = tree.branch("find").alternatives  # type: ignore[union-attr]
    assert alternative.from_person and alternative.samples == []
    # the record says who wrote what: the planner 1, the person replaced it
    assert team.history is not None
    stored = team.history.get("alt-given")
    assert stored.record is not None and stored.record.plan_selection is not None
    line = selection_line(stored.record.plan_selection)
    assert "plan written with 1 alternatives" in line
    assert "a person edited the alternatives: 0 kept of 1, 1 given" in line
    html = render_report(stored)
    assert "data-alternatives-edit" in html and ">a person<" in html


async def test_a_team_that_does_not_sample_plans_takes_no_alternatives():
    team, _ = make_team(
        {
            "planner": [plan(FIND, SPECS, PICK)],
            "role_designer": role_spec("worker", "Do it."),
            "executor": lambda call: f"{call.task_id} done",
            "critic": verdict("pass"),
            "synthesizer": "done",
        },
        approve_plan=True,
    )
    paused = await team.arun("which laptop should I buy?", run_id="alt-none")
    [request] = paused.pending
    assert request.plan is not None and request.alternatives is None
    given = [ProposedAlternative.model_validate(_instead("find", ASK))]
    with pytest.raises(InputError, match="keeps no alternatives"):
        await team.aresume("alt-none", decisions=EditPlan(plan=request.plan, alternatives=given))
    done = await team.aresume("alt-none", decisions=EditPlan(plan=request.plan))
    assert done.status is RunStatus.SUCCEEDED


def _plan_request(*alternatives: dict[str, Any]) -> ApprovalRequest:
    """The plan request of FIND, SPECS, PICK with these alternatives."""
    return ApprovalRequest(
        id="plan",
        kind="plan",
        task_id="root",
        summary="a plan of 3 task(s) for the goal",
        plan=PlanDraft.model_validate(plan(FIND, SPECS, PICK)),
        alternatives=[ProposedAlternative.model_validate(a) for a in alternatives],
    )


def test_the_plan_and_its_alternatives_round_trip_through_the_editors_json():
    request = _plan_request(_instead("find", SEARCH))
    text = plan_text(request)
    edit = edit_from_json(text)
    assert (edit.plan, edit.alternatives) == (request.plan, request.alternatives)
    # left out: the alternatives of the tasks left as they were; [] drops them all
    data = json.loads(text)
    assert edit_from_json(json.dumps({"tasks": data["tasks"]})).alternatives is None
    assert edit_from_json(json.dumps({**data, "alternatives": []})).alternatives == []
    with pytest.raises(InputError, match="JSON object"):
        edit_from_json("[1]")

    console = Console(record=True, width=100)
    print_pending(console, [request])
    shown = console.export_text()
    assert "alternatives" in shown and "1. instead of find" in shown and "Search shops" in shown


def test_given_alternatives_are_bounded_each_once_and_with_known_keys_only():
    shown = PlanDraft.model_validate(plan(FIND, SPECS, PICK))

    def errors(*alternatives: dict[str, Any]) -> list[str]:
        edit = EditPlan(plan=shown, alternatives=list(alternatives))  # type: ignore[arg-type]
        return edit_errors(edit, max_depth=3, max_tasks=8)

    assert errors(_instead("find", ASK), _instead("find", {**ASK, "id": "ask2"})) == [
        "alternative 2: it repeats alternative 1"  # the same task under another id
    ]
    many = [
        _instead("find", subtask(f"way{n}", f"Way {n}", f"Find the prices way {n}."))
        for n in range(MAX_ALTERNATIVES_PER_TASK + 3)
    ]
    assert errors(*many) == [
        f"alternative {MAX_ALTERNATIVES_PER_TASK + 1}: more than"
        f" {MAX_ALTERNATIVES_PER_TASK} alternatives for 'find'"
    ]
    # however many are wrong, the message stays short
    wrong = errors(*[_instead(f"nope{n}", ASK) for n in range(1000)])
    assert len(wrong) == 21 and wrong[-1] == "and 980 more"
    # a repeat does not hide that a task has too many
    with_repeat = [*many[:MAX_ALTERNATIVES_PER_TASK], many[0], *many[MAX_ALTERNATIVES_PER_TASK:]]
    assert errors(*with_repeat) == [
        f"alternative {MAX_ALTERNATIVES_PER_TASK + 1}: it repeats alternative 1",
        f"alternative {MAX_ALTERNATIVES_PER_TASK + 2}: more than"
        f" {MAX_ALTERNATIVES_PER_TASK} alternatives for 'find'",
    ]
    # a person's data is read strictly: a typo is refused, never read as "the defaults"
    data = {"plan": plan(FIND, SPECS, PICK)}
    with pytest.raises(ValueError, match=r"alternative 1 has unknown key\(s\) \['votes'\]"):
        EditPlan.model_validate({**data, "alternatives": [{**_instead("find", ASK), "votes": 2}]})
    with pytest.raises(ValueError, match=r"the edit has unknown key\(s\) \['alternative'\]"):
        EditPlan.model_validate({**data, "alternative": []})
    typo = {**plan({**FIND, "dependson": ["specs"]}, SPECS, PICK)}
    with pytest.raises(ValueError, match=r"plan's task 1 \('find'\) has unknown key"):
        EditPlan.model_validate({"plan": typo})
    nested = _instead("find", {**ASK, "subtasks": [{**SEARCH, "tool": "x"}]})
    with pytest.raises(ValueError, match=r"alternative 1's task 1 \('ask'\): task 1"):
        EditPlan.model_validate({**data, "alternatives": [nested]})
    with pytest.raises(ValueError, match="Extra inputs"):
        Approve.model_validate({"decision": "approve", "plan": data["plan"]})
    with pytest.raises(ValueError, match="unknown key"):
        edit_from_json(json.dumps({**plan(FIND, SPECS, PICK), "alternatives": [{"instead": 1}]}))
    with pytest.raises(InputError, match=r"unknown key\(s\) \['Alternatives'\]"):
        edit_from_json(json.dumps({**plan(FIND, SPECS, PICK), "Alternatives": []}))


def test_dropping_a_task_on_the_command_line_drops_its_alternatives_too(tmp_path):
    request = _plan_request(_instead("find", SEARCH), _instead("specs", ASK))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan_text(request))
    assert request.plan is not None
    decision = plan_decision(request.plan, plan_file=plan_file, drop=["find"])
    assert isinstance(decision, EditPlan)
    assert [t.id for t in decision.plan.tasks] == ["specs", "pick"]
    assert decision.alternatives == request.alternatives[1:]  # type: ignore[index]
    assert edit_errors(decision, max_depth=3, max_tasks=8) == []

    # in $EDITOR: a task removed from the plan takes its alternatives along; a typo stays
    data = json.loads(plan_text(request))
    data["tasks"] = [t for t in data["tasks"] if t["id"] != "specs"]
    data["tasks"][-1]["depends_on"] = ["find"]
    data["alternatives"].append(_instead("fnd", ASK))
    edit = edit_from_json(json.dumps(data), shown=request.plan)
    assert [a.instead_of for a in edit.alternatives or []] == ["find", "fnd"]
    assert edit_errors(edit, max_depth=3, max_tasks=8) == [
        "alternative 2: instead_of names 'fnd', no task of the plan"
    ]

    console = Console(record=True, width=80)  # a plain terminal: nothing is cut
    print_pending(console, [request])
    shown = console.export_text()
    assert "alternatives, in the order they would be tried" in shown
    assert "what a task the critic sends back becomes before a new plan" in shown
