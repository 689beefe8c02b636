"""The final answer: the synthesizer, the goal's lead, writes it and the critic judges it.

The goal is the root of the task tree, and its result is judged like any inner task's:
a ``retry`` (or ``replan``) verdict has the answer written again with the critic's reason,
up to ``max_attempts`` answers. An answer the critic never accepts still stands (the
work is never thrown away), with an ``answer_rejected`` notice a user cannot miss.
Without leads (``Team(leads=False)``), or with neither a critic nor checks, the first
answer is taken as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestra.agents.synthesizer import synthesize, synthesize_typed
from orchestra.core.errors import BudgetExceeded
from orchestra.core.record import MissingTask
from orchestra.core.tree import ROOT_ID, TaskTree, Verdict
from orchestra.engine.emit import Emitter
from orchestra.engine.jobs import judged
from orchestra.engine.outcomes import JobNotice
from orchestra.engine.runtime import TeamRuntime
from orchestra.observability.spans import agent_span

__all__ = ["FinalAnswer", "final_answer"]


@dataclass(slots=True)
class FinalAnswer:
    """What synthesis came to."""

    output: str | None = None
    """The last answer written (None: the synthesizer never answered)."""
    notices: list[JobNotice] = field(default_factory=list)
    """Notices to raise on the goal."""
    stop: BudgetExceeded | None = None
    """The budget ran out before any answer was written."""


async def final_answer(
    rt: TeamRuntime, tree: TaskTree, run_id: str, missing: list[MissingTask]
) -> FinalAnswer:
    """Write the answer to the goal from ``tree`` and have it judged (see the module docs).

    The verdicts go on the root node (``tree.root.verdicts``) and out as events.
    """
    judging = rt.leads and (rt.critic or bool(rt.checks))
    tries = rt.limits.max_attempts if judging else 1
    out = FinalAnswer()
    feedback: str | None = None
    verdict: Verdict | None = None
    emit = Emitter(run_id)
    for attempt in range(1, tries + 1):
        with agent_span("synthesizer", task=tree.root, attempt=attempt, run_id=run_id):
            try:
                answer = await _write(rt, tree, missing, feedback)
            except BudgetExceeded as exc:
                if out.output is None:  # every task's result stays; a resume synthesizes
                    out.stop = exc
                else:
                    out.notices.append(_unjudged(str(exc)))
                return out
            if answer is None:  # an empty reply: an earlier answer, if any, stands
                break
            out.output = answer
            if not judging:
                break
            try:
                verdict = await judged(rt, tree, ROOT_ID, attempt, run_id, answer, out.notices)
            except BudgetExceeded as exc:
                out.notices.append(_unjudged(str(exc)))
                return out
        tree.root.attempts = attempt
        tree.root.verdicts.append(verdict)
        emit.verdict(ROOT_ID, verdict)
        if verdict.verdict == "pass":
            return out
        if verdict.verdict == "fail":  # a check says no rewrite will do
            break
        feedback = verdict.reason
    if verdict is not None and verdict.verdict != "pass" and out.output is not None:
        out.notices.append(
            JobNotice(
                kind="answer_rejected",
                message=f"the final answer was not accepted ({verdict.source}: {verdict.reason});"
                " the last one written stands",
            )
        )
    return out


async def _write(
    rt: TeamRuntime, tree: TaskTree, missing: list[MissingTask], feedback: str | None
) -> str | None:
    """One answer: text, or a typed answer's JSON text (its data kept on the goal's node).

    Raises:
        ModelBehaviorError: a typed answer stayed invalid after the repair rounds.
    """
    model = rt.model_for_agent("synthesizer")
    repairs = rt.limits.max_repairs
    if rt.output is None:
        return await synthesize(
            model, tree, max_repairs=repairs, missing=missing, feedback=feedback
        )
    value = await synthesize_typed(
        model, tree, rt.output, max_repairs=repairs, missing=missing, feedback=feedback
    )
    tree.root.output = rt.output.to_json(value)
    return rt.output.text(value)


def _unjudged(why: str) -> JobNotice:
    return JobNotice(
        kind="answer_rejected",
        message=f"the final answer could not be judged ({why}); it stands unchecked",
    )
