"""Job outcomes cross the LangGraph task boundary as JSON and come back typed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from orchestra.core.record import ToolCallRecord
from orchestra.core.tree import Verdict
from orchestra.core.usage import Usage
from orchestra.engine.outcomes import (
    AttemptOutcome,
    BudgetStopped,
    DesignOutcome,
    JobNotice,
)

CALL = ToolCallRecord(
    key="k",
    task_id="a",
    attempt=1,
    tool="search",
    args={"q": "x"},
    ok=True,
    result="found",
    error=None,
    side_effects=False,
    tries=1,
    duration_s=0.01,
    started_at=None,
)


def test_an_attempt_outcome_survives_its_json_form():
    out = AttemptOutcome(
        job="attempt.a.1",
        usage=Usage(input_tokens=3, output_tokens=2, model_calls=1),
        output="done",
        verdict=Verdict(verdict="pass", reason="ok"),
        tool_calls=[CALL],
        finished_at=datetime(2026, 12, 4, tzinfo=UTC),
        notices=[JobNotice(kind="critic_fallback", message="m")],
    )
    back = AttemptOutcome.read(out.model_dump(mode="json"))
    assert back == out and not back.waits


def test_a_budget_stop_is_read_back_whatever_kind_of_job_stopped():
    data = BudgetStopped(reason="1 model calls spent of 1", scope="top", ran=True).model_dump(
        mode="json"
    )
    back = DesignOutcome.read(data)
    assert isinstance(back, BudgetStopped) and back.scope == "top" and back.ran


def test_an_outcome_of_another_kind_or_a_bad_notice_is_an_error_not_a_default():
    with pytest.raises(ValidationError):
        DesignOutcome.read(AttemptOutcome(output="x").model_dump(mode="json"))
    with pytest.raises(ValidationError):
        JobNotice.model_validate({"kind": "not_a_kind", "message": "m"})
