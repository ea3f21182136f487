"""httpx, sync and async: one CLIENT span per request sent (tests/instrumentors/httpx2 runs
these against httpx2)."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest
from opentelemetry import trace

from tests.support.agent import InProcessAgent
from tests.support.http_server import RecordingHTTPServer, refused_url, traceparent_ids


@pytest.fixture
def httpx_module() -> ModuleType:
    """The module under test (httpx2's tests run this suite with httpx2)."""
    import httpx

    return httpx


def test_sync_get_records_a_client_span_with_the_stable_http_attributes(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    with httpx_module.Client() as client:
        client.get(http_server.url("/items?color=blue"))
    (span,) = agent.spans(1, name="GET")
    assert span.kind == "CLIENT"
    assert span.scope == f"llmtrace_agent.{httpx_module.__name__}"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "http.request.method": "GET",
        "url.full": http_server.url("/items?color=blue"),
        "server.address": "127.0.0.1",
        "server.port": http_server.port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }


def test_sync_server_receives_the_http_span_as_traceparent(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    httpx_module.post(http_server.url("/orders"), json={"n": 1})
    (span,) = agent.spans(1, name="POST")
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (span.trace_id, span.span_id)


def test_async_request_is_traced_as_a_child_of_the_current_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    async def main() -> None:
        with trace.get_tracer("test").start_as_current_span("handler"):
            async with httpx_module.AsyncClient() as client:
                await client.get(http_server.url("/async"))

    asyncio.run(main())
    (span,) = agent.spans(1, name="GET")
    parent = agent.receiver.span("handler")
    assert span.scope == f"llmtrace_agent.{httpx_module.__name__}"
    assert (span.trace_id, span.parent_span_id) == (parent.trace_id, parent.span_id)
    assert span.attributes["http.response.status_code"] == 200
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (span.trace_id, span.span_id)


def test_concurrent_async_requests_each_propagate_their_own_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    async def main() -> None:
        async with httpx_module.AsyncClient() as client:
            await asyncio.gather(
                *(client.get(http_server.url(f"/delay/0.05?n={n}")) for n in range(5))
            )

    asyncio.run(main())
    spans = agent.spans(5, name="GET")
    by_path = {s.attributes["url.full"].removeprefix(http_server.base_url): s for s in spans}
    for received in http_server.requests:
        span = by_path[received.path]
        assert traceparent_ids(received.headers["traceparent"]) == (span.trace_id, span.span_id)
        assert span.parent_span_id == ""


def test_each_redirect_hop_is_its_own_span_with_its_resend_count(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    with httpx_module.Client(follow_redirects=True) as client:
        assert client.get(http_server.url("/redirect/2")).status_code == 200
    spans = sorted(agent.spans(3, name="GET"), key=lambda s: s.start_ns)
    assert [s.attributes["url.full"] for s in spans] == [
        http_server.url(f"/redirect/{n}") for n in (2, 1, 0)
    ]
    assert [s.attributes.get("http.request.resend_count") for s in spans] == [None, 1, 2]
    received = [traceparent_ids(r.headers["traceparent"]) for r in http_server.requests]
    assert received == [(s.trace_id, s.span_id) for s in spans]


def test_server_error_makes_the_span_an_error_with_the_status_code_as_error_type(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    httpx_module.get(http_server.url("/status/503"))
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "503"


def test_connection_refused_is_an_error_span_named_after_the_exception_class(
    agent: InProcessAgent, httpx_module: Any
) -> None:
    with pytest.raises(httpx_module.ConnectError):
        httpx_module.get(refused_url())
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == f"{httpx_module.__name__}.ConnectError"
    assert span.events[0][0] == "exception"


def test_unknown_method_is_other_and_the_span_is_named_http(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    with httpx_module.Client() as client:
        client.request("PROPFIND", http_server.url("/dav"))
    (span,) = agent.spans(1, name="HTTP")
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PROPFIND"
    assert http_server.only_request().method == "PROPFIND"


def _recording_transport(httpx_module: Any, asynchronous: bool) -> Any:
    """A real transport that remembers what the network layer returned or raised."""
    base = httpx_module.AsyncHTTPTransport if asynchronous else httpx_module.HTTPTransport

    class Recording(base):  # type: ignore[misc,valid-type]
        outcome: object = None

        def handle_request(self, request: Any) -> Any:
            try:
                self.outcome = super().handle_request(request)
            except Exception as exc:
                self.outcome = exc
                raise
            return self.outcome

        async def handle_async_request(self, request: Any) -> Any:
            try:
                self.outcome = await super().handle_async_request(request)
            except Exception as exc:
                self.outcome = exc
                raise
            return self.outcome

    return Recording()


def test_sync_response_and_exception_reach_the_caller_as_the_same_objects(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    transport = _recording_transport(httpx_module, asynchronous=False)
    with httpx_module.Client(transport=transport) as client:
        response = client.get(http_server.url("/"))
        assert response is transport.outcome
        with pytest.raises(httpx_module.ConnectError) as raised:
            client.get(refused_url())
        assert raised.value is transport.outcome


def test_async_response_and_exception_reach_the_caller_as_the_same_objects(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    transport = _recording_transport(httpx_module, asynchronous=True)

    async def main() -> None:
        async with httpx_module.AsyncClient(transport=transport) as client:
            response = await client.get(http_server.url("/"))
            assert response is transport.outcome
            with pytest.raises(httpx_module.ConnectError) as raised:
                await client.get(refused_url())
            assert raised.value is transport.outcome

    asyncio.run(main())
    spans = agent.spans(2, name="GET")
    assert sorted(s.status_code for s in spans) == ["ERROR", "UNSET"]


def test_excluded_url_is_neither_traced_nor_given_a_traceparent(
    agent: InProcessAgent, http_server: RecordingHTTPServer, httpx_module: Any
) -> None:
    with agent.configured(http_exclude_urls=("/health$",)):
        httpx_module.get(http_server.url("/health"))
    agent.flush()
    assert agent.receiver.spans == []
    assert "traceparent" not in http_server.only_request().headers
