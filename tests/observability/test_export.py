"""Traces on the wire: OTLP over HTTP and gRPC, the OTEL_* variables, the console."""

from __future__ import annotations

import os

import pytest
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

from orchestra import ConfigError, Tracing
from orchestra.core.home import orchestra_home
from orchestra.observability import semconv as sc
from orchestra.observability.dashboard import DashboardInfo, running_dashboard
from orchestra.testing import plan, role_spec, subtask, tool_call, verdict
from tests.conftest import free_port, make_team, run_collect
from tests.observability.otlp_receiver import WireSpan, grpc_receiver, http_receiver


def _script() -> dict[str, object]:
    return {
        "planner": [plan(subtask("a"), subtask("b", deps=["a"]))],
        "role_designer": role_spec("analyst", "Analyse.", ["word_count"]),
        "executor@a": [tool_call("word_count", {"text": "one two"}), "two words"],
        "executor@b": ["done"],
        "critic": verdict("pass"),
        "synthesizer": "answer",
    }


def _check_tree(spans: list[WireSpan], team: str) -> None:
    [run] = [s for s in spans if s.name == f"invoke_workflow {team}"]
    assert run.resource[sc.PROJECT_NAME] == team
    assert run.resource["service.name"] == "orchestra"
    assert {s.trace_id for s in spans} == {run.trace_id}
    by_id = {s.span_id: s for s in spans}
    executor = next(
        s
        for s in spans
        if s.name == "invoke_agent analyst" and s.attributes[sc.ORCHESTRA_TASK_ID] == "a"
    )
    task = by_id[executor.parent_span_id]  # the executor works inside its task's span
    assert task.name == "task a" and by_id[task.parent_span_id] is run
    assert executor.attributes[sc.ORCHESTRA_TASK_PARENT_ID] == "root"
    [tool] = [s for s in spans if s.name == "execute_tool word_count"]
    assert by_id[tool.parent_span_id] is executor
    chat = next(s for s in spans if s.name.startswith("chat "))
    assert chat.attributes[sc.OPERATION_NAME] == "chat"
    assert chat.attributes[sc.USAGE_INPUT_TOKENS] > 0
    critic = next(s for s in spans if s.name == "invoke_agent critic")
    assert critic.events[0][0] == "gen_ai.evaluation.result"


async def test_spans_reach_an_otlp_http_receiver():
    port = free_port()
    with http_receiver(port) as received:
        tracing = Tracing.otlp(f"http://127.0.0.1:{port}", batch=False)
        team, _ = make_team(_script(), tracing=tracing, name="wire-http")
        await run_collect(team)
        assert tracing.flush()
        spans = received.wait_for("invoke_workflow wire-http")
    assert received.content_types == {"application/x-protobuf"}
    _check_tree(spans, "wire-http")


async def test_spans_reach_an_otlp_grpc_receiver():
    port = free_port()
    with grpc_receiver(port) as received:
        tracing = Tracing.otlp(f"http://127.0.0.1:{port}", protocol="grpc")
        team, _ = make_team(_script(), tracing=tracing, name="wire-grpc")
        await run_collect(team)
        assert tracing.flush()
        spans = received.wait_for("invoke_workflow wire-grpc")
    _check_tree(spans, "wire-grpc")


async def test_the_standard_environment_variables_configure_export(monkeypatch):
    port = free_port()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-service")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    with http_receiver(port) as received:
        team, _ = make_team(_script(), name="from-env")
        await run_collect(team, "the goal text")
        assert team.tracing.flush()
        spans = received.wait_for("invoke_workflow from-env")
    [run] = [s for s in spans if s.name == "invoke_workflow from-env"]
    assert run.resource["service.name"] == "my-service"
    assert run.resource[sc.PROJECT_NAME] == "from-env"
    assert run.attributes[sc.ORCHESTRA_GOAL] == "the goal text"


async def test_the_console_exporter_writes_to_stderr_only(capsys):
    team, _ = make_team(_script(), tracing=Tracing.console(batch=False), name="console-team")
    await run_collect(team)
    out, err = capsys.readouterr()
    assert "invoke_workflow console-team" in err
    assert "invoke_workflow" not in out


def test_sdk_disabled_turns_every_span_into_a_no_op(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    settings = Tracing("console").settings("t")
    with settings.tracer.start_as_current_span("x") as span:
        assert not span.is_recording()


def test_bad_exporter_settings_are_config_errors(monkeypatch):
    with pytest.raises(ConfigError, match="unknown exporter"):
        Tracing("zipkin")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="protocol"):
        Tracing("otlp", protocol="http/json")  # type: ignore[arg-type]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER"):
        Tracing().settings("t")


