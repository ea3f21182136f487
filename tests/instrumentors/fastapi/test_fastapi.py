"""``llmtrace-run uvicorn app:app``: one SERVER span per request with every LLM call under it,
exported in full when the server is stopped with SIGTERM."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan
from tests.support.server_scenario import (
    PARENT_ID,
    TRACE_ID,
    Exchange,
    collect,
    llm_span,
    send_requests,
    server_span,
)
from tests.support.servers import TracedServer, free_port

APPS = Path(__file__).resolve().parents[2] / "support" / "server_apps"


class Run:
    def __init__(self, exchange: Exchange, spans: list[ReceivedSpan], code: int, log: str):
        self.exchange = exchange
        self.spans = spans
        self.returncode = code
        self.log = log


@pytest.fixture(scope="module")
def run(_fake_openai: FakeOpenAI) -> Iterator[Run]:
    """uvicorn serving the FastAPI app: the scenario's requests, then SIGTERM."""
    receiver = OTLPReceiver()
    port = free_port()
    server = TracedServer(
        [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--port", str(port)],
        port,
        receiver,
        APPS,
        env={
            "FAKE_OPENAI_URL": _fake_openai.base_url,
            "OTEL_PYTHON_EXCLUDED_URLS": "/health$",
            "LLMTRACE_PROPAGATE_ATTRIBUTES": "true",
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "user-agent,authorization",
        },
        ready_path="/health",
    )
    try:
        exchange = send_requests(server, _fake_openai)
    finally:
        code = server.stop(signal.SIGTERM)
    yield Run(exchange, collect(receiver, 15), code, server.output)
    receiver.close()


def test_the_server_exits_as_sigterm_asks_and_serves_every_request(run: Run) -> None:
    assert run.returncode in (0, -signal.SIGTERM), run.log
    assert run.exchange.statuses == {
        "health": 200, "ask": 200, "async": 200, "background": 200, "stream": 200,
        "sse": 200, "boom": 500,
    }  # fmt: skip
    assert run.exchange.bodies["stream"] == b"Hello from the fake server!"
    assert run.exchange.bodies["ws"] == b"Hello from the fake server!"


def test_one_server_span_per_request_named_after_the_route(run: Run) -> None:
    names = sorted(s.name for s in run.spans if s.kind == "SERVER")
    assert names == [
        "GET /api/async/{topic}",
        "GET /boom",
        "GET /sse",
        "GET /sse-slow",
        "GET /stream",
        "POST /ask/{topic}",
        "POST /background",
        "websocket /ws/{room}",
    ]


def test_server_span_attributes_follow_the_http_server_conventions(run: Run) -> None:
    span = server_span(run.spans, "POST /ask/{topic}")
    attributes = span.attributes
    assert attributes[semconv.HTTP_REQUEST_METHOD] == "POST"
    assert attributes[semconv.HTTP_ROUTE] == "/ask/{topic}"
    assert attributes[semconv.URL_PATH] == "/ask/weather"
    assert attributes[semconv.URL_SCHEME] == "http"
    assert attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
    assert attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attributes[semconv.CLIENT_ADDRESS] == "127.0.0.1"
    assert attributes[semconv.USER_AGENT_ORIGINAL] == "scenario/1.0"
    assert attributes[semconv.NETWORK_PROTOCOL_VERSION] == "1.1"
    assert attributes["http.request.header.user-agent"] == ("scenario/1.0",)
    assert semconv.URL_QUERY not in attributes  # never without LLMTRACE_SERVER_CAPTURE_QUERY
    assert "http.request.header.authorization" not in attributes
    assert span.status_code == "UNSET"


def test_an_incoming_traceparent_continues_the_callers_trace(run: Run) -> None:
    span = server_span(run.spans, "POST /ask/{topic}")
    assert span.trace_id == TRACE_ID
    assert span.parent_span_id == PARENT_ID
    other = server_span(run.spans, "POST /background")
    assert other.trace_id != TRACE_ID and not other.parent_span_id


def test_incoming_baggage_labels_the_request_and_its_llm_calls(run: Run) -> None:
    for span in (server_span(run.spans, "POST /ask/{topic}"), llm_span(run.spans, "gpt-4o-mini")):
        assert span.attributes[semconv.SESSION_ID] == "sess-42"
        assert span.attributes[semconv.USER_ID] == "user-7"


def test_llm_calls_are_children_of_their_request(run: Run) -> None:
    cases = {
        "POST /ask/{topic}": "gpt-4o-mini",  # sync endpoint, thread pool
        "GET /api/async/{topic}": "gpt-4o-async",  # async endpoint, included router
        "POST /background": "gpt-4o-background",  # BackgroundTasks
        "GET /stream": "gpt-4o-stream",  # LLM stream relayed by a StreamingResponse
        "GET /sse": "gpt-4o-sse",  # async generator, server-sent events
        "websocket /ws/{room}": "gpt-4o-ws",
    }
    for route, model in cases.items():
        parent = server_span(run.spans, route)
        child = llm_span(run.spans, model)
        assert (child.trace_id, child.parent_span_id) == (parent.trace_id, parent.span_id), route
        assert child.end_ns <= parent.end_ns, route


def test_an_endpoint_exception_makes_the_span_an_error(run: Run) -> None:
    span = server_span(run.spans, "GET /boom")
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "RuntimeError"
    assert span.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 500
    assert any(name == "exception" for name, _ in span.events)
    assert "RuntimeError: the endpoint failed" in run.log  # still reached the server


def test_excluded_urls_get_no_span(run: Run) -> None:
    assert not [s for s in run.spans if s.attributes.get(semconv.URL_PATH) == "/health"]


def test_the_framework_adds_no_second_server_span(run: Run) -> None:
    traces = [s.trace_id for s in run.spans if s.kind == "SERVER"]
    assert len(traces) == len(set(traces))
    assert not [s for s in run.spans if s.scope == "fastapi"]


def test_a_client_leaving_a_stream_ends_the_request_and_the_llm_stream(run: Run) -> None:
    assert run.exchange.bodies["disconnect"].startswith(b"HTTP/1.1 200")
    request = server_span(run.spans, "GET /sse-slow")
    stream = llm_span(run.spans, "gpt-4o-slow")
    assert stream.parent_span_id == request.span_id
    assert [name for name, _ in request.events] == [semconv.CLIENT_DISCONNECTED_EVENT]
    assert request.status_code == "UNSET"
    assert request.duration_s < 1.5  # 20 events x 0.1 s: it did not wait for the whole answer
    assert stream.end_ns <= request.end_ns + 100_000_000
