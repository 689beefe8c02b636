"""A small OTLP trace receiver on 127.0.0.1 (HTTP and gRPC), built on opentelemetry-proto.

It decodes what exporters really send, so tests check the wire format, not our objects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@dataclass(frozen=True)
class WireSpan:
    """One span as it arrived: name, ids, attributes, events and its resource."""

    name: str
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    kind: int
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    resource: dict[str, Any]
    status_code: int


@dataclass
class Received:
    """Everything a receiver got, thread-safe."""

    spans: list[WireSpan] = field(default_factory=list)
    requests: int = 0
    content_types: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._arrived = threading.Condition(self._lock)

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        found = []
        for rs in request.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    found.append(
                        WireSpan(
                            name=s.name,
                            trace_id=s.trace_id,
                            span_id=s.span_id,
                            parent_span_id=s.parent_span_id,
                            kind=s.kind,
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            events=[
                                (e.name, {a.key: _value(a.value) for a in e.attributes})
                                for e in s.events
                            ],
                            resource=resource,
                            status_code=s.status.code,
                        )
                    )
        with self._arrived:
            self.requests += 1
            self.spans.extend(found)
            self._arrived.notify_all()

    def wait_for(self, name: str, timeout_s: float = 10.0) -> list[WireSpan]:
        """Every span received once one called ``name`` has arrived."""
        with self._arrived:
            self._arrived.wait_for(lambda: any(s.name == name for s in self.spans), timeout_s)
            return list(self.spans)


@contextmanager
def http_receiver(port: int) -> Iterator[Received]:
    """Accept ``POST /v1/traces`` (protobuf) on 127.0.0.1:``port``."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/v1/traces":
                self.send_response(404)
                self.end_headers()
                return
            received.content_types.add(self.headers.get("Content-Type", ""))
            request = trace_service_pb2.ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.add(request)
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_receiver(port: int) -> Iterator[Received]:
    """Serve the OTLP ``TraceService`` over gRPC on 127.0.0.1:``port``."""
    received = Received()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's naming)
            received.add(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield received
    finally:
        server.stop(grace=None)
