"""The server-span options, on a real wsgiref server in this process (the agent started here)."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.agent import InProcessAgent


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def app(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Request-Id", "r-1")])
    return [b"ok"]


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def send(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_bare_wsgi_app_gets_a_span_named_after_the_method_only(agent: InProcessAgent, port):
    assert send(port, "GET", "/anything?token=abc") == 200
    [span] = agent.spans(1, kind="SERVER")
    assert span.name == "GET"
    assert span.attributes[semconv.URL_PATH] == "/anything"
    assert semconv.URL_QUERY not in span.attributes
    assert semconv.HTTP_ROUTE not in span.attributes


def test_the_query_is_recorded_only_when_asked_and_redacted(agent: InProcessAgent, port):
    with agent.configured(server_capture_query=True):
        send(port, "GET", "/search?q=rain&sig=secret")
    [span] = agent.spans(1, kind="SERVER")
    assert span.attributes[semconv.URL_QUERY] == "q=rain&sig=REDACTED"


def test_allow_listed_headers_are_recorded_but_never_credentials(agent: InProcessAgent, port):
    with agent.configured(
        server_request_headers=("x-tenant", "authorization", "cookie"),
        server_response_headers=("x-request-id",),
    ):
        send(port, "GET", "/", {"X-Tenant": "acme", "Authorization": "Bearer s", "Cookie": "a=b"})
    [span] = agent.spans(1, kind="SERVER")
    assert span.attributes["http.request.header.x-tenant"] == ("acme",)
    assert span.attributes["http.response.header.x-request-id"] == ("r-1",)
    assert not [key for key in span.attributes if "authorization" in key or "cookie" in key]
    assert b"Bearer s" not in agent.receiver.all_bytes()


def test_an_unknown_method_is_recorded_as_other(agent: InProcessAgent, port):
    send(port, "PURGE", "/cache")
    [span] = agent.spans(1, kind="SERVER")
    assert span.name == "HTTP"
    assert span.attributes[semconv.HTTP_REQUEST_METHOD] == "_OTHER"
    assert span.attributes[semconv.HTTP_REQUEST_METHOD_ORIGINAL] == "PURGE"


def test_excluded_urls_are_served_untraced(agent: InProcessAgent, port):
    with agent.configured(server_exclude_urls=("/healthz$",), otel_excluded_urls=("/metrics",)):
        assert send(port, "GET", "/healthz") == 200
        assert send(port, "GET", "/metrics") == 200
        assert send(port, "GET", "/work") == 200
    spans = agent.spans(1, kind="SERVER")
    assert [s.attributes[semconv.URL_PATH] for s in spans] == ["/work"]


def test_baggage_labels_the_span_only_when_propagation_is_on(agent: InProcessAgent, port):
    baggage = {"baggage": "session.id=s-1,user.id=u-1"}
    send(port, "GET", "/off", baggage)
    with agent.configured(propagate_attributes=True):
        send(port, "GET", "/on", baggage)
    spans = {s.attributes[semconv.URL_PATH]: s for s in agent.spans(2, kind="SERVER")}
    assert semconv.SESSION_ID not in spans["/off"].attributes
    assert spans["/on"].attributes[semconv.SESSION_ID] == "s-1"
    assert spans["/on"].attributes[semconv.USER_ID] == "u-1"