def test_our_attribute_names_are_the_semantic_conventions():
    names = {v for k, v in vars(gen_ai_attributes).items() if k.startswith("GEN_AI_")}
    ours = {
        v
        for k, v in vars(sc).items()
        if isinstance(v, str) and v.startswith("gen_ai.") and not k.endswith("_EVENT")
    }
    assert ours <= names, ours - names
    # an event (not an attribute) of the GenAI conventions, absent from this package
    assert sc.EVALUATION_EVENT == "gen_ai.evaluation.result"


# The standard environment, the dashboard, and code: who decides where spans go.
# "{A}" is a receiver the user points at; a dashboard (another receiver) may be running.
_EXPORT_CASES = [
    # environment alone
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{A}"}, {}, False, "A"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{A}/v1/traces"}, {}, False, "A"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{A}", "OTEL_TRACES_EXPORTER": "none"}, {}, False, ""),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{A}", "OTEL_TRACES_EXPORTER": "console"}, {}, False, "C"),
    (
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "{A}", "OTEL_TRACES_EXPORTER": "otlp, console"},
        {},
        False,
        "AC",
    ),
    # environment with a dashboard running: the environment wins
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{A}"}, {}, True, "A"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{A}/v1/traces"}, {}, True, "A"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{A}", "OTEL_TRACES_EXPORTER": "none"}, {}, True, ""),
    ({"OTEL_TRACES_EXPORTER": "none"}, {}, True, ""),
    ({"OTEL_TRACES_EXPORTER": "console"}, {}, True, "C"),
    # code with a dashboard running: code wins, over the environment too
    ({}, {"exporter": "otlp", "endpoint": "{A}"}, True, "A"),
    ({}, {"endpoint": "{A}"}, True, "A"),
    ({}, {"exporter": "none"}, True, ""),
    ({}, {"exporter": "console"}, True, "C"),
    ({"OTEL_TRACES_EXPORTER": "none"}, {"endpoint": "{A}"}, True, ""),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "{D}"}, {"exporter": "otlp", "endpoint": "{A}"}, True, "A"),
    # nothing said: the dashboard, else nowhere
    ({}, {}, True, "D"),
    ({}, {}, False, ""),
]


@pytest.mark.parametrize(("env", "code", "dashboard", "expected"), _EXPORT_CASES)
def test_who_decides_where_spans_go(
    env: dict[str, str],
    code: dict[str, str],
    dashboard: bool,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    a_port, d_port = free_port(), free_port()
    urls = {"A": f"http://127.0.0.1:{a_port}", "D": f"http://127.0.0.1:{d_port}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(**urls))
    with http_receiver(a_port) as at_a, http_receiver(d_port) as at_dashboard:
        if dashboard:
            home = orchestra_home()
            home.mkdir(parents=True, exist_ok=True)
            info = DashboardInfo(url=urls["D"], pid=os.getpid())
            (home / "dashboard.json").write_text(info.model_dump_json())
            assert running_dashboard() == info
        options = {k: v.format(**urls) for k, v in code.items()}
        tracing = Tracing(batch=False, **options)  # type: ignore[arg-type]
        settings = tracing.settings("who-decides")
        with settings.tracer.start_as_current_span("the-span"):
            pass
        assert tracing.flush()
        # an export is one synchronous request, done when the span ends: no waiting needed
        names_at_a = [s.name for s in at_a.spans]
        names_at_dashboard = [s.name for s in at_dashboard.spans]
    assert names_at_a == (["the-span"] if "A" in expected else [])
    assert names_at_dashboard == (["the-span"] if "D" in expected else [])
    out, err = capsys.readouterr()
    assert ('"name": "the-span"' in err) == ("C" in expected)
    assert "the-span" not in out
    if not expected:
        assert settings.tracing_off() or not _exports(settings.provider)


def _exports(provider: object) -> bool:
    """Whether an SDK tracer provider has any span processor (that could export)."""
    active = getattr(provider, "_active_span_processor", None)
    return bool(getattr(active, "_span_processors", ()))


def test_an_unknown_exporter_in_a_list_is_a_config_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,zipkin")
    with pytest.raises(ConfigError, match="zipkin"):
        Tracing().settings("t")
