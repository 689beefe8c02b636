"""`orchestra eval critic`: the checks and the critic scored on labelled results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.checks import DEFAULT_CHECKS
from orchestra.cli.main import app
from orchestra.core.errors import InputError
from orchestra.evals.critic_eval import (
    LEAF_ID,
    case_tree,
    evaluate_critic,
    load_cases,
)
from orchestra.testing import ScriptedCall, ScriptedChatModel, verdict

CASES = Path(__file__).parents[1] / "fixtures" / "critic_cases.jsonl"

CAUGHT_BY_CHECKS = {
    "empty": "check:not_empty",
    "ready": "check:not_boilerplate",
    "loop": "check:not_degenerate",
}
"""The fixture's junk that the built-in checks catch, with the check that catches it."""


def critic_reply(call: ScriptedCall) -> dict[str, str]:
    """The scripted critic: sends the wrong gear parts back, and is too strict on the sky."""
    result = call.prompt.split("Result to judge:", 1)[1]
    if "airbags" in result:
        return verdict("retry", "Airbags and springs are not parts of a gear system.")
    if "Rayleigh" in result:
        return verdict("replan", "Too short to count as an explanation.")
    return verdict("pass", "Meets the criteria.")


def scripted() -> ScriptedChatModel:
    return ScriptedChatModel({"critic": critic_reply})


def test_the_fixture_loads_skipping_blank_lines_and_ignoring_other_fields():
    cases = load_cases(CASES)
    assert [c.id for c in cases] == [
        "empty",
        "ready",
        "loop",
        "gears-wrong",
        "gears-good",
        "sky-terse",
    ]
    assert cases[2].criteria == []  # missing: none
    assert [c.id for c in load_cases(CASES, limit=2)] == ["empty", "ready"]


def test_the_critic_sees_the_task_as_goal_and_one_leaf_with_the_criteria():
    case = load_cases(CASES)[4]
    tree = case_tree(case)
    leaf = tree.get(LEAF_ID)
    assert tree.goal == case.task and tree.is_leaf(LEAF_ID)
    assert leaf.title == case.task and leaf.acceptance_criteria == case.criteria


async def test_checks_catch_the_plain_junk_and_the_critic_judges_the_rest():
    model = scripted()
    report = await evaluate_critic(model, load_cases(CASES), DEFAULT_CHECKS, checks_name="default")
    by_id = {c.id: c for c in report.cases}
    for case_id, source in CAUGHT_BY_CHECKS.items():
        case = by_id[case_id]
        assert (case.verdict, case.source, case.kind, case.model_calls) == (
            "fail",
            source,
            "retry",
            0,
        )
        assert case.checks_verdict == "fail" and case.correct
    assert (by_id["gears-wrong"].verdict, by_id["gears-wrong"].kind) == ("fail", "retry")
    assert by_id["gears-wrong"].source == "critic" and by_id["gears-wrong"].checks_verdict == "pass"
    assert "Airbags" in by_id["gears-wrong"].reason
    assert (by_id["gears-good"].verdict, by_id["gears-good"].correct) == ("pass", True)
    assert (by_id["sky-terse"].verdict, by_id["sky-terse"].kind) == ("fail", "replan")
    assert not by_id["sky-terse"].correct
    # the critic was asked once per case that passed the checks, and never about the rest
    assert len(model.calls_for("critic")) == 3
    assert all(
        by_id[i].model_calls == 1 and by_id[i].input_tokens > 0
        for i in ("gears-wrong", "gears-good", "sky-terse")
    )
    # the case id (which may carry the label) stays out of the critic's prompt
    assert not any("gears-wrong" in call.prompt for call in model.calls_for("critic"))

    s = report.summary
    assert (s.n, s.n_fail, s.n_pass, s.checks) == (6, 4, 2, "default")
    assert s.checks_alone is not None
    assert (s.checks_alone.correct, s.checks_alone.junk_caught, s.checks_alone.good_kept) == (
        5,
        0.75,
        1.0,
    )
    assert s.checks_alone.accuracy == pytest.approx(5 / 6, abs=1e-4)
    combined = s.checks_and_critic
    assert (combined.correct, combined.junk_caught, combined.good_kept) == (5, 1.0, 0.5)
    assert (s.caught_by_checks, s.critic_cases, s.errors, s.model_calls) == (3, 3, 0, 3)
    assert s.input_tokens == sum(c.input_tokens for c in report.cases) > 0
    assert s.output_tokens > 0
    assert s.checks_ms_median is not None and s.checks_ms_max >= s.checks_ms_median


async def test_without_checks_every_case_goes_to_the_critic():
    model = scripted()
    report = await evaluate_critic(model, load_cases(CASES), (), checks_name="none")
    s = report.summary
    assert s.checks == "none" and s.checks_alone is None and s.checks_ms_median is None
    assert (s.caught_by_checks, s.critic_cases, s.model_calls) == (0, 6, 6)
    assert all(c.source == "critic" and c.checks_verdict is None for c in report.cases)
    # the scripted critic passes the empty, boilerplate and looping results
    assert [c.verdict for c in report.cases] == ["pass", "pass", "pass", "fail", "pass", "fail"]
    assert (s.checks_and_critic.junk_caught, s.checks_and_critic.good_kept) == (0.25, 0.5)
    assert s.checks_and_critic.accuracy == pytest.approx(2 / 6, abs=1e-4)


