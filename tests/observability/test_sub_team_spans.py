"""A sub-team's trace nests under the span of the task delegated to it."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

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
    [find] = [s for s in exported if s.name == "task find: Find the rules"]
    assert chain(find)[1] == "invoke_workflow legal"
