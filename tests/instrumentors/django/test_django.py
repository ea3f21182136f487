"""``python manage.py runserver`` (wsgiref underneath): Django's URL pattern names the span."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.server_scenario import PARENT_ID, TRACE_ID, TRACEPARENT, collect, server_span
from tests.support.servers import TracedServer, free_port

APPS = Path(__file__).resolve().parents[2] / "support" / "server_apps"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_runserver_traces_requests_with_the_url_pattern(stop, _fake_openai: FakeOpenAI) -> None:
    receiver = OTLPReceiver()
    port = free_port()
    server = TracedServer(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        port,
        receiver,
        APPS,
        env={"FAKE_OPENAI_URL": _fake_openai.base_url, "OTEL_PYTHON_EXCLUDED_URLS": "health"},
        ready_path="/health",
    )
    try:
        status, _ = server.get("/api/hello/ada", {"traceparent": TRACEPARENT})
        assert status == 200
        assert server.get("/boom")[0] == 500
    finally:
        server.stop(stop)
    try:
        spans = collect(receiver, 3)
        hello = server_span(spans, "GET /api/hello/<str:name>")
        assert (hello.trace_id, hello.parent_span_id) == (TRACE_ID, PARENT_ID)
        assert hello.attributes[semconv.HTTP_ROUTE] == "/api/hello/<str:name>"
        assert hello.attributes[semconv.NETWORK_PROTOCOL_VERSION] == "1.1"
        llm = next(s for s in spans if semconv.GEN_AI_OPERATION_NAME in s.attributes)
        assert llm.parent_span_id == hello.span_id
        failed = server_span(spans, "GET /boom")
        assert failed.status_code == "ERROR"
        assert failed.attributes[semconv.ERROR_TYPE] == "RuntimeError"
        assert [s.name for s in spans if s.kind == "SERVER"].count("GET /boom") == 1
    finally:
        receiver.close()
