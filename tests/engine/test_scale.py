"""Big plans run to the end: no recursion limit, no lost or doubled work."""

from __future__ import annotations

from orchestra import RunStatus, TaskStatus
from orchestra.testing import chain, fan_out, role_spec, verdict
from tests.conftest import make_team


def _script(planner_reply: dict) -> dict:
    return {
        "planner": [planner_reply],
        "role_designer": role_spec("worker", "Do the task.", []),
        "executor": "ok",
        "lead": "the group's results, integrated",  # the groups a big plan is split into
        "critic": verdict("pass"),
        "synthesizer": "done",
    }


async def test_a_200_wide_fan_out_runs_every_leaf_once():
    ids = [f"t{i}" for i in range(200)]
    team, model = make_team(_script(fan_out(ids)), max_depth=4, max_parallel=8)
    result = await team.arun("wide goal")
    assert result.status is RunStatus.SUCCEEDED
    leaves = result.tree.leaves()
    assert sorted(n.id for n in leaves) == sorted(ids)
    assert all(n.status is TaskStatus.DONE and n.executions == 1 for n in leaves)
    assert len(model.calls_for("executor")) == 200


async def test_a_120_deep_dependency_chain_runs_in_order():
    ids = [f"s{i}" for i in range(120)]
    team, _ = make_team(_script(chain(ids)), max_depth=4)
    result = await team.arun("deep goal")
    assert result.status is RunStatus.SUCCEEDED
    nodes = {n.id: n for n in result.tree.leaves()}
    assert set(nodes) == set(ids)
    for before, after in zip(ids, ids[1:], strict=False):
        assert nodes[after].started_at >= nodes[before].finished_at, (before, after)
