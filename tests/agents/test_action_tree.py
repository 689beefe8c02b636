"""The action tree: K sampled plans merged, and which alternative backtracking takes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestra.core.action_tree import (
    MAX_DROPPED_SAID,
    ActionTree,
    AlternativesEdit,
    ProposedAlternative,
    build_action_tree,
    edited_action_tree,
    majority_plan,
    next_alternative,
)
from orchestra.core.plan import PlanDraft, draft_to_nodes
from orchestra.core.plan_selection import PlanSelection
from orchestra.core.surgery import replace_task
from orchestra.core.tree import ROOT_ID, TaskStatus, TaskTree
from orchestra.core.usage import Usage
from orchestra.testing import plan, subtask


def _task(id: str, title: str, tools: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    task = subtask(id, title, f"{title} for the report.", **kw)
    task["tools"] = tools or []
    return task


def _draft(*tasks: dict[str, Any]) -> PlanDraft:
    return PlanDraft.model_validate(plan(*tasks))


CHOSEN = _draft(
    _task("prices", "Find the prices", ["search"]),
    _task("specs", "Compare the specs"),
    _task("pick", "Pick a laptop", deps=["prices", "specs"]),
)
SAME = _draft(  # CHOSEN with other ids: votes for every task
    _task("p", "find the  prices", ["search"]),
    _task("s", "Compare the specs"),
    _task("k", "Pick a laptop", deps=["p", "s"]),
)
RECALL = _draft(  # another way to get the prices
    _task("prices", "Recall the prices"),
    _task("specs", "Compare the specs"),
    _task("pick", "Pick a laptop", deps=["prices", "specs"]),
)
RECALL_AGAIN = _draft(  # the same alternative, renamed: one alternative, two votes
    _task("r", "Recall  the prices"),
    _task("s", "Compare the specs"),
    _task("k", "Pick a laptop", deps=["r", "s"]),
)
SPLIT = _draft(  # the prices in two steps (a different decomposition), and no specs
    _task("shops", "List the shops selling the laptops", ["search"]),
    _task("quotes", "Read the prices from each shop", ["fetch"], deps=["shops"]),
    _task("pick", "Pick a laptop", deps=["quotes"]),
)


def test_samples_merge_into_shared_tasks_with_votes_and_alternatives_with_theirs():
    valid = [(0, CHOSEN), (1, SAME), (2, RECALL), (3, RECALL_AGAIN), (4, SPLIT)]
    tree = build_action_tree(valid, [0, 1])

    assert tree.samples == 5
    assert [b.task_id for b in tree.branches] == ["prices", "specs", "pick"]  # each once
    prices, specs, pick = tree.branches
    assert (
        prices.samples == [0, 1]
        and specs.samples == [0, 1, 2, 3]
        and pick.samples == [0, 1, 2, 3, 4]
    )
    assert tree.shared == 1 and tree.alternatives == 2 and specs.alternatives == []
    recall, split = prices.alternatives  # most votes first
    assert (recall.id, recall.samples, recall.votes) == ("prices~1", [2, 3], 2)
    assert [t.title for t in recall.tasks] == ["Recall the prices"]
    assert (split.id, split.samples) == ("prices~2", [4])
    # both steps stand for the prices; the dependency between them is kept, none outside
    assert [(t.id, t.depends_on) for t in split.tasks] == [("shops", []), ("quotes", ["shops"])]
    assert split.tools == ["search", "fetch"]


def test_nested_tasks_get_alternatives_under_their_shared_parent():
    chosen = _draft(
        _task("research", "Research", subtasks=[_task("web", "Search the web", ["search"])]),
        _task("write", "Write it up", deps=["research"]),
    )
    other = _draft(
        _task("r", "Research", subtasks=[_task("ask", "Search the library catalogue")]),
        _task("w", "Write it up", deps=["r"]),
    )
    tree = build_action_tree([(0, chosen), (1, other)], [0])

    research, web, write = tree.branches
    assert (research.samples, write.samples, web.parent_id) == ([0, 1], [0, 1], "research")
    assert [a.tasks[0].title for a in web.alternatives] == ["Search the library catalogue"]


def test_a_task_that_shares_no_word_with_the_plan_stands_for_nothing():
    other = _draft(
        _task("prices", "Find the prices", ["search"]),
        subtask("x", "Unrelated chores", "Water plants."),
        _task("pick", "Pick a laptop", deps=["prices"]),
    )
    tree = build_action_tree([(0, CHOSEN), (1, other)], [0])
    assert tree.alternatives == 0


def test_the_action_tree_is_kept_with_the_plan_selection_as_json():
    tree = build_action_tree([(0, CHOSEN), (2, RECALL), (4, SPLIT)], [0])
    selection = PlanSelection(
        k=3,
        candidates=[],
        chosen="A",
        chosen_by="critic",
        reason="-",
        usage=Usage(),
        single_shot_usage=Usage(),
        action_tree=tree,
    )
    data = selection.model_dump(mode="json")
    assert ActionTree.from_selection_data(data) == tree
    # a run checkpointed when branches listed most votes first is read in try order
    scored = build_action_tree([(0, CHOSEN), (2, RECALL), (4, SPLIT)], [0], {2: 0.6, 4: 0.8})
    old = scored.model_dump(mode="json")
    old["branches"][0]["alternatives"].reverse()
    read = ActionTree.from_selection_data({"action_tree": old})
    assert read == scored and [a.score for a in read.branches[0].alternatives] == [0.8, 0.6]
    assert ActionTree.from_selection_data(None) is None
    assert ActionTree.from_selection_data({"k": 3}) is None  # a run from before it existed


def _run_tree() -> TaskTree:
    tree = TaskTree.for_goal("buy a laptop", max_depth=3)
    tree.add(draft_to_nodes(CHOSEN, tree, parent_id=ROOT_ID))
    return tree


def test_backtracking_prefers_votes_when_nothing_has_happened_yet():
    action = build_action_tree([(0, CHOSEN), (2, RECALL), (3, RECALL_AGAIN), (4, SPLIT)], [0])
    tree = _run_tree()
    chosen = next_alternative(action, tree, tree.get("prices"), used=[])
    assert chosen is not None and chosen.id == "prices~1"  # two votes against one


def test_backtracking_prefers_an_approach_whose_tools_served_accepted_tasks():
    action = build_action_tree([(0, CHOSEN), (2, RECALL), (3, RECALL_AGAIN), (4, SPLIT)], [0])
    tree = _run_tree()
    done = tree.get("specs")
    done.status, done.tools = TaskStatus.DONE, ["search", "fetch"]  # these tools worked
    chosen = next_alternative(action, tree, tree.get("prices"), used=[])
    assert chosen is not None and chosen.id == "prices~2"  # grounded beats one more vote


def test_each_alternative_is_used_once_along_the_line_of_replacements():
    action = build_action_tree([(0, CHOSEN), (2, RECALL), (4, SPLIT)], [0])
    tree = _run_tree()
    first = next_alternative(action, tree, tree.get("prices"), used=[])
    assert first is not None and first.id == "prices~1"
    [graft] = replace_task(tree, tree.get("prices"), first.draft, "wrong", datetime.now(UTC))
    # the graft's own rejection backtracks to the same place: the other alternative
    second = next_alternative(action, tree, graft, used=[first.id])
    assert second is not None and second.id == "prices~2"
    assert next_alternative(action, tree, graft, used=[first.id, second.id]) is None


def test_an_alternative_already_tried_on_the_line_is_skipped():
    action = build_action_tree([(0, CHOSEN), (2, RECALL)], [0])
    tree = _run_tree()
    # the planner had already written the same replacement: grafting it would repeat it
    [again] = replace_task(
        tree, tree.get("prices"), _draft(_task("r2", "Recall the prices")), "x", datetime.now(UTC)
    )
    assert next_alternative(action, tree, again, used=[]) is None


def test_tasks_outside_the_first_plan_have_no_alternatives():
    action = build_action_tree([(0, CHOSEN), (2, RECALL)], [0])
    tree = _run_tree()
    nested = draft_to_nodes(_draft(_task("sub", "A nested step")), tree, parent_id="specs")
    tree.add(nested)
    assert next_alternative(action, tree, tree.get("sub"), used=[]) is None


def test_the_plan_critics_scores_rank_alternatives_and_rule_out_plans_it_judged_wrong():
    valid = [(0, CHOSEN), (2, RECALL), (3, RECALL_AGAIN), (4, SPLIT)]
    tree = _run_tree()
    # the critic liked the split plan better than the recall ones: it goes first, and is
    # listed first (ids stay by votes); a person approving the plan sees that order
    action = build_action_tree(valid, [0], {0: 0.9, 2: 0.6, 3: 0.6, 4: 0.8})
    listed = action.branches[0].alternatives
    assert [(a.id, a.score) for a in listed] == [("prices~2", 0.8), ("prices~1", 0.6)]
    assert [p.tasks for p in action.proposed()] == [a.tasks for a in listed]
    chosen = next_alternative(action, tree, tree.get("prices"), used=[])
    assert chosen is not None and chosen.id == "prices~2"
    # a plan the critic judged more wrong than right is never grafted: the planner is asked
    action = build_action_tree(valid, [0], {0: 0.9, 2: 0.2, 3: 0.3, 4: 0.1})
    assert next_alternative(action, tree, tree.get("prices"), used=[]) is None


def test_the_majority_plan_takes_the_way_most_samples_went_at_each_branch():
    # prices: "Recall" (2 votes) outvotes the chosen "Find" (1); the rest agrees
    valid = [(0, CHOSEN), (1, RECALL), (2, RECALL_AGAIN)]
    tree = build_action_tree(valid, [0])
    start, swapped = majority_plan(tree, CHOSEN)

    assert swapped == ["prices"]
    assert [t.id for t in start.tasks] == ["prices", "specs", "pick"]  # RECALL's own id
    assert start.tasks[0].title == "Recall the prices" and start.tasks[0].tools == []
    assert start.tasks[2].depends_on == ["prices", "specs"]
    # merged again around the start plan, every sample votes task by task
    again = build_action_tree(valid, [], plan=start)
    prices = again.branch("prices")
    assert prices is not None and prices.samples == [1, 2]
    assert [(a.tasks[0].title, a.samples) for a in prices.alternatives] == [
        ("Find the prices", [0])
    ]
    assert again.branch("pick").samples == [0, 1, 2]


def test_a_tie_keeps_the_plans_task_and_a_decomposition_is_rewired():
    assert majority_plan(build_action_tree([(0, CHOSEN), (1, RECALL)], [0]), CHOSEN)[1] == []
    # the prices in two steps, written by two samples against one: swapped in, and "pick"
    # now waits for the last of the two
    split_again = _draft(
        _task("shops", "List the shops selling the laptops", ["search"]),
        _task("quotes", "Read the prices from each shop", ["fetch"], deps=["shops"]),
        _task("specs", "Compare the specs"),
        _task("pick", "Pick a laptop", deps=["quotes", "specs"]),
    )
    split_specs = split_again.model_copy()
    valid = [(0, CHOSEN), (1, split_again), (2, split_specs)]
    start, swapped = majority_plan(build_action_tree(valid, [0]), CHOSEN)
    assert swapped == ["prices"]
    assert [(t.id, t.depends_on) for t in start.tasks] == [
        ("shops", []),
        ("quotes", ["shops"]),
        ("specs", []),
        ("pick", ["quotes", "specs"]),
    ]


# -- a person edits the plan: which alternatives stay, with what they had ---------------

SCORED = build_action_tree(
    [(0, CHOSEN), (2, RECALL), (3, RECALL_AGAIN), (4, SPLIT)], [0], {0: 0.9, 2: 0.6, 3: 0.6, 4: 0.8}
)


def _fits_all(proposal: ProposedAlternative) -> str | None:
    return None


def test_an_edit_keeps_the_alternatives_of_untouched_tasks_with_their_votes_and_scores():
    same = edited_action_tree(SCORED, CHOSEN, CHOSEN, None, _fits_all)
    assert same.branches == SCORED.branches and same.edit is None  # nothing changed
    reworded = CHOSEN.reworded("prices", title="Find the prices in two shops")
    kept = edited_action_tree(SCORED, CHOSEN, reworded, None, _fits_all)
    prices = kept.branch("prices")
    assert prices is not None and prices.samples == [] and prices.alternatives == []
    assert kept.edit is not None and kept.edit.describe() == (
        "0 kept of 2; 2 dropped: prices~2: task 'prices' was edited;"
        " prices~1: task 'prices' was edited"
    )
    # what a task waits for is not what its alternatives stand in for: they stay
    rewired = CHOSEN.without("specs")
    kept = edited_action_tree(SCORED, CHOSEN, rewired, None, _fits_all)
    assert kept.branch("prices") == SCORED.branch("prices") and kept.edit is None


def test_a_kept_alternative_that_no_longer_fits_the_edited_plan_is_dropped_and_said():
    def fits(proposal: ProposedAlternative) -> str | None:
        ids = {t.id for t in proposal.tasks}
        return "task id 'shops' is used more than once" if "shops" in ids else None

    edited = CHOSEN.with_task(PlanDraft.model_validate(plan(_task("shops", "Shops"))).tasks[0])
    kept = edited_action_tree(SCORED, CHOSEN, edited, None, fits)
    assert [a.id for a in kept.branch("prices").alternatives] == ["prices~1"]  # type: ignore[union-attr]
    assert kept.edit is not None and (kept.edit.dropped, kept.edit.why_dropped) == (
        1,
        ["prices~2: task id 'shops' is used more than once"],
    )
    assert kept.edit.describe() == (
        "1 kept of 2; 1 dropped: prices~2: task id 'shops' is used more than once"
    )


def test_what_is_said_about_dropped_alternatives_is_bounded():
    many = AlternativesEdit(
        offered=50,
        kept=0,
        given=0,
        dropped=50,
        why_dropped=[f"x~{n}: task 'x' was dropped" for n in range(1, MAX_DROPPED_SAID + 1)],
    )
    assert many.describe().endswith("x~3: task 'x' was dropped; and 47 more")
    assert len(many.describe()) < 200


def test_alternatives_a_person_lists_are_tried_in_that_order_keeping_known_ones_scores():
    offered = SCORED.proposed()  # split (0.8) first, then recall (0.6)
    same = edited_action_tree(SCORED, CHOSEN, CHOSEN, offered, _fits_all)
    assert same.branches == SCORED.branches and same.edit is None
    # sent back with the task reworded (as $EDITOR does): still the offered ones
    reworded = CHOSEN.reworded("prices", title="Find the prices in two shops")
    again = edited_action_tree(SCORED, CHOSEN, reworded, offered, _fits_all)
    assert again.branch("prices").alternatives == SCORED.branch("prices").alternatives  # type: ignore[union-attr]
    assert again.edit is None
    # the same text with other tools is the person's version, not the offered one
    retooled = offered[1].model_copy(
        update={"tasks": [offered[1].tasks[0].model_copy(update={"tools": ["fetch"]})]}
    )
    mine = edited_action_tree(SCORED, CHOSEN, CHOSEN, [retooled], _fits_all)
    [alternative] = mine.branch("prices").alternatives  # type: ignore[union-attr]
    assert alternative.from_person and alternative.tasks[0].tools == ["fetch"]
    assert mine.edit is not None and mine.edit.describe() == "0 kept of 2, 1 given"
    reordered = edited_action_tree(SCORED, CHOSEN, CHOSEN, offered[::-1], _fits_all)
    assert reordered.edit is not None
    assert reordered.edit.describe() == "2 kept of 2, in a new order"
    new = ProposedAlternative(
        instead_of="prices", tasks=_draft(_task("ask", "Ask a dealer for the prices")).tasks
    )
    turned = edited_action_tree(SCORED, CHOSEN, CHOSEN, [new, offered[1]], _fits_all)
    listed = turned.branch("prices").alternatives  # type: ignore[union-attr]
    assert [(a.id, a.score, a.votes, a.from_person) for a in listed] == [
        ("prices~3", None, 0, True),
        ("prices~1", 0.6, 2, False),
    ]
    tree = _run_tree()
    chosen = next_alternative(turned, tree, tree.get("prices"), used=[])
    assert chosen is not None and chosen.id == "prices~3"  # the person's order, not scores
    assert turned.edit is not None and turned.edit.describe() == "1 kept of 2, 1 given"
