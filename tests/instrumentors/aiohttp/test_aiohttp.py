"""aiohttp: one CLIENT span per ``ClientSession`` request, against a loopback server that records
the headers it received."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from opentelemetry import trace

from tests.support.agent import InProcessAgent
from tests.support.http_server import RecordingHTTPServer, refused_url, traceparent_ids

CALLER_TRACEPARENT = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"


def run(action: Callable[[aiohttp.ClientSession], Awaitable[Any]], **options: Any) -> Any:
    """Run ``action(session)`` in a fresh event loop with a fresh session."""

    async def main() -> Any:
        async with aiohttp.ClientSession(**options) as session:
            return await action(session)

    return asyncio.run(main())


async def get(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> int:
    async with session.get(url, **kwargs) as response:
        await response.read()
        return response.status


def test_get_records_a_client_span_with_the_stable_http_attributes(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    assert run(lambda s: get(s, http_server.url("/items?color=blue"))) == 200
    (span,) = agent.spans(1, name="GET")
    assert span.kind == "CLIENT"
    assert span.scope == "llmtrace_agent.aiohttp"
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
    async def post(session: aiohttp.ClientSession) -> None:
        async with session.post(http_server.url("/orders"), json={"n": 1}) as response:
            await response.read()

    run(post)
    (span,) = agent.spans(1, name="POST")
    received = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (span.trace_id, span.span_id)


def test_request_is_a_child_of_the_current_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    async def traced(session: aiohttp.ClientSession) -> None:
        with trace.get_tracer("test").start_as_current_span("handler"):
            await get(session, http_server.url("/child"))

    run(traced)
    (span,) = agent.spans(1, name="GET")
    parent = agent.receiver.span("handler")
    assert (span.trace_id, span.parent_span_id) == (parent.trace_id, parent.span_id)


def test_concurrent_requests_each_propagate_their_own_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    async def many(session: aiohttp.ClientSession) -> None:
        await asyncio.gather(
            *(get(session, http_server.url(f"/delay/0.05?n={n}")) for n in range(5))
        )

    run(many)
    spans = agent.spans(5, name="GET")
    by_path = {s.attributes["url.full"].removeprefix(http_server.base_url): s for s in spans}
    for received in http_server.requests:
        span = by_path[received.path]
        assert traceparent_ids(received.headers["traceparent"]) == (span.trace_id, span.span_id)


def test_base_url_and_params_are_part_of_url_full_and_secrets_are_redacted(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    params = {"q": "x", "key": "AIza-secret"}
    run(lambda s: get(s, "/search", params=params), base_url=http_server.base_url)
    (span,) = agent.spans(1, name="GET")
    assert span.attributes["url.full"] == http_server.url("/search?q=x&key=REDACTED")
    assert b"AIza-secret" not in agent.receiver.all_bytes()


def test_credentials_in_the_url_are_redacted(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    url = http_server.url("/private").replace("http://", "http://user:secret@")
    run(lambda s: get(s, url))
    (span,) = agent.spans(1, name="GET")
    assert span.attributes["url.full"] == (
        f"http://REDACTED:REDACTED@127.0.0.1:{http_server.port}/private"
    )
    assert b"secret" not in agent.receiver.all_bytes()


def test_the_callers_headers_are_left_unchanged_and_its_traceparent_wins(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    headers = {"traceparent": CALLER_TRACEPARENT, "x-custom": "1"}
    run(lambda s: get(s, http_server.url("/own"), headers=headers))
    agent.spans(1, name="GET")
    assert headers == {"traceparent": CALLER_TRACEPARENT, "x-custom": "1"}
    received = http_server.only_request().headers
    assert received["traceparent"] == CALLER_TRACEPARENT
    assert received["x-custom"] == "1"


def test_a_session_default_traceparent_wins(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    run(lambda s: get(s, http_server.url("/own")), headers={"traceparent": CALLER_TRACEPARENT})
    agent.spans(1, name="GET")
    assert http_server.only_request().headers["traceparent"] == CALLER_TRACEPARENT


def test_server_error_makes_the_span_an_error_with_the_status_code_as_error_type(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    assert run(lambda s: get(s, http_server.url("/status/503"))) == 503
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "503"


def test_raise_for_status_is_recorded_by_its_status_and_reaches_the_caller_unchanged(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with pytest.raises(aiohttp.ClientResponseError) as raised:
        run(lambda s: get(s, http_server.url("/status/404")), raise_for_status=True)
    assert type(raised.value) is aiohttp.ClientResponseError
    assert raised.value.status == 404
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "404"
    assert span.attributes["http.response.status_code"] == 404


def test_connection_refused_is_an_error_span_named_after_the_exception_class(
    agent: InProcessAgent,
) -> None:
    with pytest.raises(aiohttp.ClientConnectorError):
        run(lambda s: get(s, refused_url()))
    (span,) = agent.spans(1, name="GET")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"].startswith("aiohttp.")
    assert span.attributes["error.type"].endswith("ClientConnectorError")
    assert span.events[0][0] == "exception"


def test_a_redirect_chain_is_one_span_with_the_final_status(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    assert run(lambda s: get(s, http_server.url("/redirect/2"))) == 200
    (span,) = agent.spans(1, name="GET")
    assert span.attributes["url.full"] == http_server.url("/redirect/2")
    assert span.attributes["http.response.status_code"] == 200
    received = [traceparent_ids(r.headers["traceparent"]) for r in http_server.requests]
    assert received == [(span.trace_id, span.span_id)] * 3


def test_unknown_method_is_other_and_the_span_is_named_http(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    async def propfind(session: aiohttp.ClientSession) -> None:
        async with session.request("PROPFIND", http_server.url("/dav")) as response:
            await response.read()

    run(propfind)
    (span,) = agent.spans(1, name="HTTP")
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PROPFIND"


def test_excluded_url_is_neither_traced_nor_given_a_traceparent(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with agent.configured(http_exclude_urls=("/health$",)):
        run(lambda s: get(s, http_server.url("/health")))
    agent.flush()
    assert agent.receiver.spans == []
    assert "traceparent" not in http_server.only_request().headers


def test_a_request_without_async_with_is_traced_the_same(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    async def plain(session: aiohttp.ClientSession) -> int:
        response = await session.get(http_server.url("/plain"))
        response.release()
        return response.status

    assert run(plain) == 200
    (span,) = agent.spans(1, name="GET")
    assert span.attributes["http.response.status_code"] == 200
