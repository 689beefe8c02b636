from orchestra.core.plan import PlanDraft, draft_to_nodes
from orchestra.core.tree import ROOT_ID, TaskNode, TaskStatus, TaskTree
from orchestra.testing import plan, subtask


def build():
    tree = TaskTree.for_goal("goal", 3)
    d = PlanDraft.model_validate(
        plan(
            subtask("research", subtasks=[subtask("r1"), subtask("r2", deps=["r1"])]),
            subtask("write", deps=["research"]),
        )
    )
    tree.add(draft_to_nodes(d, tree, parent_id=ROOT_ID))
    return tree


def test_leaves_and_depths():
    tree = build()
    assert [n.id for n in tree.leaves()] == ["r1", "r2", "write"]
    assert tree.get("r2").depth == 2 and tree.get("research").depth == 1
    assert not tree.is_leaf("research") and not tree.is_leaf(ROOT_ID)


def test_prerequisites_include_the_ancestors_dependencies():
    tree = build()
    assert [p.id for p in tree.prerequisites("r2")] == ["r1"]
    assert [p.id for p in tree.prerequisites("write")] == ["research"]


def test_ready_leaves_follow_dependencies():
    tree = build()
    assert [n.id for n in tree.ready_leaves()] == ["r1"]
    tree.get("r1").status = TaskStatus.DONE
    assert [n.id for n in tree.ready_leaves()] == ["r2"]
    tree.get("r2").status = TaskStatus.DONE
    assert tree.ready_leaves() == []  # write waits for the inner node 'research' itself
    tree.get("research").status = TaskStatus.DONE
    assert [n.id for n in tree.ready_leaves()] == ["write"]


def test_replaced_nodes_leave_the_live_plan_but_stay_in_the_tree():
    tree = build()
    tree.get("r1").replaced_by = ["x"]
    assert "r1" not in [n.id for n in tree.leaves()]
    assert "r1" in tree.nodes
    assert [n.id for n in tree.subtree("research")] == ["research", "r1", "r2"]
    assert not tree.is_leaf("research")  # r2 is still live
    tree.get("r2").replaced_by = ["y"]
    assert tree.is_leaf("research")  # every child replaced: the inner node runs itself


def test_usage_rolls_up_the_tree():
    from orchestra.core.usage import Usage

    tree = TaskTree.for_goal("goal", 3)
    tree.add(
        [
            TaskNode(id="g", parent_id="root", title="G", description="g", depth=1),
            TaskNode(id="x", parent_id="g", title="X", description="x", depth=2),
            TaskNode(id="y", parent_id="g", title="Y", description="y", depth=2),
        ]
    )
    tree.get("g").usage = Usage(input_tokens=1, model_calls=1)
    tree.get("x").usage = Usage(input_tokens=10, output_tokens=5, model_calls=2)
    tree.get("y").usage = Usage(input_tokens=100, model_calls=1)
    assert tree.total_usage("g").total_tokens == 116
    assert tree.total_usage("g").model_calls == 4
    assert tree.total_usage("x").total_tokens == 15
    assert tree.total_usage("root") == tree.total_usage("g")


def test_waiting_chains_count_sibling_and_parent_waiters():
    tree = build()
    # r1 <- r2 inside research, and write waits for research (so for r1 and r2 too)
    assert tree.waiting_chains(["r1", "r2", "write"]) == {"r1": 2, "r2": 1, "write": 0}


def test_waiting_chains_of_a_chain_and_a_fan_out():
    tree = TaskTree.for_goal("goal", 1, max_tasks_per_level=64)
    chain = [subtask(f"c{i}", deps=[f"c{i - 1}"] if i else []) for i in range(40)]
    fan = [subtask(f"f{i}") for i in range(20)]
    draft = PlanDraft.model_validate(plan(*chain, *fan))
    tree.add(draft_to_nodes(draft, tree, parent_id=ROOT_ID))
    chains = tree.waiting_chains(["c0", "c39", "f3"])
    assert chains == {"c0": 39, "c39": 0, "f3": 0}
