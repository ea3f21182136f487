"""A Starlette app under ``llmtrace-run uvicorn``: routes (``path_format``, converters left out),
mounts and WebSockets name the span; Starlette's own OpenTelemetry middleware adds no second
server span."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from websockets.sync.client import connect

from llmtrace_agent.toolkit import semconv
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.servers import TracedServer, free_port

APPS = Path(__file__).resolve().parents[2] / "support" / "server_apps"


def test_route_templates_under_mounts_and_one_span_per_request() -> None:
    receiver = OTLPReceiver()
    port = free_port()
    server = TracedServer(
        [sys.executable, "-m", "uvicorn", "starlette_app:app", "--port", str(port)],
        port,
        receiver,
        APPS,
        ready_path="/items/ready",
    )
    try:
        assert server.get("/items/42") == (200, b"42")
        assert server.get("/admin/reports/2025") == (200, b"report")
        assert server.get("/nowhere")[0] == 404
        with connect(f"ws://127.0.0.1:{port}/echo") as socket:
            socket.send("ping")
            assert socket.recv(timeout=10) == "ping"
    finally:
        server.stop(signal.SIGTERM)
    try:
        spans = receiver.wait_for_spans(5, 5, lambda s: s.kind == "SERVER")
        names = sorted(s.name for s in spans)
        assert names == [
            "GET",
            "GET /admin/reports/{year}",
            "GET /items/{item_id}",
            "GET /items/{item_id}",
            "websocket /echo",
        ], server.output
        report = next(s for s in spans if s.name == "GET /admin/reports/{year}")
        assert report.attributes[semconv.HTTP_ROUTE] == "/admin/reports/{year}"
        assert report.attributes[semconv.URL_PATH] == "/admin/reports/2025"
        missing = next(s for s in spans if s.name == "GET")
        assert missing.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 404
        assert missing.status_code == "UNSET"
        assert {s.scope for s in spans} == {"llmtrace_agent.asgi"}
    finally:
        receiver.close()
