"""urllib3 on its own: one CLIENT span per urlopen, methods sent verbatim, headers copied."""

from __future__ import annotations

import pytest
import urllib3

from tests.support.agent import InProcessAgent
from tests.support.http_server import RecordingHTTPServer, refused_url, traceparent_ids

SCOPE = "llmtrace_agent.urllib3"
# urllib3.request() exists from 2.0 on; a PoolManager sends the same way on 1.26 (the oldest).
http = urllib3.PoolManager()


def test_request_records_a_client_span_with_the_stable_http_attributes(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    http.request("GET", http_server.url("/items?color=blue"))
    (span,) = agent.spans(1, name="GET")
    assert span.kind == "CLIENT"
    assert span.scope == SCOPE
    assert span.attributes == {
        "http.request.method": "GET",
        "url.full": http_server.url("/items?color=blue"),
        "server.address": "127.0.0.1",
        "server.port": http_server.port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (span.trace_id, span.span_id)


def test_connection_pool_used_directly_is_traced_with_an_absolute_url(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with urllib3.HTTPConnectionPool("127.0.0.1", http_server.port) as pool:
        pool.urlopen("GET", "/pooled", None, {"Accept": "text/plain"})
    (span,) = agent.spans(1, name="GET")
    assert span.attributes["url.full"] == http_server.url("/pooled")
    headers = http_server.only_request().headers
    assert headers["accept"] == "text/plain"
    assert traceparent_ids(headers["traceparent"]) == (span.trace_id, span.span_id)


def test_the_callers_headers_dict_is_not_modified(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    shared_headers = {"Accept": "application/json"}
    with urllib3.PoolManager() as http:
        http.request("GET", http_server.url("/one"), headers=shared_headers)
        http.request("GET", http_server.url("/two"), headers=shared_headers)
    assert shared_headers == {"Accept": "application/json"}
    one, two = http_server.requests
    assert one.headers["traceparent"] != two.headers["traceparent"]


def test_lower_case_method_is_recorded_canonical_with_the_original(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with urllib3.HTTPConnectionPool("127.0.0.1", http_server.port) as pool:
        pool.urlopen("get", "/")  # http.request() would upper-case it; urlopen sends it as is
    (span,) = agent.spans(1, name="GET")
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.request.method_original"] == "get"
    assert http_server.only_request().method == "get"


@pytest.mark.parametrize("known", [None, ("GET", "PROPFIND")])
def test_known_methods_setting_decides_what_is_other(
    agent: InProcessAgent, http_server: RecordingHTTPServer, known: tuple[str, ...] | None
) -> None:
    with agent.configured(http_known_methods=known):
        http.request("PROPFIND", http_server.url("/dav"))
    if known is None:
        (span,) = agent.spans(1, name="HTTP")
        assert span.attributes["http.request.method"] == "_OTHER"
        assert span.attributes["http.request.method_original"] == "PROPFIND"
    else:
        (span,) = agent.spans(1, name="PROPFIND")
        assert span.attributes["http.request.method"] == "PROPFIND"
        assert "http.request.method_original" not in span.attributes


def test_each_redirect_hop_is_its_own_span_with_its_resend_count(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    assert http.request("GET", http_server.url("/redirect/2")).status == 200
    spans = sorted(agent.spans(3, name="GET"), key=lambda s: s.start_ns)
    assert [s.attributes["url.full"] for s in spans] == [
        http_server.url(f"/redirect/{n}") for n in (2, 1, 0)
    ]
    assert [s.attributes.get("http.request.resend_count") for s in spans] == [None, 1, 2]
    received = [traceparent_ids(r.headers["traceparent"]) for r in http_server.requests]
    assert received == [(s.trace_id, s.span_id) for s in spans]


def test_retries_of_a_refused_connection_are_one_error_span(agent: InProcessAgent) -> None:
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        http.request("GET", refused_url(), retries=urllib3.Retry(connect=2))
    agent.flush()
    (span,) = agent.spans(1, name="GET")
    agent.flush()
    assert len(agent.receiver.spans) == 1
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "urllib3.exceptions.MaxRetryError"


def test_server_error_makes_the_span_an_error(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    http.request("GET", http_server.url("/status/502"))
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "502"
