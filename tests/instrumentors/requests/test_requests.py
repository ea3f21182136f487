"""requests: one CLIENT span per request sent, W3C propagation, errors, and no feedback loop."""

from __future__ import annotations

import requests
from opentelemetry import baggage, context, trace
from requests.adapters import HTTPAdapter

from tests.support.agent import InProcessAgent, run_traced
from tests.support.http_server import RecordingHTTPServer, refused_url, traceparent_ids
from tests.support.otlp_receiver import OTLPReceiver

SCOPE = "llmtrace_agent.requests"


def test_get_records_a_client_span_with_the_stable_http_attributes(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    requests.get(http_server.url("/items?color=blue"))
    (span,) = agent.spans(1, name="GET")
    assert span.kind == "CLIENT"
    assert span.scope == SCOPE
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "http.request.method": "GET",
        "url.full": http_server.url("/items?color=blue"),
        "server.address": "127.0.0.1",
        "server.port": http_server.port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }


def test_server_receives_the_http_span_as_traceparent(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    requests.post(http_server.url("/orders"), json={"n": 1})
    (span,) = agent.spans(1, name="POST")
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (span.trace_id, span.span_id)


def test_span_is_a_child_of_the_current_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with trace.get_tracer("test").start_as_current_span("handler"):
        requests.get(http_server.url("/"))
    (span,) = agent.spans(1, name="GET")
    parent = agent.receiver.span("handler")
    assert (span.trace_id, span.parent_span_id) == (parent.trace_id, parent.span_id)


def test_traceparent_set_by_the_caller_is_sent_unchanged_without_our_other_headers(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        requests.get(http_server.url("/"), headers={"traceparent": theirs})
    finally:
        context.detach(token)
    headers = http_server.only_request().headers
    assert headers["traceparent"] == theirs
    assert "baggage" not in headers
    assert "tracestate" not in headers
    assert agent.spans(1, name="GET")[0].kind == "CLIENT"


def test_baggage_set_by_the_caller_is_kept_while_traceparent_is_added(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        requests.get(http_server.url("/"), headers={"baggage": "theirs=1"})
    finally:
        context.detach(token)
    (span,) = agent.spans(1, name="GET")
    headers = http_server.only_request().headers
    assert headers["baggage"] == "theirs=1"
    assert traceparent_ids(headers["traceparent"]) == (span.trace_id, span.span_id)


def test_server_error_makes_the_span_an_error_with_the_status_code_as_error_type(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    response = requests.get(http_server.url("/status/500"))
    assert response.status_code == 500
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.status_message == ""
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "500"


def test_client_error_makes_a_client_span_an_error(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    requests.get(http_server.url("/status/404"))
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "404"


def test_connection_refused_is_an_error_span_named_after_the_exception_class(
    agent: InProcessAgent,
) -> None:
    url = refused_url("/nothing")
    try:
        requests.get(url)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the connection was not refused")
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "requests.exceptions.ConnectionError"
    assert "http.response.status_code" not in span.attributes
    assert span.attributes["url.full"] == url
    (event_name, event) = span.events[0]
    assert event_name == "exception"
    assert event["exception.type"] == "requests.exceptions.ConnectionError"


class _RaisingAdapter(HTTPAdapter):
    """Fails inside ``HTTPAdapter.send``, after a real round trip, with a known object."""

    error = requests.exceptions.ChunkedEncodingError("the body broke")

    def build_response(self, req: requests.PreparedRequest, resp: object) -> requests.Response:
        raise self.error


class _RecordingAdapter(HTTPAdapter):
    """Remembers the response object ``HTTPAdapter.send`` built."""

    built: requests.Response | None = None

    def build_response(self, req: requests.PreparedRequest, resp: object) -> requests.Response:
        self.built = super().build_response(req, resp)
        return self.built


def test_exception_reaches_the_caller_as_the_same_object(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    session = requests.Session()
    session.mount("http://", _RaisingAdapter())
    try:
        session.get(http_server.url("/"))
    except requests.exceptions.ChunkedEncodingError as exc:
        assert exc is _RaisingAdapter.error
    else:
        raise AssertionError("the adapter's error did not reach the caller")
    (span,) = agent.spans(1, name="GET")
    assert span.attributes["error.type"] == "requests.exceptions.ChunkedEncodingError"


def test_response_reaches_the_caller_as_the_same_object(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    session = requests.Session()
    adapter = _RecordingAdapter()
    session.mount("http://", adapter)
    response = session.get(http_server.url("/"))
    assert response is adapter.built
    assert response.text == "ok"


def test_each_redirect_hop_is_its_own_span_with_its_resend_count(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    requests.get(http_server.url("/redirect/2"))
    spans = sorted(agent.spans(3, name="GET"), key=lambda s: s.start_ns)
    assert [s.attributes["url.full"] for s in spans] == [
        http_server.url(f"/redirect/{n}") for n in (2, 1, 0)
    ]
    assert [s.attributes.get("http.request.resend_count") for s in spans] == [None, 1, 2]
    assert [s.attributes["http.response.status_code"] for s in spans] == [302, 302, 200]
    received = [traceparent_ids(r.headers["traceparent"]) for r in http_server.requests]
    assert received == [(s.trace_id, s.span_id) for s in spans]


def test_urllib3_underneath_records_no_second_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    requests.get(http_server.url("/once"))
    agent.spans(1, name="GET")
    agent.flush()
    assert [(s.name, s.scope) for s in agent.receiver.spans] == [("GET", SCOPE)]


def test_excluded_url_is_neither_traced_nor_given_a_traceparent(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with agent.configured(http_exclude_urls=("/health$", "/metrics")):
        requests.get(http_server.url("/health"))
        requests.get(http_server.url("/kept"))
    (span,) = agent.spans(1, name="GET")
    agent.flush()
    assert span.attributes["url.full"] == http_server.url("/kept")
    assert len(agent.receiver.spans) == 1
    health, kept = http_server.requests
    assert "traceparent" not in health.headers
    assert "traceparent" in kept.headers


def test_url_credentials_and_signatures_are_redacted_and_no_header_is_recorded(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    url = f"http://alice:s3cr3t@127.0.0.1:{http_server.port}/file?sig=abc123&x=1"
    requests.get(url, headers={"X-Api-Key": "sk-live-123"})
    (span,) = agent.spans(1, name="GET")
    assert span.attributes["url.full"] == (
        f"http://REDACTED:REDACTED@127.0.0.1:{http_server.port}/file?sig=REDACTED&x=1"
    )
    assert not any(name.startswith("http.request.header") for name in span.attributes)
    exported = agent.receiver.all_bytes()
    for secret in (b"s3cr3t", b"abc123", b"sk-live-123", b"YWxpY2U6czNjcjN0"):  # incl. Basic auth
        assert secret not in exported


def test_otlp_exporter_requests_are_never_traced(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    requests.get(http_server.url("/"))
    agent.spans(1, name="GET")
    for _ in range(3):  # a traced export would show up in the next one
        agent.flush()
    to_receiver = [
        s for s in agent.receiver.spans if s.attributes.get("server.port") == agent.receiver.port
    ]
    assert to_receiver == []
    assert all("traceparent" not in headers for headers in agent.receiver.received.headers)


def test_launcher_traces_a_plain_requests_get_without_code_changes(
    receiver: OTLPReceiver, http_server: RecordingHTTPServer
) -> None:
    url = http_server.url("/zero-code")
    result = run_traced(
        ["-c", f"import requests; print(requests.get({url!r}).status_code)"], receiver
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "200"
    span = receiver.span("GET")
    assert span.attributes["url.full"] == url
    assert span.scope == SCOPE
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (span.trace_id, span.span_id)
    assert [s.name for s in receiver.spans] == ["GET"]
