"""How well the checks and the critic tell good results from junk, on labelled cases.

A case is one JSONL line ``{"id", "task", "criteria", "result", "label"}`` (``label``:
``pass`` or ``fail``; ``criteria`` a list of strings, may be missing; ``id`` and
``task`` not blank; other fields are ignored). Each case is judged exactly as a run
judges an attempt (``orchestra.engine.jobs.judged``): the checks first, through
:func:`~orchestra.core.checks.run_checks`, on the task as a :class:`CheckedTask` (no tool
outputs); the critic (:func:`orchestra.agents.critic.judge`) only when every check
passed, on a task tree whose goal is the case's task and whose one leaf task carries the
task text and the criteria. A ``retry``, ``replan`` or ``fail`` verdict counts as
``fail``. A critic whose reply stays invalid after its repair rounds makes the case an
``error`` (a run with fallbacks would accept that result unchecked); an error is scored
as wrong whatever the label.

Over the cases, for the checks alone (a result the checks pass counts as ``pass``) and
for the checks and the critic together: accuracy, junk caught (recall on ``fail``) and
good kept (recall on ``pass``); model calls, tokens and time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestra.agents.calls import metered
from orchestra.agents.critic import judge
from orchestra.core.checks import Check, CheckedTask, run_checks
from orchestra.core.errors import InputError, ModelBehaviorError
from orchestra.core.tree import ROOT_ID, TaskNode, TaskTree, Verdict, VerdictKind
from orchestra.core.usage import DEFAULT_PRICES
from orchestra.evals.jsonl import parse_line, read_lines, validation_problems

__all__ = [
    "CaseVerdict",
    "CriticCase",
    "CriticEvalReport",
    "CriticEvalSummary",
    "JudgeScores",
    "Label",
    "case_tree",
    "evaluate_critic",
    "judge_case",
    "load_cases",
    "parse_cases",
    "summarize",
]

Label = Literal["pass", "fail"]
"""What a case's result deserves, and what a judge said of it."""

LEAF_ID = "t1"
"""The id of the case's task in the critic's tree. Not the case id: case ids may carry
their label (``remote-junk-title``), and the critic sees the task id in its prompt."""

_MAX_DEPTH = 3


class CriticCase(BaseModel):
    """One labelled result: the task, its acceptance criteria, the result and its label."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    id: str = Field(min_length=1)
    task: str = Field(min_length=1)
    criteria: list[str] = Field(default_factory=list)
    result: str
    label: Label

    @field_validator("criteria", mode="before")
    @classmethod
    def _no_criteria(cls, value: object) -> object:
        return [] if value is None else value

    @field_validator("id", "task")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CaseVerdict(BaseModel):
    """What the judge said of one case (``orchestra eval critic --json``: ``cases[]``)."""

    id: str
    label: Label
    verdict: Literal["pass", "fail", "error"]
    """``pass`` or ``fail`` (any verdict but ``pass``), or ``error``: the critic's reply
    stayed invalid after its repairs."""
    source: str
    """Who decided: ``check:<name>`` or ``critic``."""
    reason: str
    kind: VerdictKind | None
    """The verdict as given (``pass``, ``retry``, ``replan`` or ``fail``); None on an error."""
    checks_verdict: Label | None
    """What the checks alone said (``pass`` when every check passed); None without checks."""
    correct: bool
    """Whether ``verdict`` is ``label`` (an error never is)."""
    error: str | None = None
    """On an ``error`` verdict: why the critic's replies were rejected."""
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    checks_ms: float = 0.0
    """Time the checks took on this result."""
    seconds: float = 0.0


class JudgeScores(BaseModel):
    """How often one judge (the checks alone, or checks and critic) agrees with the labels."""

    correct: int
    accuracy: float
    junk_caught: float | None
    """Recall on label ``fail`` (None: no such case)."""
    good_kept: float | None
    """Recall on label ``pass`` (None: no such case)."""


