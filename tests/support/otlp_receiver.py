"""A real OTLP receiver on loopback (HTTP/protobuf, optionally gRPC) that records what it got.

Tests read exported telemetry from here, never from the SDK's memory: what a collector would
receive is what we assert.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SPAN_KINDS = {
    0: "UNSPECIFIED",
    1: "INTERNAL",
    2: "SERVER",
    3: "CLIENT",
    4: "PRODUCER",
    5: "CONSUMER",
}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as the Python value it encodes."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes_of(key_values: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in key_values}


@dataclass
class ReceivedSpan:
    """One span as a collector received it."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: str
    status_message: str
    events: list[tuple[str, dict[str, Any]]]
    resource: dict[str, Any]
    scope: str
    start_ns: int
    end_ns: int
    client_port: int = 0
    """Local port of the connection that brought the span (OTLP/HTTP only)."""
    links: list[tuple[str, str]] = field(default_factory=list)
    """(trace id, span id) of each span link."""

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass
class ReceivedPoint:
    """One histogram or sum data point of a metric."""

    metric: str
    attributes: dict[str, Any]
    count: int
    sum: float
    bucket_bounds: tuple[float, ...]


@dataclass
class Received:
    spans: list[ReceivedSpan] = field(default_factory=list)
    points: list[ReceivedPoint] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


class OTLPReceiver:
    """Collects spans and metrics sent to ``self.endpoint`` (HTTP) / ``self.grpc_endpoint``."""

    def __init__(
        self, respond: Callable[[str], int | tuple[int, dict[str, str]]] | None = None
    ) -> None:
        self.received = Received()
        self._changed = threading.Condition()
        self.respond = respond or (lambda path: 200)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._grpc_server: Any = None
        self.grpc_endpoint: str | None = None
        threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    # --- reading ---------------------------------------------------------------------------

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self.received.spans)

    def clear(self) -> None:
        with self._changed:
            self.received = Received()

    def wait_for_spans(
        self,
        count: int = 1,
        timeout: float = 10.0,
        where: Callable[[ReceivedSpan], bool] = lambda span: True,
    ) -> list[ReceivedSpan]:
        """Wait until at least ``count`` spans matching ``where`` arrived; return those."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [span for span in self.received.spans if where(span)]
                remaining = deadline - time.monotonic()
                if len(matching) >= count or remaining <= 0:
                    return matching
                self._changed.wait(remaining)

    def span(self, name: str, timeout: float = 10.0) -> ReceivedSpan:
        """The one span called ``name`` (fails if none or several arrived)."""
        matching = self.wait_for_spans(1, timeout, lambda span: span.name == name)
        assert len(matching) == 1, f"expected one span {name!r}, got {[s.name for s in self.spans]}"
        return matching[0]

    def points(self, metric: str, timeout: float = 10.0) -> list[ReceivedPoint]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [p for p in self.received.points if p.metric == metric]
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                self._changed.wait(remaining)

    def all_bytes(self) -> bytes:
        """Every request body received, for tests that grep for secrets."""
        with self._changed:
            return b"".join(self.received.raw)

    # --- recording -------------------------------------------------------------------------

    @property
    def paths(self) -> list[str]:
        """The URL path of every OTLP/HTTP request received (gRPC requests record none)."""
        with self._changed:
            return list(self.received.paths)

    def record_traces(
        self, request: ExportTraceServiceRequest, headers: dict[str, str], client_port: int = 0
    ) -> None:
        spans = []
        for resource_spans in request.resource_spans:
            resource = attributes_of(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            name=span.name,
                            kind=SPAN_KINDS[span.kind],
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes=attributes_of(span.attributes),
                            status_code=STATUS_CODES[span.status.code],
                            status_message=span.status.message,
                            events=[(e.name, attributes_of(e.attributes)) for e in span.events],
                            resource=resource,
                            scope=scope_spans.scope.name,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            client_port=client_port,
                            links=[(k.trace_id.hex(), k.span_id.hex()) for k in span.links],
                        )
                    )
        with self._changed:
            self.received.spans.extend(spans)
            self.received.headers.append(headers)
            self.received.raw.append(request.SerializeToString())
            self._changed.notify_all()

    def record_metrics(self, request: ExportMetricsServiceRequest) -> None:
        points = []
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        if kind in ("sum", "gauge"):  # a number point: its value as sum
                            total = getattr(point, point.WhichOneof("value") or "as_double")
                        else:
                            total = point.sum
                        points.append(
                            ReceivedPoint(
                                metric=metric.name,
                                attributes=attributes_of(point.attributes),
                                count=getattr(point, "count", 1),
                                sum=total,
                                bucket_bounds=tuple(getattr(point, "explicit_bounds", ())),
                            )
                        )
        with self._changed:
            self.received.points.extend(points)
            self.received.raw.append(request.SerializeToString())
            self._changed.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as collectors do

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                with receiver._changed:
                    receiver.received.paths.append(self.path)
                status = receiver.respond(self.path)
                extra_headers: dict[str, str] = {}
                if isinstance(status, tuple):  # (status, headers), e.g. a Retry-After
                    status, extra_headers = status
                if status == 200:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    if self.path.endswith("/v1/traces"):
                        request = ExportTraceServiceRequest()
                        request.ParseFromString(body)
                        receiver.record_traces(request, headers, self.client_address[1])
                        reply = ExportTraceServiceResponse().SerializeToString()
                    elif self.path.endswith("/v1/metrics"):
                        metrics_request = ExportMetricsServiceRequest()
                        metrics_request.ParseFromString(body)
                        receiver.record_metrics(metrics_request)
                        reply = ExportMetricsServiceResponse().SerializeToString()
                    else:
                        status, reply = 404, b""
                else:
                    reply = b""
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                for name, value in extra_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    # --- gRPC --------------------------------------------------------------------------------

    def start_grpc(self) -> str:
        """Also listen for OTLP/gRPC traces; returns the endpoint."""
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        receiver = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                metadata = {k: v for k, v in context.invocation_metadata()}
                receiver.record_traces(request, metadata)
                return ExportTraceServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._grpc_server = server
        self.grpc_endpoint = f"http://127.0.0.1:{port}"
        return self.grpc_endpoint

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._grpc_server is not None:
            self._grpc_server.stop(0)
