"""Shared HTTP client span logic: URL redaction, error types, suppression, the LLM interplay."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from opentelemetry import baggage, context, trace

from llmtrace_agent.toolkit.context_flags import (
    HTTPAttempts,
    inside_llm_call,
    llm_call_attempts,
    telemetry_upload,
)
from llmtrace_agent.toolkit.http_spans import error_type, redact_url
from tests.support.agent import InProcessAgent
from tests.support.http_server import RecordingHTTPServer, refused_url, traceparent_ids


@contextmanager
def model_call(name: str = "chat model") -> Iterator[None]:
    """A model-call span open as the GenAI wrappers open one: current, flagged, counting its
    HTTP attempts."""
    with trace.get_tracer("test").start_as_current_span(name):
        flag, attempts = inside_llm_call.set(True), llm_call_attempts.set(HTTPAttempts())
        try:
            yield
        finally:
            llm_call_attempts.reset(attempts)
            inside_llm_call.reset(flag)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v1/chat", "https://api.example.com/v1/chat"),
        (
            "https://user:secret@example.com:8443/x",
            "https://REDACTED:REDACTED@example.com:8443/x",
        ),
        ("https://token@example.com/x", "https://REDACTED:REDACTED@example.com/x"),
        ("https://example.com/users/a@b.org?x=1", "https://example.com/users/a@b.org?x=1"),
        (
            "https://s3.example.com/f?X-Amz-Credential=c&X-Amz-Signature=s&X-Amz-Security-Token=t",
            "https://s3.example.com/f?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"
            "&X-Amz-Security-Token=REDACTED",
        ),
        (
            "https://blob.example.com/c?color=blue&sig=abc#part",
            "https://blob.example.com/c?color=blue&sig=REDACTED#part",
        ),
        (
            "https://storage.example.com/o?X-Goog-Signature=abc",
            "https://storage.example.com/o?X-Goog-Signature=REDACTED",
        ),
        (
            "https://s3.example.com/o?AWSAccessKeyId=a&Signature=s&Expires=1",
            "https://s3.example.com/o?AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1",
        ),
        (
            "https://gen.example.com/v1beta/models/m:generateContent?key=AIza123",
            "https://gen.example.com/v1beta/models/m:generateContent?key=REDACTED",
        ),
        ("https://example.com/o?SIG=abc&sig", "https://example.com/o?SIG=abc&sig"),
        (
            "https://api.example.com/v1/items?client_secret=cs1&password=pw2&page=2",
            "https://api.example.com/v1/items?client_secret=REDACTED&password=REDACTED&page=2",
        ),
        (
            "https://app.example.com/oauth/callback?code=c0de&state=s",
            "https://app.example.com/oauth/callback?code=REDACTED&state=s",
        ),
        ("https://shop.example.com/items?code=FR", "https://shop.example.com/items?code=FR"),
        ("https://example.com/o#frag?sig=abc", "https://example.com/o#frag?sig=abc"),
        (
            "https://u:p@example.com/o?sig=abc",
            "https://REDACTED:REDACTED@example.com/o?sig=REDACTED",
        ),
    ],
)
def test_redact_url_hides_credentials_and_sensitive_query_values(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_returns_a_clean_url_unchanged_as_the_same_object() -> None:
    url = "http://127.0.0.1:8080/v1/chat/completions"
    assert redact_url(url) is url


def test_error_type_is_the_fully_qualified_class_name() -> None:
    assert error_type(requests.exceptions.ConnectionError) == "requests.exceptions.ConnectionError"
    assert error_type(TimeoutError) == "TimeoutError"


def test_instrumentation_suppressed_by_the_sdk_records_no_span_and_injects_nothing(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    token = context.attach(context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        requests.get(http_server.url("/suppressed"))
    finally:
        context.detach(token)
    agent.flush()
    assert "traceparent" not in http_server.only_request().headers
    assert [s for s in agent.receiver.spans if s.kind == "CLIENT"] == []


def test_http_instrumentation_suppressed_records_no_span_and_injects_nothing(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    token = context.attach(context.set_value(context._SUPPRESS_HTTP_INSTRUMENTATION_KEY, True))
    try:
        requests.get(http_server.url("/suppressed"))
    finally:
        context.detach(token)
    agent.flush()
    assert "traceparent" not in http_server.only_request().headers
    assert [s for s in agent.receiver.spans if s.kind == "CLIENT"] == []


def test_a_telemetry_upload_records_no_span_and_injects_nothing(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with telemetry_upload():
        requests.get(http_server.url("/v1/traces/ingest"))
    requests.get(http_server.url("/after"))  # the mark ends with the block
    agent.flush()
    upload, after = http_server.requests
    assert "traceparent" not in upload.headers
    assert "traceparent" in after.headers
    client_spans = [s for s in agent.receiver.wait_for_spans(1) if s.kind == "CLIENT"]
    assert [s.attributes["url.full"] for s in client_spans] == [http_server.url("/after")]


def test_baggage_of_the_current_context_is_propagated(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        requests.get(http_server.url("/"))
    finally:
        context.detach(token)
    assert http_server.only_request().headers["baggage"] == "tenant=acme"


def test_http_request_inside_an_llm_call_is_a_child_of_the_llm_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with agent.configured(http_under_llm="always"), model_call():
        requests.post(http_server.url("/v1/chat/completions"), json={})
    (http_span,) = agent.spans(1, name="POST")
    llm_span = agent.receiver.span("chat model")
    assert http_span.parent_span_id == llm_span.span_id
    assert http_span.kind == "CLIENT"
    assert not any(name.startswith("gen_ai.") for name in http_span.attributes)
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (http_span.trace_id, http_span.span_id)


def test_http_under_llm_never_records_no_http_span_but_propagates_the_llm_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with agent.configured(http_under_llm="never"), model_call():
        requests.post(http_server.url("/status/503"), json={})
    llm_span = agent.receiver.span("chat model")
    agent.flush()
    assert [s.name for s in agent.receiver.spans] == ["chat model"]
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (llm_span.trace_id, llm_span.span_id)


def test_http_under_llm_never_still_traces_requests_outside_llm_calls(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with agent.configured(http_under_llm="never"):
        requests.get(http_server.url("/"))
    (span,) = agent.spans(1, name="GET")
    assert span.kind == "CLIENT"


# --- the default: HTTP spans under a model call only for retries and failures ------------------


def test_a_single_successful_request_of_a_model_call_records_no_span_but_propagates_the_llm_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with model_call():
        requests.post(http_server.url("/v1/chat/completions"), json={})
    llm_span = agent.receiver.span("chat model")
    agent.flush()
    assert [s.name for s in agent.receiver.spans] == ["chat model"]
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (llm_span.trace_id, llm_span.span_id)


def test_a_failed_answer_records_its_span_with_its_real_start_and_end(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with model_call():
        requests.post(http_server.url("/status/503"), json={})
    llm_span = agent.receiver.span("chat model")
    (http_span,) = agent.spans(1, name="POST")
    assert (http_span.trace_id, http_span.parent_span_id) == (llm_span.trace_id, llm_span.span_id)
    assert http_span.kind == "CLIENT"
    assert http_span.status_code == "ERROR"
    assert http_span.attributes["http.response.status_code"] == 503
    assert http_span.attributes["error.type"] == "503"
    assert http_span.attributes["http.request.method"] == "POST"
    assert http_span.attributes["url.full"] == http_server.url("/status/503")
    assert http_span.attributes["network.protocol.version"] == "1.1"
    assert "http.request.resend_count" not in http_span.attributes
    assert llm_span.start_ns <= http_span.start_ns < http_span.end_ns <= llm_span.end_ns
    # Sent before anyone knew it would fail: it carried the model span's context.
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (llm_span.trace_id, llm_span.span_id)


def test_a_transport_error_records_its_span_with_the_exception(
    agent: InProcessAgent,
) -> None:
    with model_call(), pytest.raises(requests.exceptions.ConnectionError):
        requests.post(refused_url("/v1/chat/completions"), json={})
    llm_span = agent.receiver.span("chat model")
    (http_span,) = agent.spans(1, name="POST")
    assert http_span.parent_span_id == llm_span.span_id
    assert http_span.status_code == "ERROR"
    assert http_span.attributes["error.type"] == "requests.exceptions.ConnectionError"
    assert "http.response.status_code" not in http_span.attributes
    assert [event[0] for event in http_span.events] == ["exception"]


def test_every_attempt_of_a_model_call_that_sent_several_gets_its_span_in_order(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with model_call():
        requests.post(http_server.url("/v1/chat/completions"), json={})  # unrecorded so far
        requests.post(http_server.url("/v1/chat/completions"), json={})  # a second attempt
        requests.post(http_server.url("/v1/chat/completions"), json={})
    llm_span = agent.receiver.span("chat model")
    attempts = sorted(agent.spans(3, name="POST"), key=lambda span: span.start_ns)
    assert [s.attributes.get("http.request.resend_count") for s in attempts] == [None, 1, 2]
    assert {s.parent_span_id for s in attempts} == {llm_span.span_id}
    assert all(s.attributes["http.response.status_code"] == 200 for s in attempts)
    assert attempts[0].end_ns <= attempts[1].start_ns
    # The first one was sent with the model span's context, the later ones with their own.
    sent = [traceparent_ids(r.headers["traceparent"]) for r in http_server.requests]
    assert sent == [
        (llm_span.trace_id, llm_span.span_id),
        (attempts[1].trace_id, attempts[1].span_id),
        (attempts[2].trace_id, attempts[2].span_id),
    ]


def test_a_redirect_under_a_model_call_records_both_hops(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with model_call():
        requests.post(http_server.url("/redirect/1"), json={})
    agent.spans(3)
    hops = sorted((s for s in agent.receiver.spans if s.kind == "CLIENT"), key=lambda s: s.start_ns)
    assert [s.name for s in hops] == ["POST", "GET"]  # a 302 answer to a POST: GET follows
    assert [s.attributes["http.response.status_code"] for s in hops] == [302, 200]
    assert [s.attributes.get("http.request.resend_count") for s in hops] == [None, 1]


def test_each_model_call_counts_its_own_attempts(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    for name in ("first", "second", "third"):
        with model_call(name):
            requests.post(http_server.url("/v1/chat/completions"), json={})
    agent.spans(3)
    agent.flush()
    assert sorted(s.name for s in agent.receiver.spans) == ["first", "second", "third"]


def test_requests_outside_model_calls_are_all_recorded(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    requests.get(http_server.url("/"))
    requests.get(http_server.url("/"))
    assert len(agent.spans(2, name="GET")) == 2
