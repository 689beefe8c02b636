"""Fixtures for tracing tests: an in-memory span exporter behind a team's Tracing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestra import Tracing


class Spans:
    """The finished spans of a test, with lookups by name and attribute."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.provider = provider

    def tracing(self, **options: object) -> Tracing:
        return Tracing(provider=self.provider, **options)  # type: ignore[arg-type]

    @property
    def all(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name.startswith(prefix)]

    def one(self, name: str, **attrs: object) -> ReadableSpan:
        found = [
            s
            for s in self.all
            if s.name == name and all(s.attributes.get(k) == v for k, v in attrs.items())
        ]
        assert len(found) == 1, f"{len(found)} spans {name} {attrs}: {[s.name for s in self.all]}"
        return found[0]

    def parent_of(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        by_id = {s.context.span_id: s for s in self.all}
        return by_id.get(span.parent.span_id)


@pytest.fixture
def spans() -> Spans:
    return Spans()