async def test_a_critic_reply_that_stays_invalid_is_an_error_case_not_a_crash():
    def reply(call: ScriptedCall) -> str | dict[str, str]:
        return "no verdict here" if "chainrings" in call.prompt else verdict("pass")

    model = ScriptedChatModel({"critic": reply})
    cases = [c for c in load_cases(CASES) if c.id in ("gears-good", "sky-terse")]
    report = await evaluate_critic(model, cases, DEFAULT_CHECKS, max_repairs=1)
    broken, fine = report.cases
    assert (broken.verdict, broken.kind, broken.source, broken.correct) == (
        "error",
        None,
        "critic",
        False,
    )
    assert broken.error and broken.model_calls == 2  # the first try and one repair
    assert "no valid critic verdict" in broken.reason
    assert fine.verdict == "pass" and fine.correct
    s = report.summary
    assert (s.errors, s.model_calls, s.checks_and_critic.good_kept) == (1, 3, 0.5)
    assert s.checks_and_critic.junk_caught is None  # no case labelled fail


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '{"id": "a", "task": "t", "result": "r"}',
            "line-bad.jsonl:2: not a critic case: label: Field required",
        ),
        (
            '{"id": "a", "task": "t", "result": "r", "label": "good"}',
            "line-bad.jsonl:2: not a critic case: label: Input should be 'pass' or 'fail'",
        ),
        (
            '{"id": "a", "task": "t", "result": 3, "label": "pass"}',
            "line-bad.jsonl:2: not a critic case: result: Input should be a valid string",
        ),
        (
            '{"id": "a", "task": "t", "criteria": "x", "result": "r", "label": "pass"}',
            "line-bad.jsonl:2: not a critic case: criteria:",
        ),
        ('{"id": "a", "task": "t", "result": "r", "label": "pass"', "line-bad.jsonl:2: not JSON"),
        ('["a list"]', "line-bad.jsonl:2: not a JSON object"),
        (
            '{"id": "first", "task": "t", "result": "r", "label": "pass"}',
            "line-bad.jsonl:2: case id 'first' appears twice",
        ),
    ],
)
def test_a_bad_line_is_an_input_error_naming_the_file_and_line(tmp_path, line, expected):
    path = tmp_path / "line-bad.jsonl"
    path.write_text('{"id": "first", "task": "t", "result": "r", "label": "fail"}\n' + line + "\n")
    with pytest.raises(InputError) as raised:
        load_cases(path)
    assert str(raised.value).startswith(f"{tmp_path}/{expected}")


def test_an_empty_or_missing_file_is_an_input_error(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="no cases"):
        load_cases(empty)
    with pytest.raises(InputError, match="cannot read"):
        load_cases(tmp_path / "absent.jsonl")


@pytest.fixture
def cli_model(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The CLI resolves every model string to the scripted critic; the strings asked for."""
    asked: list[str | None] = []

    def resolve(spec: str | None) -> ScriptedChatModel:
        asked.append(spec)
        return scripted()

    monkeypatch.setattr("orchestra.cli.eval_cmd.resolve_model", resolve)
    return asked


def test_cli_json_prints_one_object_with_cases_and_summary(cli_model):
    done = CliRunner().invoke(
        app, ["eval", "critic", "--cases", str(CASES), "--model", "openai:x", "--json"]
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert set(report) == {"cases", "summary"} and cli_model == ["openai:x"]
    first = report["cases"][0]
    assert {"id", "label", "verdict", "source", "reason"} <= set(first)
    assert (first["id"], first["verdict"], first["source"]) == ("empty", "fail", "check:not_empty")
    summary = report["summary"]
    assert summary["checks_alone"]["junk_caught"] == 0.75
    assert summary["checks_and_critic"]["junk_caught"] == 1.0 and summary["model_calls"] == 3


def test_cli_human_output_has_the_table_and_the_summary(cli_model):
    done = CliRunner().invoke(
        app, ["eval", "critic", "--cases", str(CASES), "--checks", "none", "--limit", "4"]
    )
    assert done.exit_code == 0, done.output
    assert cli_model == [None]  # default: ORCHESTRA_MODEL, else the embedded model
    out = done.stdout
    assert "gears-wrong" in out and "critic" in out
    assert "4 cases (4 labelled fail, 0 pass); checks none" in out
    assert "critic: accuracy 0.25, junk caught 0.25, good kept -" in out
    assert "checks alone" not in out
    assert "model calls 4" in out
    assert "loop: pass by critic (label fail, WRONG)" in done.stderr  # progress


def test_cli_bad_line_is_one_error_line_and_exit_code_2(cli_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "task": "t", "result": "r", "label": "maybe"}\n')
    done = CliRunner().invoke(app, ["eval", "critic", "--cases", str(bad)])
    assert done.exit_code == 2
    assert f"error: {bad}:1: not a critic case: label:" in done.stderr
    assert cli_model == []  # the cases are read before any model is made
