"""Files in the documented formats that no sample has: odd encodings, odd ids, odd plans.

Every valid file loads and scores right; every invalid one is an ``InputError`` naming the
file and the line (exit code 2 from the CLI), never an unexpected exception.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestra import InputError
from orchestra.core.plan import PlanDraft
from orchestra.evals import replay as replay_module
from orchestra.evals.critic_eval import load_cases
from orchestra.evals.dags import DagRecord, load_dags, transitive_reduction
from orchestra.evals.latency import LatencySpec
from orchestra.evals.plan_eval import evaluate_plans, score_plan
from orchestra.evals.replay import replay, replay_record
from orchestra.testing import ScriptedChatModel
from tests.forked_cli import ForkedCli

CASE = {"id": "c1", "task": "Compare cats and dogs", "result": "Both are pets.", "label": "pass"}


def node(id: str, tool: str = "t", deps: tuple[str, ...] = (), **args: Any) -> dict[str, Any]:
    return {"id": id, "tool": tool, "args": args, "deps": list(deps)}


def record(*nodes: dict[str, Any], id: str = "r", goal: str = "Do it", **extra: Any) -> dict:
    return {"id": id, "goal": goal, "tools": [{"name": "t"}], "nodes": list(nodes), **extra}


def write(path: Path, *lines: str, encoding: str = "utf-8", end: str = "\n") -> Path:
    path.write_bytes(end.join(lines).encode(encoding) + end.encode())
    return path


def task(id: str, tools: list[str], deps: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": id,
        "title": id,
        "description": f"Do {id}.",
        "depends_on": list(deps),
        "tools": tools,
    }


def dag(*nodes: dict[str, Any]) -> DagRecord:
    return DagRecord.model_validate(record(*nodes))


# -- reading the files -----------------------------------------------------------------


def test_a_bom_and_crlf_line_ends_read_as_plain_utf8(tmp_path: Path):
    lines = (json.dumps(record(node("n0"), id="a")), json.dumps(record(node("n0"), id="b")))
    dags = write(tmp_path / "d.jsonl", *lines, encoding="utf-8-sig", end="\r\n")
    assert [r.id for r in load_dags(dags)] == ["a", "b"]
    cases = write(tmp_path / "c.jsonl", json.dumps(CASE), encoding="utf-8-sig", end="\r\n")
    assert [c.id for c in load_cases(cases)] == ["c1"]


def test_unicode_line_separators_inside_strings_do_not_cut_the_line(tmp_path: Path):
    """U+2028, U+2029 and U+0085 are valid raw in a JSON string; only \\n ends a line."""
    odd = "a\u2028b\u2029c\x85d"
    dags = write(
        tmp_path / "d.jsonl", json.dumps(record(node("n0", q=odd), goal=odd), ensure_ascii=False)
    )
    assert load_dags(dags)[0].nodes[0].args == {"q": odd}
    cases = write(tmp_path / "c.jsonl", json.dumps(CASE | {"result": odd}, ensure_ascii=False))
    assert load_cases(cases)[0].result == odd


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": "r\xff", "goal": "g"}\n', "cannot read"),
        (b'{"id": "r", "n": ' + b"9" * 5000 + b"}\n", ":1: .*not JSON that can be read"),
        (b"[" * 100_000 + b"\n", ":1: .*not JSON that can be read"),
    ],
    ids=["not-utf8", "number-too-long", "nesting-too-deep"],
)
def test_unreadable_content_is_an_input_error_for_both_loaders(
    tmp_path: Path, content: bytes, message: str
):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    for load in (load_dags, load_cases):
        with pytest.raises(InputError, match=message):
            load(path)


# -- task graphs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (record(node("n0"), goal="  \t"), "goal: .*must not be blank"),
        (record(node("n0"), id=" "), "id: .*must not be blank"),
        (record(node(" ")), r"nodes\.0\.id: .*must not be blank"),
        (record({"id": "n0", "tool": " "}), r"nodes\.0\.tool: .*must not be blank"),
        (
            record(node("a"), node("b", q="${a.f}")),
            "node 'b' refers to '\\$\\{a.f\\}' but does not depend on 'a'",
        ),
        (record(node("a", q="${a}")), "node 'a' refers to '\\$\\{a\\}'"),
        ([1, 2], "not a task-graph record: not a JSON object"),
    ],
    ids=[
        "blank-goal",
        "blank-id",
        "blank-node-id",
        "blank-tool",
        "ref-not-dep",
        "self-ref",
        "list",
    ],
)
def test_bad_records_are_refused_on_one_line(tmp_path: Path, line: Any, message: str):
    path = write(tmp_path / "bad.jsonl", json.dumps(record(node("n0"), id="ok")), json.dumps(line))
    with pytest.raises(InputError, match=f"bad.jsonl:2.*{message}") as caught:
        load_dags(path)
    assert "\n" not in str(caught.value) and "errors.pydantic.dev" not in str(caught.value)


def test_validation_errors_are_short_and_name_the_field(tmp_path: Path):
    bad = record({"id": "n0", "tool": "t", "deps": None, "args": None})
    path = write(tmp_path / "bad.jsonl", json.dumps(bad))
    with pytest.raises(InputError) as caught:
        load_dags(path)
    assert str(caught.value) == (
        f"{path}:1: not a task-graph record: nodes.0.args: Input should be a valid"
        " dictionary; nodes.0.deps: Input should be a valid list"
    )


def test_references_to_dotted_ids_and_to_no_node_load():
    """A dotted node id is referred to as a whole; ``${HOME}`` names no node and is text."""
    loaded = dag(node("n.1"), node("n2", deps=("n.1",), q="${n.1.field}", shell="${HOME}"))
    assert loaded.problems() == []
    assert dag(node("n.1"), node("n2", q="${n.1.field}")).problems() == [
        "node 'n2' refers to '${n.1.field}' but does not depend on 'n.1'"
    ]


def test_nodes_out_of_dependency_order_are_ordered_by_level_then_source():
    loaded = dag(
        node("d", deps=("b", "c")), node("c", deps=("a",)), node("b", deps=("a",)), node("a")
    )
    assert loaded.order() == ["a", "c", "b", "d"]


def test_a_deep_chain_loads_in_order(tmp_path: Path):
    chain = [node(f"n{i}", deps=(f"n{i - 1}",) if i else ()) for i in range(3000)]
    path = write(tmp_path / "chain.jsonl", json.dumps(record(*reversed(chain))))
    assert load_dags(path)[0].order() == [f"n{i}" for i in range(3000)]


def test_transitive_reduction_matches_a_search_on_every_small_dag():
    """Against the definition: an edge stays unless another path links its ends."""
    import itertools
    import random

    def by_definition(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
        def linked(a: str, b: str, without: tuple[str, str]) -> bool:
            stack, seen = [a], {a}
            while stack:
                here = stack.pop()
                for x, y in edges - {without}:
                    if x == here and y not in seen:
                        if y == b:
                            return True
                        seen.add(y)
                        stack.append(y)
            return False

        return {(a, b) for a, b in edges if not linked(a, b, (a, b))}

    rng = random.Random(11)
    for _ in range(300):
        names = [f"v{i}" for i in range(rng.randint(1, 8))]
        rng.shuffle(names)
        edges = {pair for pair in itertools.combinations(names, 2) if rng.random() < 0.5}
        assert transitive_reduction(edges) == by_definition(edges), edges


def test_a_dense_dag_of_hundreds_of_nodes_reduces_to_its_chain():
    """Every pair of 300 nodes linked (44,850 edges): a search per edge took minutes."""
    names = [f"n{i}" for i in range(300)]
    edges = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    assert transitive_reduction(edges) == set(zip(names, names[1:], strict=False))


# -- replay ----------------------------------------------------------------------------


async def test_any_argument_name_reaches_the_tool():
    """A tool may declare ``_tool`` or ``self``: the stub took ``_tool`` for its own name."""
    tools = [{"name": "t", "parameters": {"type": "object", "properties": {"_tool": {}}}}]
    loaded = DagRecord.model_validate(
        record(node("n0", _tool="x", self=1), tools=tools) | {"tools": tools}
    )
    done = await replay_record(loaded, LatencySpec.parse("0"))
    assert done.exactly_once and done.order_ok, done.problems


@pytest.mark.parametrize("properties", [{"q": "string"}, ["q"], "q"])
async def test_tools_with_odd_parameter_schemas_replay(properties: Any):
    tools = [{"name": "t", "parameters": {"type": "object", "properties": properties}}]
    loaded = DagRecord.model_validate(record(node("n0", q="x")) | {"tools": tools})
    done = await replay_record(loaded, LatencySpec.parse("0"))
    assert done.exactly_once and done.order_ok, done.problems


async def test_a_goal_above_the_teams_limit_still_replays():
    """The goal plays no part in a replay: one longer than a team takes is cut, not fatal."""
    loaded = dag(node("n0")).model_copy(update={"goal": "word " * 5000})
    done = await replay_record(loaded, LatencySpec.parse("0"))
    assert done.status == "succeeded" and done.exactly_once, done.problems


async def test_a_run_that_raises_is_one_records_problem(monkeypatch: pytest.MonkeyPatch):
    real_team = replay_module._team

    def team(record: DagRecord, *args: Any) -> Any:
        if record.id == "boom":
            raise TypeError("Integer exceeds 64-bit range")
        return real_team(record, *args)

    monkeypatch.setattr(replay_module, "_team", team)
    records = [dag(node("n0")).model_copy(update={"id": i}) for i in ("ok", "boom")]
    report = await replay(records, LatencySpec.parse("0.001"))
    ok, boom = report.records
    assert ok.exactly_once and ok.status == "succeeded"
    assert (boom.status, boom.exactly_once, boom.order_ok) == ("error", False, False)
    assert boom.problems == ["the run raised TypeError: Integer exceeds 64-bit range"]
    assert (report.summary.n, report.summary.exactly_once) == (2, 1)
    assert report.summary.median_efficiency == ok.efficiency  # the error has no timings


# -- plan scores -----------------------------------------------------------------------


def test_no_valid_plan_scores_zero_even_on_a_gold_dag_without_edges():
    assert score_plan(dag(node("a")), None) == (0.0, 0.0, False, [])
    assert score_plan(dag(node("a", "t1"), node("b", "t2")), None)[:2] == (0.0, 0.0)
    # a valid plan that rightly names no dependency still agrees on the edges
    plan = PlanDraft.model_validate({"tasks": [task("x", ["t1"]), task("y", ["zz"])]})
    assert score_plan(dag(node("a", "t1"), node("b", "t2")), plan)[:2] == (0.5, 1.0)


@pytest.mark.parametrize("extra_dep", [False, True], ids=["through", "also-direct"])
def test_a_leaf_without_tools_bridges_the_order_around_it(extra_dep: bool):
    """a(t1) -> b(no tool) -> c(t2) orders t1 before t2, as the gold t1 -> t2 does."""
    gold = dag(node("a", "t1"), node("c", "t2", deps=("a",)))
    plan = PlanDraft.model_validate(
        {
            "tasks": [
                task("a", ["t1"]),
                task("b", [], ("a",)),
                task("c", ["t2"], ("a", "b") if extra_dep else ("b",)),
            ]
        }
    )
    assert score_plan(gold, plan) == (1.0, 1.0, True, ["t1", "t2"])


def test_hand_computed_scores_on_small_graphs():
    # chain t1 -> t2 -> t3 against a fan-out t1 -> {t2, t3}: one edge of two on each side
    chain = dag(node("a", "t1"), node("b", "t2", ("a",)), node("c", "t3", ("b",)))
    fan = PlanDraft.model_validate(
        {"tasks": [task("a", ["t1"]), task("b", ["t2"], ("a",)), task("c", ["t3"], ("a",))]}
    )
    assert score_plan(chain, fan)[:3] == (1.0, 0.5, False)
    # gold t, t -> u (two edges); a plan with one t -> u: nodes P 1, R 2/3; edges P 1, R 1/2
    twins = dag(node("n0", "t"), node("n1", "t"), node("n2", "u", ("n0", "n1")))
    one = PlanDraft.model_validate({"tasks": [task("x", ["t"]), task("y", ["u"], ("x",))]})
    node_f1, edge_f1, exact, _ = score_plan(twins, one)
    assert (node_f1, edge_f1, exact) == (pytest.approx(0.8), pytest.approx(2 / 3), False)


# -- the CLI ---------------------------------------------------------------------------


def test_the_cli_reads_a_bom_file_and_refuses_bad_bytes_on_one_line(
    tmp_path: Path, forked_cli: ForkedCli
):
    good = write(
        tmp_path / "good.jsonl", json.dumps(record(node("n0"))), encoding="utf-8-sig", end="\r\n"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "\xff"}\n')
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(b'{"id": "c", "n": ' + b"9" * 5000 + b"}\n")
    ran = forked_cli.run_many(
        [
            (("bench", "replay", "--dags", str(good), "--tool-latency", "0", "--json"), {}),
            (("bench", "replay", "--dags", str(bad)), {}),
            (("eval", "plan", "--dags", str(bad)), {}),
            (("eval", "critic", "--cases", str(cases)), {}),
        ]
    )
    assert ran[0].returncode == 0, ran[0].stderr
    assert json.loads(ran[0].stdout)["summary"]["exactly_once"] == 1
    for done in ran[1:]:
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert "unexpected" not in done.stderr


async def test_a_gold_tool_the_planner_is_not_shown_is_refused_not_scored():
    """Without ``tools`` listing ``zzz`` no plan can name it: a capped score, not a score."""
    loaded = dag(node("n0", "t"), node("n1", "zzz"))
    with pytest.raises(InputError, match=r"record 'r': its nodes call \['zzz'\]"):
        await evaluate_plans(ScriptedChatModel({}), [loaded])


def test_old_mac_line_ends_split_records(tmp_path: Path):
    lines = (json.dumps(record(node("n0"), id="a")), json.dumps(record(node("n0"), id="b")))
    assert [r.id for r in load_dags(write(tmp_path / "d.jsonl", *lines, end="\r"))] == ["a", "b"]


def test_a_lognormal_draw_beyond_a_float_is_an_input_error():
    spec = LatencySpec.parse("lognormal:0.001:800")
    with pytest.raises(InputError, match="lognormal:0.001:800.*smaller SIGMA"):
        for i in range(100):  # |z| > 0.9 for most draws: exp(z * 800) overflows
            spec.draw(0, "r", f"n{i}")


def test_a_reference_to_a_node_further_up_the_dependencies_loads():
    """n2 waits for n1, which waits for n0: n0's output exists when n2 runs."""
    chain = dag(node("n0"), node("n1", deps=("n0",)), node("n2", deps=("n1",), q="${n0.f}"))
    assert chain.problems() == []
    apart = dag(node("n0"), node("n1"), node("n2", deps=("n1",), q="${n0.f}"))
    assert apart.problems() == ["node 'n2' refers to '${n0.f}' but does not depend on 'n0'"]