class CriticEvalSummary(BaseModel):
    """Scores and costs over the cases (``orchestra eval critic --json``: ``summary``)."""

    n: int
    n_pass: int
    """Cases labelled ``pass``."""
    n_fail: int
    """Cases labelled ``fail``."""
    checks: Literal["default", "none", "custom"]
    model: str
    checks_alone: JudgeScores | None
    """The checks on their own (a result they pass counts as ``pass``); None without checks."""
    checks_and_critic: JudgeScores
    caught_by_checks: int
    """Cases a check failed (the critic was not asked)."""
    critic_cases: int
    """Cases that reached the critic."""
    errors: int
    """Cases whose critic reply stayed invalid."""
    model_calls: int
    input_tokens: int
    output_tokens: int
    seconds: float
    checks_ms_median: float | None
    """The checks' median time per result (None without checks)."""
    checks_ms_mean: float | None
    checks_ms_max: float | None
    """The checks' longest time on one result: it includes loading whatever a check loads
    on first use (the embedding model of ``on_topic``)."""


class CriticEvalReport(BaseModel):
    """``orchestra eval critic --json`` prints this."""

    cases: list[CaseVerdict]
    summary: CriticEvalSummary


# -- loading ---------------------------------------------------------------------------


def load_cases(path: str | Path, *, limit: int | None = None) -> list[CriticCase]:
    """The cases of a JSONL file (blank lines skipped), the first ``limit`` of them.

    Raises:
        InputError: the file cannot be read, has no case, or a line is not a valid case
            (not JSON, a field missing or of the wrong type, a label other than ``pass``
            or ``fail``, an id seen before); the message names the file and the line.
    """
    return parse_cases(read_lines(path), str(path), limit=limit)


def parse_cases(lines: Iterable[str], where: str, *, limit: int | None = None) -> list[CriticCase]:
    """The cases in ``lines`` (see :func:`load_cases`); ``where`` names them in errors."""
    cases: list[CriticCase] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if limit is not None and len(cases) >= limit:
            break
        data = parse_line(line, where, number)
        if not isinstance(data, dict):
            raise InputError(f"{where}:{number}: not a JSON object")
        try:
            case = CriticCase.model_validate(data)
        except ValidationError as exc:
            raise InputError(
                f"{where}:{number}: not a critic case: {validation_problems(exc)}"
            ) from exc
        if case.id in seen:
            raise InputError(f"{where}:{number}: case id {case.id!r} appears twice in the file")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise InputError(f"{where}: no cases")
    return cases


# -- judging ---------------------------------------------------------------------------


def case_tree(case: CriticCase) -> TaskTree:
    """The task tree the critic sees: the task as the goal, and as its one leaf task."""
    tree = TaskTree.for_goal(case.task, _MAX_DEPTH)
    tree.add(
        [
            TaskNode(
                id=LEAF_ID,
                parent_id=ROOT_ID,
                title=case.task,
                description="",
                acceptance_criteria=list(case.criteria),
                depth=1,
            )
        ]
    )
    return tree


def _as_label(kind: VerdictKind) -> Label:
    return "pass" if kind == "pass" else "fail"


async def judge_case(
    model: BaseChatModel,
    case: CriticCase,
    checks: Sequence[Check],
    *,
    max_repairs: int = 2,
) -> CaseVerdict:
    """Judge ``case`` as a run judges an attempt: the checks, then (if they pass) the critic.

    Raises:
        CheckError: a check raised something other than ``CheckFailed`` (a bug in it).
    """
    tree = case_tree(case)
    node = tree.get(LEAF_ID)
    task = CheckedTask(
        id=case.id,
        title=node.title,
        description=node.description,
        criteria=tuple(node.acceptance_criteria),
    )
    start = time.perf_counter()
    checks_verdict: Label | None = None
    verdict: Verdict | None = None
    error: str | None = None
    with metered(DEFAULT_PRICES) as meter:
        failed = await run_checks(checks, task, case.result) if checks else None
        checks_ms = (time.perf_counter() - start) * 1000
        if checks:
            checks_verdict = "pass" if failed is None else "fail"
        if failed is not None:
            verdict = Verdict(verdict=failed.verdict, reason=failed.reason, source=failed.source)
        else:
            try:
                verdict = await judge(model, tree, LEAF_ID, case.result, max_repairs=max_repairs)
            except ModelBehaviorError as err:
                error = "; ".join(err.errors) or str(err)
    usage = meter.usage
    said: Literal["pass", "fail", "error"] = (
        "error" if verdict is None else _as_label(verdict.verdict)
    )
    return CaseVerdict(
        id=case.id,
        label=case.label,
        verdict=said,
        source=verdict.source if verdict is not None else "critic",
        reason=verdict.reason if verdict is not None else f"no valid critic verdict ({error})",
        kind=verdict.verdict if verdict is not None else None,
        checks_verdict=checks_verdict,
        correct=said == case.label,
        error=error,
        model_calls=usage.model_calls,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        checks_ms=round(checks_ms, 3),
        seconds=round(time.perf_counter() - start, 3),
    )


