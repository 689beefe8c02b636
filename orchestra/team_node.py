"""A team as a node of your own LangGraph graph.

``builder.add_node("research", team.as_node())`` runs the team on the goal in the
graph's state (``state["goal"]``) and writes its answer back (``{"answer": ...}``: typed,
when the team has an ``output_type``). The team's run lives in the parent graph's own
checkpointer and thread:

* its id is the parent's thread and the node's place in the graph, so the parent's resume
  (the same ``thread_id``) goes on with the same team run, finished work kept;
* it is checkpointed on the parent's checkpointer (the team's own when the parent has
  none);
* when the team waits for a person, the node calls LangGraph's ``interrupt`` with the
  pending requests (``{"run_id", "pending": [...]}``): the parent graph stops with that
  interrupt, and ``Command(resume={request_id: {"decision": "approve"}, ...})``, naming
  every pending request, goes on, as many rounds as the team asks; an answer the team
  would refuse (not a decision for every pending request, or one that does not fit its
  request: an invalid edited plan, ``edit_plan`` for a tool call, ``edit_args`` for the
  plan) is not passed on: the node interrupts again with the same requests and an
  ``error`` saying why;
* its events reach the parent's ``stream_mode="custom"`` stream, as JSON, named under the
  node's run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.types import interrupt
from pydantic import ValidationError

from orchestra.core.approval import ApprovalRequest, Decision, DecisionAdapter, decisions_for
from orchestra.core.errors import InputError
from orchestra.core.events import EventBase
from orchestra.core.record import RunStatus

if TYPE_CHECKING:
    from orchestra.team import Team

__all__ = ["TeamNode", "team_node"]

TeamNode = Callable[[Mapping[str, Any], RunnableConfig], Awaitable[dict[str, Any]]]
"""A LangGraph node function: the state in, the state update out."""


def team_node(
    team: Team[Any],
    *,
    goal: str | Callable[[Mapping[str, Any]], str] = "goal",
    output: str = "answer",
    run_id_key: str | None = None,
) -> TeamNode:
    """``team`` as a node (see the module docstring and :meth:`Team.as_node`)."""

    async def node(state: Mapping[str, Any], config: RunnableConfig) -> dict[str, Any]:
        text = goal(state) if callable(goal) else state.get(goal)
        if not isinstance(text, str):
            where = "the goal function" if callable(goal) else f"state[{goal!r}]"
            raise InputError(f"team node {team.name!r}: {where} is not a text goal: {text!r}")
        configurable = config.get("configurable") or {}
        thread = configurable.get("thread_id")
        place = configurable.get("checkpoint_ns") or team.name
        run_id = f"{thread}/{place}" if thread is not None else None
        if run_id is None:
            raise InputError(
                f"team node {team.name!r} needs a thread: compile the graph with a"
                " checkpointer and invoke it with config={'configurable': {'thread_id': ...}}"
            )
        saver = configurable.get(CONFIG_KEY_CHECKPOINTER)
        writer = get_stream_writer()

        def forward(event: EventBase) -> None:
            writer(event.model_dump(mode="json"))

        decisions: dict[str, Decision] | None = None
        while True:
            result = await team.run_nested(
                text, run_id=run_id, saver=saver, decisions=decisions, sink=forward
            )
            if result.status is not RunStatus.AWAITING_APPROVAL:
                break
            waiting: dict[str, Any] = {
                "run_id": run_id,
                "pending": [r.model_dump(mode="json") for r in result.pending],
            }
            decisions = None
            while decisions is None:
                # A node re-runs from its start on every resume, and LangGraph hands its
                # interrupts the resume values in order: answers to earlier rounds (or
                # refused ones, said in the next interrupt) come first; ask on. The same
                # answer to the same requests is refused the same way on every re-run, so
                # the interrupts line up with their answers.
                decisions, problem = _decisions(team, result.pending, interrupt(waiting))
                waiting["error"] = problem
        update: dict[str, Any] = {output: result.output}
        if run_id_key is not None:
            update[run_id_key] = run_id
        return update

    node.__name__ = f"team_{team.name}".replace("-", "_")
    return node


def _decisions(
    team: Team[Any], pending: list[ApprovalRequest], answer: object
) -> tuple[dict[str, Decision] | None, str | None]:
    """The decisions a resume value holds for ``pending``, or None and what was wrong.

    A mapping naming other requests is an earlier round's answer (no error); anything
    else that is not a decision for every pending request, each fitting its request as
    the team checks it (:func:`~orchestra.core.approval.decisions_for`, under the team's
    limits), is said back to the person.
    """
    ids = [r.id for r in pending]
    usage = (
        "resume with Command(resume={request_id: decision, ...}) naming every pending"
        f" request ({ids})"
    )
    if not isinstance(answer, Mapping) or "decision" in answer:
        return None, f"{usage}; got {answer!r}"
    if not set(ids) <= {str(k) for k in answer}:
        return None, None
    try:
        given = {rid: DecisionAdapter.validate_python(answer[rid]) for rid in ids}
    except ValidationError as exc:
        return None, f"{usage}; a decision is not valid: {exc.errors()[0]['msg']}"
    limits = team.runtime.limits
    try:
        checked = decisions_for(
            pending,
            given,
            max_depth=limits.max_depth,
            max_tasks=limits.max_tasks_per_level,
            check_args=team.runtime.approved_args_problem,
        )
    except InputError as exc:  # passed on, the team would raise it on every resume
        return None, str(exc)
    return checked, None
