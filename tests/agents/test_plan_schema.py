"""The plan schema rules out, for grammar-constrained models, what validation would reject."""

from __future__ import annotations

import jsonschema
import pytest

from orchestra.agents.planner import plan_schema
from orchestra.core.plan import PlanDraft, plan_errors


def _task(task_id: str, *, subtasks: list[dict] | None = None, **extra: object) -> dict:
    return {
        "id": task_id,
        "title": f"Do {task_id}",
        "description": f"Work on {task_id}.",
        "subtasks": subtasks or [],
        **extra,
    }


def _valid(schema: dict, plan: dict) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(plan)


def test_a_plan_valid_for_the_engine_is_valid_for_the_schema():
    plan = {
        "tasks": [
            _task("a", tools=["search"], role="researcher"),
            _task("b", depends_on=["a"], subtasks=[_task("b1"), _task("b2", depends_on=["b1"])]),
        ]
    }
    assert plan_errors(PlanDraft.model_validate(plan), base_depth=0, max_depth=2) == []
    schema = plan_schema(["researcher"], tool_names=["search"], levels=2, min_tasks=2)
    assert _valid(schema, plan)


def _chain(depth: int) -> dict:
    """A plan whose one task is nested ``depth`` levels deep."""
    task = _task(f"t{depth}")
    for level in range(depth - 1, 0, -1):
        task = _task(f"t{level}", subtasks=[task])
    return {"tasks": [task]}


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_subtasks_stop_at_the_depth_limit(levels):
    schema = plan_schema([], levels=levels)
    assert _valid(schema, _chain(levels))
    assert not _valid(schema, _chain(levels + 1))


@pytest.mark.parametrize(
    ("bad_task", "why"),
    [
        (_task("a", depends_on=[""]), "an empty dependency id"),
        (_task("a", title=""), "an empty title"),
        (_task("a", description=""), "an empty description"),
        (_task("a", tools=["rm"]), "a tool the team does not have"),
        (_task("a", role="boss"), "a role that does not exist"),
    ],
)
def test_the_schema_rules_out_what_validation_rejects(bad_task, why):
    schema = plan_schema(["researcher"], tool_names=["search"], levels=2)
    assert not _valid(schema, {"tasks": [bad_task]}), why


def test_without_tools_no_task_can_name_one():
    schema = plan_schema([], levels=1)
    assert _valid(schema, {"tasks": [_task("a", tools=[])]})
    assert not _valid(schema, {"tasks": [_task("a", tools=["search"])]})


def test_levels_below_one_are_a_bug():
    with pytest.raises(ValueError, match="at least one level"):
        plan_schema([], levels=0)
