import pytest
from pydantic import ValidationError

from orchestra.core.plan import PlanDraft, draft_to_nodes, plan_errors
from orchestra.core.tree import ROOT_ID, TaskTree
from orchestra.testing import plan, subtask


def draft(*tasks):
    return PlanDraft.model_validate(plan(*tasks))


def errors(*tasks, max_depth=3, base_depth=0):
    return plan_errors(draft(*tasks), base_depth=base_depth, max_depth=max_depth)


def test_valid_plan_has_no_errors():
    assert errors(subtask("a"), subtask("b", deps=["a"]), subtask("c", deps=["a", "b"])) == []


def test_empty_plan_is_rejected():
    with pytest.raises(ValidationError, match="at least 1 item"):
        draft()
    assert plan_errors(PlanDraft.model_construct(tasks=[]), base_depth=0, max_depth=3) == [
        "the plan has no tasks; give at least one"
    ]


def test_duplicate_ids_are_rejected_across_levels():
    found = errors(subtask("a", subtasks=[subtask("x")]), subtask("b", subtasks=[subtask("x")]))
    assert any("'x' is used more than once" in e for e in found)


def test_dangling_self_and_cousin_dependencies_are_rejected():
    found = errors(
        subtask("a", subtasks=[subtask("a1")]),
        subtask("b", deps=["b", "ghost", "a1"]),
    )
    assert any("'b' depends on itself" in e for e in found)
    assert any("depends on 'ghost', which is not one of its siblings" in e for e in found)
    assert any("depends on 'a1', which is not one of its siblings" in e for e in found)


def test_cycles_are_reported_as_a_path():
    found = errors(subtask("a", deps=["c"]), subtask("b", deps=["a"]), subtask("c", deps=["b"]))
    assert len([e for e in found if e.startswith("dependency cycle")]) == 1
    cycle = next(e for e in found if e.startswith("dependency cycle"))
    assert cycle.count("->") == 3


def test_depth_bound_counts_from_the_base():
    nested = subtask("a", subtasks=[subtask("b", subtasks=[subtask("c")])])
    assert errors(nested, max_depth=3) == []
    assert any("depth 3 but the limit is 2" in e for e in errors(nested, max_depth=2))
    assert any("depth 4" in e for e in errors(nested, max_depth=3, base_depth=1))


def test_blank_fields_and_bad_ids_are_rejected():
    found = errors(subtask("a", title=" ", description=" "))
    assert any("empty title" in e for e in found)
    assert any("empty description" in e for e in found)
    with pytest.raises(ValidationError, match="should match pattern"):
        draft(subtask("a b"))
    with pytest.raises(ValidationError, match="at most 100 characters"):
        draft(subtask("a", title="x" * 101))
    with pytest.raises(ValidationError, match="at most 64 items"):
        draft(*(subtask(f"t{i}") for i in range(65)))


def test_draft_to_nodes_renames_taken_ids_and_their_dependencies():
    tree = TaskTree.for_goal("g", 3)
    tree.add(draft_to_nodes(draft(subtask("a"), subtask("b")), tree, parent_id=ROOT_ID))
    nodes = draft_to_nodes(
        draft(subtask("a"), subtask("b", deps=["a"], subtasks=[subtask("c")])),
        tree,
        parent_id=ROOT_ID,
        replaces="b",
        replan_generation=1,
    )
    by_title = {n.title: n for n in nodes}
    assert [n.id for n in nodes] == ["a-2", "b-2", "c"]
    assert by_title["B"].depends_on == ["a-2"]
    assert by_title["C"].parent_id == "b-2" and by_title["C"].depth == 2
    assert all(n.replaces == "b" and n.replan_generation == 1 for n in nodes)


def test_tasks_per_level_are_limited_by_the_team_setting():
    wide = draft(*(subtask(f"t{i}") for i in range(10)))
    [problem] = plan_errors(wide, base_depth=0, max_depth=3)
    assert problem.startswith("10 tasks on one level") and "at most 8" in problem
    assert plan_errors(wide, base_depth=0, max_depth=3, max_tasks=12) == []
    nested = draft(subtask("g", subtasks=[subtask(f"s{i}") for i in range(9)]))
    assert "9 tasks on one level" in plan_errors(nested, base_depth=0, max_depth=3)[0]


async def test_a_team_with_more_tasks_per_level_runs_a_wide_plan():
    from orchestra import RunStatus
    from orchestra.testing import role_spec, verdict
    from tests.conftest import make_team

    script = {
        "planner": [plan(*(subtask(f"t{i}") for i in range(12)))],
        "role_designer": role_spec("worker", "Do the task."),
        "executor": "ok",
        "critic": verdict("pass"),
        "synthesizer": "done",
    }
    team, _ = make_team(script, max_tasks_per_level=12)
    result = await team.arun("goal")
    assert result.status is RunStatus.SUCCEEDED and len(result.tree.leaves()) == 12


def test_decompose_marks_are_checked_in_on_demand_plans_and_carried_to_the_tree():
    from orchestra.agents.planner import plan_schema

    marked = PlanDraft.model_validate(
        {
            "tasks": [
                {"id": "a", "title": "A", "description": "Do a.", "decompose": True},
                {
                    "id": "b",
                    "title": "B",
                    "description": "Do b.",
                    "decompose": True,
                    "subtasks": [{"id": "b1", "title": "B1", "description": "Do b1."}],
                },
            ]
        }
    )
    errors = plan_errors(marked, base_depth=0, max_depth=3, on_demand=True)
    assert errors == ["task 'b' has subtasks and decompose true; choose one of the two"]
    # at the deepest level nothing can be decomposed any more
    deepest = plan_errors(marked.without("b"), base_depth=2, max_depth=3, on_demand=True)
    assert deepest == [
        "task 'a' is at the deepest level (3) and cannot be decomposed; set decompose to false"
    ]
    # an upfront plan may carry the hint; nobody acts on it
    assert plan_errors(marked.without("b"), base_depth=0, max_depth=3) == []

    tree = TaskTree.for_goal("goal", max_depth=3)
    [node] = draft_to_nodes(marked.without("b"), tree, parent_id="root")
    assert node.decompose is True

    on_demand = plan_schema([], levels=2, on_demand=True)
    upfront = plan_schema([], levels=3)
    assert "decompose" in on_demand["$defs"]["DraftTaskLevel1"]["properties"]
    assert "decompose" not in upfront["$defs"]["DraftTaskLevel1"]["properties"]
