"""Tree surgery without an event loop: re-plans and completions as plain tree edits."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestra.core.plan import PlanDraft, draft_to_nodes
from orchestra.core.surgery import (
    complete,
    joined_result,
    repeats_dropped,
    replace_task,
    replan_subtree,
    tried_before,
)
from orchestra.core.tree import ROOT_ID, TaskStatus, TaskTree
from orchestra.testing import plan, subtask

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _tree(*tasks: dict[str, object]) -> TaskTree:
    tree = TaskTree.for_goal("goal", max_depth=3)
    tree.add(draft_to_nodes(PlanDraft.model_validate(plan(*tasks)), tree, parent_id=ROOT_ID))
    return tree


def _draft(*tasks: dict[str, object], keep: list[str] | None = None) -> PlanDraft:
    return PlanDraft.model_validate({**plan(*tasks), "keep": keep})


def test_a_replaced_leaf_hands_its_inputs_and_dependents_to_its_replacements():
    tree = _tree(subtask("a"), subtask("b", deps=["a"]), subtask("c", deps=["b"]))
    failed = tree.get("b")
    nodes = replace_task(
        tree, failed, _draft(subtask("b1"), subtask("b2", deps=["b1"])), "too thin", NOW
    )
    assert [n.id for n in nodes] == ["b1", "b2"]
    assert tree.get("b1").depends_on == ["a"] and tree.get("b2").depends_on == ["a", "b1"]
    assert tree.get("c").depends_on == ["b2"]  # the draft's sink
    assert failed.status is TaskStatus.FAILED and failed.replaced_by == ["b1", "b2"]
    assert failed.reason == "replaced after critique: too thin"
    assert tree.get("b1").replaces == "b" and tree.get("b1").replan_generation == 1


def test_the_same_plan_again_is_recognised_along_the_line_of_replacements():
    tree = _tree(subtask("a", "Find facts", "Search."))
    look = _draft(subtask("x", "Look it up", "Read."))
    first = replace_task(tree, tree.get("a"), look, "r", NOW)
    again = _draft(subtask("y", "look  it UP", "read."))  # other id, same words
    assert tried_before(tree, first[0], again)
    assert tried_before(tree, first[0], _draft(subtask("z", "Find facts", "Search.")))
    assert not tried_before(tree, first[0], _draft(subtask("w", "Ask an expert", "Call.")))


def test_a_subtree_replan_keeps_what_the_planner_keeps_and_drops_the_rest():
    tree = _tree(subtask("r", subtasks=[subtask("f"), subtask("g"), subtask("h", deps=["f"])]))
    for done in ("f", "g"):
        tree.get(done).status, tree.get(done).result = TaskStatus.DONE, f"{done} done"
    done = replan_subtree(tree, tree.get("r"), _draft(subtask("g2"), keep=["f"]), NOW)
    assert [k.id for k in done.kept] == ["f"]
    assert [d.id for d in done.dropped] == ["g", "h"]
    assert [s.id for s in done.stopped] == ["h"]  # g had finished: it keeps its result
    assert tree.get("g").status is TaskStatus.DONE and tree.get("g").replaced_by == ["g2"]
    assert tree.get("h").status is TaskStatus.SKIPPED  # it never started
    assert tree.get("g2").depends_on == ["f"]
    assert [c.id for c in tree.children("r", live_only=True)] == ["f", "g2"]


def test_a_dropped_subtask_that_had_started_fails_one_that_had_not_is_skipped():
    tree = _tree(subtask("r", subtasks=[subtask("f"), subtask("g")]))
    tree.get("f").status = TaskStatus.RUNNING
    done = replan_subtree(tree, tree.get("r"), _draft(subtask("n")), NOW)
    assert [(s.id, s.status) for s in done.stopped] == [
        ("f", TaskStatus.FAILED),
        ("g", TaskStatus.SKIPPED),
    ]
    assert all(s.reason == "dropped by the re-plan of 'r'" for s in done.stopped)


def test_without_a_keep_list_every_finished_subtask_is_kept():
    tree = _tree(subtask("r", subtasks=[subtask("f"), subtask("g")]))
    tree.get("f").status = TaskStatus.DONE
    done = replan_subtree(tree, tree.get("r"), _draft(subtask("n")), NOW)
    assert [k.id for k in done.kept] == ["f"] and [d.id for d in done.dropped] == ["g"]


def test_a_replan_that_writes_the_dropped_tasks_again_is_a_loop():
    tree = _tree(subtask("r", subtasks=[subtask("f", "Find", "F."), subtask("g", "Guess", "G.")]))
    dropped = [tree.get("f"), tree.get("g")]
    same = _draft(subtask("x", "find", "f."), subtask("y", "guess", "g."))
    assert repeats_dropped(tree, same, dropped)
    assert not repeats_dropped(tree, _draft(subtask("x", "Measure", "M.")), dropped)


def test_results_joined_without_a_lead_are_titled_and_in_order():
    tree = _tree(subtask("a", "Alpha"), subtask("b", "Beta"))
    tree.get("a").result, tree.get("b").result = "one", "two"
    assert joined_result(tree.children(ROOT_ID)) == "Alpha: one\n\nBeta: two"


def test_finishing_the_last_subtask_hands_the_parent_to_its_lead_or_joins_upward():
    def tree_() -> TaskTree:
        return _tree(subtask("p", subtasks=[subtask("a"), subtask("b")]), subtask("q"))

    led = tree_()
    led.get("a").result = led.get("b").result = "r"
    first = complete(led, led.get("a"), NOW, leads=True)
    assert first.joined == [] and first.to_integrate is None  # b is not done yet
    second = complete(led, led.get("b"), NOW, leads=True)
    assert second.to_integrate is led.get("p") and led.get("p").status is TaskStatus.PENDING

    flat = tree_()
    for task_id in ("a", "b", "q"):
        flat.get(task_id).result = task_id
        done = complete(flat, flat.get(task_id), NOW, leads=False)
    assert [n.id for n in done.joined] == [ROOT_ID]  # q finished the goal
    assert flat.get("p").result == "A: a\n\nB: b" and flat.get("p").status is TaskStatus.DONE
