"""Where traces go: a team's tracer provider, exporters, and the ``OTEL_*`` variables.

Nothing is exported unless the user says so: in code (``Tracing.otlp(...)``), with the
standard environment variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_EXPORTER``
and friends), or by running ``orchestra dashboard``. What the user says wins over the
dashboard; see :meth:`Tracing.provider_for` for the order.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Literal, TypedDict, Unpack, get_args
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import NoOpTracerProvider
from opentelemetry.trace import TracerProvider as AnyTracerProvider

from orchestra.core.errors import ConfigError
from orchestra.observability.dashboard import running_dashboard
from orchestra.observability.redact import Redactor
from orchestra.observability.semconv import PROJECT_NAME
from orchestra.observability.spans import CAPTURE_CONTENT_ENV, TraceSettings

__all__ = ["ExporterName", "OtlpProtocol", "Tracing", "TracingOptions"]

ExporterName = Literal["none", "console", "otlp"]
OtlpProtocol = Literal["http/protobuf", "grpc"]

_TRACES_PATH = "/v1/traces"
_ENDPOINT_ENV = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class TracingOptions(TypedDict, total=False):
    """The options of :class:`Tracing` that every exporter shares."""

    headers: Mapping[str, str]
    project: str
    capture_content: bool
    redact: Sequence[str]
    redact_patterns: Sequence[str]
    batch: bool


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class Tracing:
    """How a team's runs are traced.

    With no arguments the environment decides, as OpenTelemetry's own SDKs read it:
    ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none`` or a comma-separated list),
    ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` (alone, it turns on OTLP export, OTLP being
    OpenTelemetry's default exporter), ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL``,
    ``..._HEADERS``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
    ``OTEL_SDK_DISABLED`` and ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``. When
    none of these (nor an exporter or endpoint in code) is set, spans go to a dashboard
    started by ``orchestra dashboard`` (found through ``$ORCHESTRA_HOME``), or else
    OpenTelemetry's global tracer provider: nowhere, unless the application configured
    one.

    Args:
        exporter: ``"otlp"``, ``"console"`` (to stderr, so ``--json`` output stays clean),
            ``"none"``, or any SDK ``SpanExporter``; None: ``OTEL_TRACES_EXPORTER``, else
            ``"otlp"`` when an endpoint is set (here or in the environment).
        endpoint: the OTLP endpoint. For HTTP a bare ``http://host:port`` gets
            ``/v1/traces`` appended; None: the exporter reads ``OTEL_EXPORTER_OTLP_*``.
        protocol: ``"http/protobuf"`` (default) or ``"grpc"``.
        headers: extra headers for OTLP (e.g. an API key of a hosted backend).
        project: the Phoenix project (``openinference.project.name``); None: the team's name.
        provider: use this tracer provider as it is (every other exporter option is ignored).
        capture_content: record prompts, replies, tool arguments and results, goals and
            task titles; None: ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
        redact: values to hide wherever they appear (added to the built-in secret rules).
        redact_patterns: regular expressions whose matches are hidden.
        batch: export in batches in the background (True) or span by span as they end.
    """

    def __init__(
        self,
        exporter: SpanExporter | ExporterName | None = None,
        *,
        endpoint: str | None = None,
        protocol: OtlpProtocol | None = None,
        headers: Mapping[str, str] | None = None,
        project: str | None = None,
        provider: AnyTracerProvider | None = None,
        capture_content: bool | None = None,
        redact: Sequence[str] = (),
        redact_patterns: Sequence[str] = (),
        batch: bool = True,
    ) -> None:
        if isinstance(exporter, str) and exporter not in get_args(ExporterName):
            raise ConfigError(f"unknown exporter {exporter!r}; use one of {get_args(ExporterName)}")
        if protocol is not None and protocol not in get_args(OtlpProtocol):
            raise ConfigError(f"unknown OTLP protocol {protocol!r}; use http/protobuf or grpc")
        self.exporter = exporter
        self.endpoint = endpoint
        self.protocol = protocol
        self.headers = dict(headers or {})
        self.project = project
        self.provider = provider
        self.capture_content = capture_content
        self.redactor = Redactor(redact, patterns=redact_patterns)
        self.batch = batch
        self._built: dict[str, TracerProvider] = {}
        self._lock = threading.Lock()

    @classmethod
    def console(cls, **options: Unpack[TracingOptions]) -> Tracing:
        """Print every span to stderr."""
        return cls("console", **options)

    @classmethod
    def otlp(
        cls,
        endpoint: str | None = None,
        *,
        protocol: OtlpProtocol = "http/protobuf",
        **options: Unpack[TracingOptions],
    ) -> Tracing:
        """Send spans over OTLP (Phoenix, Jaeger, Langfuse, Grafana Tempo, any collector)."""
        return cls("otlp", endpoint=endpoint, protocol=protocol, **options)

    @classmethod
    def phoenix(
        cls, url: str = "http://127.0.0.1:6006", **options: Unpack[TracingOptions]
    ) -> Tracing:
        """Send spans to a Phoenix server (``orchestra dashboard`` starts one)."""
        return cls.otlp(url.rstrip("/") + _TRACES_PATH, **options)

    def settings(self, team_name: str) -> TraceSettings:
        """The trace settings for a team called ``team_name``."""
        capture = self.capture_content
        if capture is None:
            capture = os.environ.get(CAPTURE_CONTENT_ENV, "").lower() in ("1", "true", "yes")
        return TraceSettings(
            provider=self.provider_for(self.project or team_name),
            capture_content=capture,
            redactor=self.redactor,
        )

    def provider_for(self, project: str) -> AnyTracerProvider | None:
        """The provider spans of ``project`` go to (None: the global one); built once.

        The first of these that is set decides: a ``provider`` given in code;
        ``OTEL_SDK_DISABLED=true`` (nothing is recorded); an ``exporter`` given in code;
        ``OTEL_TRACES_EXPORTER``; an endpoint in code or in ``OTEL_EXPORTER_OTLP_ENDPOINT``
        / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP); a running ``orchestra dashboard``.

        Raises:
            ConfigError: ``OTEL_TRACES_EXPORTER`` names an exporter orchestra does not have.
        """
        if self.provider is not None:
            return self.provider
        if _env("OTEL_SDK_DISABLED") == "true":
            return NoOpTracerProvider()
        exporters, endpoint = self._exporters()
        if exporters is None:
            dashboard = running_dashboard()
            if dashboard is None:
                return None
            exporters, endpoint = ["otlp"], dashboard.traces_endpoint
        with self._lock:
            if project not in self._built:
                self._built[project] = self._build(exporters, project, endpoint)
            return self._built[project]

    def _exporters(self) -> tuple[list[SpanExporter | str] | None, str | None]:
        """The exporters the user asked for, in code or environment (None: no word)."""
        if self.exporter is not None:
            return [self.exporter], self.endpoint
        named = _env("OTEL_TRACES_EXPORTER")
        if named is not None:
            names = [n.strip() for n in named.split(",") if n.strip()]
            for name in names:
                if name not in get_args(ExporterName):
                    raise ConfigError(
                        f"OTEL_TRACES_EXPORTER={named!r} is not supported;"
                        " use otlp, console, none or a comma-separated list of them"
                    )
            return [n for n in names if n != "none"], self.endpoint
        if self.endpoint is not None or _env(*_ENDPOINT_ENV):
            return ["otlp"], self.endpoint
        return None, None

    def flush(self, timeout_ms: int = 30_000) -> bool:
        """Export every finished span now; False if some could not be sent in time."""
        providers = [self.provider] if self.provider is not None else list(self._built.values())
        ok = True
        for provider in providers:
            flush = getattr(provider, "force_flush", None)
            if callable(flush):
                ok = bool(flush(timeout_ms)) and ok
        return ok

    def _build(
        self, exporters: Sequence[SpanExporter | str], project: str, endpoint: str | None
    ) -> TracerProvider:
        provider = TracerProvider(resource=_resource(project))
        for exporter in exporters:
            if exporter == "none":
                continue
            if isinstance(exporter, str):
                exporter = self._named_exporter(exporter, endpoint)
            processor: SpanProcessor = (
                BatchSpanProcessor(exporter) if self.batch else SimpleSpanProcessor(exporter)
            )
            provider.add_span_processor(processor)
        return provider

    def _named_exporter(self, name: str, endpoint: str | None) -> SpanExporter:
        if name == "console":
            return ConsoleSpanExporter(out=sys.stderr)
        if name != "otlp":
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER={name!r} is not supported; use otlp, console or none"
            )
        protocol = self.protocol or _env(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
        )
        protocol = protocol or "http/protobuf"
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            insecure = endpoint.startswith("http://") if endpoint else None
            return GrpcExporter(endpoint=endpoint, insecure=insecure, headers=self.headers or None)
        if protocol != "http/protobuf":
            raise ConfigError(
                f"OTLP protocol {protocol!r} is not supported; use http/protobuf or grpc"
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter(endpoint=_http_endpoint(endpoint), headers=self.headers or None)


def _http_endpoint(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + _TRACES_PATH
    return endpoint


def _resource(project: str) -> Resource:
    """The service (``OTEL_SERVICE_NAME`` or ``orchestra``) and the Phoenix project."""
    attributes: dict[str, str] = {}
    if not _env("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "orchestra"
    if PROJECT_NAME not in (_env("OTEL_RESOURCE_ATTRIBUTES") or ""):
        attributes[PROJECT_NAME] = project
    return Resource.create(attributes)
