"""Planner quality, TaskBench-style: node and edge F1 against gold DAGs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra import ConfigError
from orchestra.core.plan import PlanDraft
from orchestra.evals.dags import load_dags
from orchestra.evals.plan_eval import evaluate_plans, score_plan
from orchestra.testing import ScriptedChatModel
from tests.conftest import StartedCli

SMALL = Path(__file__).parents[1] / "fixtures" / "dags-small.jsonl"


def task(id: str, tools: list[str], deps: list[str] = (), subtasks: list[dict] = ()) -> dict:
    return {
        "id": id,
        "title": id.upper(),
        "description": f"Do {id}.",
        "depends_on": list(deps),
        "tools": tools,
        "subtasks": list(subtasks),
    }


def plan(*tasks: dict) -> PlanDraft:
    return PlanDraft.model_validate({"tasks": list(tasks)})


def records():
    return {r.id: r for r in load_dags(SMALL)}


def test_the_gold_plan_scores_one_and_is_exact():
    diamond = records()["diamond"]
    gold = plan(
        task("a", ["fetch"]),
        task("b", ["summarize"], ["a"]),
        task("c", ["translate"], ["a"]),
        task("d", ["merge"], ["b", "c"]),
    )
    assert score_plan(diamond, gold) == (
        1.0,
        1.0,
        True,
        ["fetch", "merge", "summarize", "translate"],
    )


def test_right_tools_without_dependencies_score_on_nodes_only():
    diamond = records()["diamond"]
    flat = plan(
        *(
            task(i, [t])
            for i, t in zip("abcd", ["fetch", "summarize", "translate", "merge"], strict=True)
        )
    )
    node_f1, edge_f1, exact, _ = score_plan(diamond, flat)
    assert (node_f1, edge_f1, exact) == (1.0, 0.0, False)
    half = plan(task("a", ["fetch"]), task("b", ["summarize"], ["a"]))
    node_f1, edge_f1, _, _ = score_plan(diamond, half)
    assert node_f1 == pytest.approx(2 * 0.5 * 1 / 1.5)  # precision 1, recall 0.5
    assert edge_f1 == pytest.approx(2 * 1 * (1 / 4) / (1 + 1 / 4))


def test_implied_gold_edges_do_not_count_and_groups_pass_their_dependencies_down():
    chain = records()["chain-3"]  # n2 depends on n1 and (implied) n0
    nested = plan(
        task("find", ["find_city"]),
        task("rest", [], ["find"], [task("w", ["weather"]), task("adv", ["advise"], ["w"])]),
    )
    node_f1, edge_f1, exact, _ = score_plan(chain, nested)
    assert (node_f1, edge_f1, exact) == (1.0, 1.0, True)


def test_duplicate_calls_count_as_a_multiset():
    twins = records()["twins"]  # ping, ping, then ping after both
    once = plan(task("p", ["ping"]))
    node_f1, _, _, predicted = score_plan(twins, once)
    assert predicted == ["ping"] and node_f1 == pytest.approx(0.5)
    assert score_plan(twins, None)[:3] == (0.0, 0.0, False)


async def test_the_real_planner_is_scored_with_repairs_counted():
    recs = records()
    diamond_plan = {
        "tasks": [
            task("a", ["fetch"]),
            task("b", ["summarize"], ["a"]),
            task("c", ["translate"], ["a"]),
            task("d", ["merge"], ["b", "c"]),
        ]
    }
    chain_first = {"tasks": [task("x", ["no_such_tool"]), task("y", ["weather"], ["x"])]}
    chain_fixed = {"tasks": [task("x", ["find_city"]), task("y", ["weather"], ["x"])]}
    replies = iter([diamond_plan, chain_first, chain_fixed, "nonsense", "nonsense", "nonsense"])
    model = ScriptedChatModel({"planner": lambda call: next(replies)})
    report = await evaluate_plans(model, [recs["diamond"], recs["chain-3"], recs["twins"]])
    by_id = {s.id: s for s in report.records}
    assert by_id["diamond"].valid == "first_try" and by_id["diamond"].exact
    assert by_id["chain-3"].valid == "after_repair" and by_id["chain-3"].model_calls == 2
    assert by_id["chain-3"].node_f1 == pytest.approx(0.8)  # 2 of 3 tools, no extras
    assert by_id["twins"].valid == "invalid" and by_id["twins"].node_f1 == 0.0
    assert "no JSON object" in (by_id["twins"].error or "")
    summary = report.summary
    assert (summary.valid_first_try, summary.valid_after_repair, summary.invalid) == (1, 1, 1)
    assert summary.exact_rate == pytest.approx(1 / 3, abs=1e-4)
    # the planner saw each record's own tools and was told why the first chain plan failed
    calls = model.calls_for("planner")
    assert "summarize" in calls[0].prompt and "find_city" in calls[1].prompt
    assert "unknown tool(s) ['no_such_tool']" in calls[2].last


async def test_with_plan_samples_the_chosen_plan_is_scored_next_to_the_single_shot():
    recs = records()
    diamond = {
        "tasks": [
            task("a", ["fetch"]),
            task("b", ["summarize"], ["a"]),
            task("c", ["translate"], ["a"]),
            task("d", ["merge"], ["b", "c"]),
        ]
    }
    chain = {"tasks": [task("a", ["fetch"]), task("b", ["summarize"], ["a"])]}
    model = ScriptedChatModel(
        {
            # the single-shot plan (sample 0) is the weak one; sample 1 gets it right
            "planner": lambda call: diamond if call.sample == 1 else chain,
            "plan_critic": {
                "scores": [
                    {"candidate": "A", "score": 0.3, "reason": "misses tools"},
                    {"candidate": "B", "score": 0.9, "reason": "complete"},
                ],
                "choice": "B",
                "reason": "B uses every tool",
            },
        }
    )
    report = await evaluate_plans(model, [recs["diamond"]], plan_samples=3)
    [score] = report.records
    assert score.exact and score.node_f1 == 1.0  # the chosen plan, B
    assert score.k1_exact is False and score.k1_node_f1 == pytest.approx(2 / 3, abs=1e-3)
    assert score.valid == "first_try"  # the first sample needed no repair
    assert score.tokens > score.k1_tokens > 0  # three samples and a critic against one plan
    summary = report.summary
    assert (summary.plan_samples, summary.exact_rate, summary.k1_exact_rate) == (3, 1.0, 0.0)
    assert summary.k1_tokens_per_record is not None
    assert summary.tokens_per_record > summary.k1_tokens_per_record
    assert (score.valid_samples, score.chosen_by, summary.valid_samples_per_record) == (
        3,
        "critic",
        3.0,
    )
    # the same K plans from one planner call, the plan most samples wrote chosen by votes
    voted = await evaluate_plans(
        model, [recs["diamond"]], plan_samples=3, plan_sampling="one_call", plan_choice="votes"
    )
    [score] = voted.records
    assert (score.valid_samples, score.chosen_by) == (3, "votes")
    assert score.node_f1 == pytest.approx(2 / 3, abs=1e-3)  # two chains outvote the diamond
    assert score.model_calls == 1
    # one plan with alternatives to its tasks: the plan is scored, its alternatives counted
    written = ScriptedChatModel(
        {
            "planner": {
                **chain,
                "alternatives": [
                    {"instead_of": "b", "tasks": [task("t", ["translate"])]},
                    {"instead_of": "zz", "tasks": [task("u", ["merge"])]},
                ],
            }
        }
    )
    report = await evaluate_plans(
        written, [recs["diamond"]], plan_samples=3, plan_sampling="alternatives"
    )
    [score] = report.records
    assert (score.alternatives, score.alternatives_left_out, score.valid_samples) == (1, 1, None)
    assert (score.chosen_by, score.model_calls) == ("planner", 1)
    assert report.summary.alternatives_per_record == 1.0
    assert report.summary.valid_samples_per_record is None
    with pytest.raises(ConfigError, match="set plan_samples"):
        await evaluate_plans(written, [recs["diamond"]], plan_sampling="alternatives")


ONE_SHOT_TEST = "test_eval_plan_runs_on_the_embedded_model_offline"
SAMPLES_TEST = "test_eval_plan_samples_plans_on_the_embedded_model_offline"
EMBEDDED_EVALS = {  # test -> its `orchestra eval plan ARGS` on the embedded model
    ONE_SHOT_TEST: ("--dags", str(SMALL), "--limit", "1", "--json"),
    SAMPLES_TEST: ("--dags", str(SMALL), "--limit", "1", "--plan-samples", "2", "--json"),
}


@pytest.fixture(scope="module")
def embedded_evals(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, StartedCli]]:
    """The embedded model's eval runs of the selected tests, started together: test -> run.

    Each is the run its test made itself before, in a process and home of its own; its
    test waits for it and asserts on it. The embedded model decodes on one thread, so side
    by side the two take about as long as the longer one instead of their sum.
    """
    selected = {item.name for item in request.session.items if item.path == request.path}
    runs: dict[str, StartedCli] = {}
    for name, args in EMBEDDED_EVALS.items():
        if name in selected:
            folder = tmp_path_factory.mktemp(name[:30])
            env = {"ORCHESTRA_HOME": str(folder / "orchestra-home")}
            runs[name] = StartedCli("eval", "plan", *args, output=folder / "out", env_extra=env)
    try:
        yield runs
    finally:
        for run in runs.values():
            run.stop()


@pytest.mark.slow
def test_eval_plan_runs_on_the_embedded_model_offline(embedded_evals):
    done = embedded_evals[ONE_SHOT_TEST].wait(timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["summary"]["n"] == 1
    score = report["records"][0]
    assert score["valid"] in {"first_try", "after_repair", "invalid"}
    assert 0.0 <= score["node_f1"] <= 1.0 and 0.0 <= score["edge_f1"] <= 1.0


@pytest.mark.slow
def test_eval_plan_samples_plans_on_the_embedded_model_offline(embedded_evals):
    done = embedded_evals[SAMPLES_TEST].wait(timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    summary = report["summary"]
    assert summary["plan_samples"] == 2 and summary["k1_node_f1"] is not None
    assert summary["tokens_per_record"] >= summary["k1_tokens_per_record"] > 0


def test_eval_plan_samples_plans_on_a_provider_through_its_real_client(monkeypatch):
    """`--model openai:...` with `--plan-samples`: recorded OpenAI replies from a local fake."""
    import copy
    import threading

    from typer.testing import CliRunner

    from orchestra.cli.main import app
    from tests.models.test_providers import FIXTURES, fake_provider

    def step(id: str, tool: str, deps: list[str]) -> dict:
        return {
            "id": id,
            "title": f"Use {tool}",
            "description": f"Call {tool}.",
            "acceptance_criteria": ["done"],
            "depends_on": deps,
            "tools": [tool],
            "subtasks": [],
        }

    partial = {"tasks": [step("city", "find_city", [])]}
    full = {
        "tasks": [
            step("city", "find_city", []),
            step("temp", "weather", ["city"]),
            step("tip", "advise", ["temp"]),
        ]
    }
    lock = threading.Lock()
    planner_calls: list[dict] = []
    critic_prompts: list[str] = []

    def answer(body: dict) -> dict:
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        reply = copy.deepcopy(json.loads((FIXTURES / "openai_chat_completion.json").read_text()))
        assert body["response_format"]["type"] == "json_schema"
        if system.startswith("You are the plan critic"):
            critic_prompts.append(user)
            blocks = user.split("\nPlan ")[1:]
            scores = [
                {
                    "candidate": b[0],
                    "score": 0.9 if "Use advise" in b else 0.2,
                    "reason": "covers the goal" if "Use advise" in b else "stops at the city",
                }
                for b in blocks
            ]
            best = max(scores, key=lambda s: s["score"])["candidate"]
            content = {"scores": scores, "choice": best, "reason": "the complete plan"}
        else:
            assert system.startswith("You are the planner")
            with lock:  # the first request answered gets the weak plan
                planner_calls.append(body)
                content = partial if len(planner_calls) == 1 else full
        reply["choices"][0]["message"]["content"] = json.dumps(content)
        return reply

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    with fake_provider("/v1/chat/completions", answer) as url:
        done = CliRunner().invoke(
            app,
            [
                "eval",
                "plan",
                "--dags",
                str(SMALL),
                "--limit",
                "1",
                "--plan-samples",
                "2",
                "--model",
                f"openai:gpt-4.1-mini@{url}/v1",
                "--json",
            ],
        )
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    [score] = report["records"]
    assert len(planner_calls) == 2 and len(critic_prompts) == 1
    assert score["node_f1"] == 1.0 and score["edge_f1"] == 1.0  # the critic chose the full plan
    assert score["k1_node_f1"] in (1.0, pytest.approx(0.5))  # whichever sample 0 got
    summary = report["summary"]
    assert summary["plan_samples"] == 2
    assert summary["tokens_per_record"] == 3 * (412 + 57)  # two plans and a critic call
    assert summary["k1_tokens_per_record"] == 412 + 57
