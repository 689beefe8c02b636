"""Loading task graphs: any file in the format, with line-numbered errors for bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra import InputError
from orchestra.evals.dags import critical_path_s, load_dags, transitive_reduction
from orchestra.evals.latency import LatencySpec

SMALL = Path(__file__).parents[1] / "fixtures" / "dags-small.jsonl"


def test_the_small_fixture_loads_with_order_and_edges():
    records = load_dags(SMALL)
    assert [r.id for r in records] == ["chain-3", "diamond", "twins", "wide-10"]
    diamond = records[1]
    assert diamond.order() == ["a", "b", "c", "d"]
    assert sorted(diamond.edges()) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    assert load_dags(SMALL, limit=2)[-1].id == "diamond"


def test_critical_path_sums_each_nodes_own_latency():
    diamond = load_dags(SMALL)[1]
    latency = {"a": 0.1, "b": 0.5, "c": 0.2, "d": 0.1}
    assert critical_path_s(diamond, latency) == pytest.approx(0.7)


def test_transitive_edges_are_reduced():
    assert transitive_reduction([("a", "b"), ("b", "c"), ("a", "c")]) == {("a", "b"), ("b", "c")}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a task-graph record"),
        (json.dumps({"id": "x", "goal": "g", "nodes": []}), "not a task-graph record"),
        (
            json.dumps(
                {"id": "x", "goal": "g", "nodes": [{"id": "a", "tool": "t", "deps": ["z"]}]}
            ),
            "depends on unknown 'z'",
        ),
        (
            json.dumps(
                {
                    "id": "x",
                    "goal": "g",
                    "nodes": [
                        {"id": "a", "tool": "t", "deps": ["b"]},
                        {"id": "b", "tool": "t", "deps": ["a"]},
                    ],
                }
            ),
            "cycle",
        ),
    ],
)
def test_bad_records_name_their_line(tmp_path: Path, line: str, message: str):
    good = SMALL.read_text().splitlines()[0]
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good}\n{line}\n")
    with pytest.raises(InputError, match=f"bad.jsonl:2.*{message}"):
        load_dags(path)


def test_an_empty_or_missing_file_is_an_input_error(tmp_path: Path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no records"):
        load_dags(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="cannot read"):
        load_dags(tmp_path / "missing.jsonl")


def test_latency_specs_are_parsed_and_drawn_reproducibly():
    assert LatencySpec.parse("0.05").draw(1, "r", "n") == 0.05
    uniform = LatencySpec.parse("uniform:0.01:0.3")
    draws = [uniform.draw(7, "r", f"n{i}") for i in range(200)]
    assert all(0.01 <= d <= 0.3 for d in draws) and len(set(draws)) > 150
    assert draws == [uniform.draw(7, "r", f"n{i}") for i in range(200)]
    assert draws != [uniform.draw(8, "r", f"n{i}") for i in range(200)]
    assert 0 < LatencySpec.parse("exp:0.1").draw(0, "r", "n") <= 2.0
    assert LatencySpec.parse("lognormal:0.05:0.5").draw(0, "r", "n") > 0
    assert str(uniform) == "uniform:0.01:0.3"
    for bad in ("fast", "uniform:0.3:0.1", "-1", "uniform:1", "normal:1:2", "exp:nan"):
        with pytest.raises(InputError):
            LatencySpec.parse(bad)
