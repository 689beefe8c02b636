"""A sub-team's trace nests under the span of the task delegated to it."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from orchestra import RunStatus
from tests.conftest import run_collect
from tests.engine.test_sub_teams import _legal, _parent
from tests.observability.conftest import Spans


async def test_the_sub_team_trace_nests_under_the_task_span(spans: Spans):
    sub, _ = _legal()
    team, _ = _parent(sub, tracing=spans.tracing(capture_content=True), name="parent")
    result, _ = await run_collect(team)
    assert result.status is RunStatus.SUCCEEDED
    exported = spans.all

    def chain(span: ReadableSpan) -> list[str]:
        names = []
        node: ReadableSpan | None = span
        while node is not None:
            names.append(node.name)
            node = spans.parent_of(node)
        return names

    [sub_run] = [s for s in exported if s.name == "invoke_workflow legal"]
    assert chain(sub_run)[1:] == [
        "invoke_agent legal",
        "task law: Check the law",
        "invoke_workflow parent",
    ]
    # the sub-team's spans name its tasks as the parent run does: one tree in one trace
    [find] = [s for s in exported if s.name == "task law/find: Find the rules"]
    assert chain(find)[1] == "invoke_workflow legal"
    attrs = find.attributes or {}
    assert (
        attrs["orchestra.task.id"],
        attrs["orchestra.task.parent_id"],
        attrs["orchestra.task.depth"],
    ) == ("law/find", "law", 2)
    assert (sub_run.attributes or {})["orchestra.task.id"] == "law"
    inside = [s for s in exported if "invoke_workflow legal" in chain(s)[1:]]
    assert len(inside) > 5
    assert all(str((s.attributes or {})["orchestra.task.id"]).startswith("law") for s in inside)
    # a finished run and the agents that did their part end OK, not unset
    [run] = [s for s in exported if s.name == "invoke_workflow parent"]
    assert run.status.status_code is StatusCode.OK
    planners = [s for s in exported if (s.attributes or {}).get("orchestra.agent") == "planner"]
    assert planners and all(p.status.status_code is StatusCode.OK for p in planners)