def _scores(pairs: Sequence[tuple[Label, str]]) -> JudgeScores:
    """Agreement of (label, said) pairs; ``said`` other than pass/fail is always wrong."""

    def recall(label: Label) -> float | None:
        said = [s for lab, s in pairs if lab == label]
        return round(sum(s == label for s in said) / len(said), 4) if said else None

    correct = sum(label == said for label, said in pairs)
    return JudgeScores(
        correct=correct,
        accuracy=round(correct / len(pairs), 4) if pairs else 0.0,
        junk_caught=recall("fail"),
        good_kept=recall("pass"),
    )


def summarize(
    verdicts: Sequence[CaseVerdict],
    *,
    checks: Literal["default", "none", "custom"],
    model: str,
    seconds: float,
) -> CriticEvalSummary:
    """The summary of ``verdicts`` (see the module docstring)."""
    with_checks = checks != "none"
    alone = [(v.label, v.checks_verdict or "pass") for v in verdicts]
    times = [v.checks_ms for v in verdicts]
    return CriticEvalSummary(
        n=len(verdicts),
        n_pass=sum(v.label == "pass" for v in verdicts),
        n_fail=sum(v.label == "fail" for v in verdicts),
        checks=checks,
        model=model,
        checks_alone=_scores(alone) if with_checks else None,
        checks_and_critic=_scores([(v.label, v.verdict) for v in verdicts]),
        caught_by_checks=sum(v.source.startswith("check:") for v in verdicts),
        critic_cases=sum(v.source == "critic" for v in verdicts),
        errors=sum(v.verdict == "error" for v in verdicts),
        model_calls=sum(v.model_calls for v in verdicts),
        input_tokens=sum(v.input_tokens for v in verdicts),
        output_tokens=sum(v.output_tokens for v in verdicts),
        seconds=round(seconds, 3),
        checks_ms_median=round(statistics.median(times), 3) if with_checks and times else None,
        checks_ms_mean=round(statistics.mean(times), 3) if with_checks and times else None,
        checks_ms_max=round(max(times), 3) if with_checks and times else None,
    )


async def evaluate_critic(
    model: BaseChatModel,
    cases: Sequence[CriticCase],
    checks: Sequence[Check],
    *,
    checks_name: Literal["default", "none", "custom"] = "custom",
    model_name: str = "",
    max_repairs: int = 2,
    on_case: Callable[[CaseVerdict], None] | None = None,
) -> CriticEvalReport:
    """Judge every case, one after the other, and score the judges (module docstring).

    ``checks_name`` and ``model_name`` only label the summary; ``on_case`` hears of each
    verdict as it is given.

    Raises:
        CheckError: a check raised something other than ``CheckFailed`` (a bug in it).
    """
    start = time.perf_counter()
    verdicts: list[CaseVerdict] = []
    for case in cases:
        verdict = await judge_case(model, case, checks, max_repairs=max_repairs)
        verdicts.append(verdict)
        if on_case is not None:
            on_case(verdict)
    if not checks:
        checks_name = "none"
    elif checks_name == "none":
        checks_name = "custom"
    summary = summarize(
        verdicts,
        checks=checks_name,
        model=model_name,
        seconds=time.perf_counter() - start,
    )
    return CriticEvalReport(cases=verdicts, summary=summary)
