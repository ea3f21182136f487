"""The HTTP spans under a model call, by default (``LLMTRACE_HTTP_UNDER_LLM=retries``): none for
a single successful request, one per attempt when the SDK retried, one for a failed request; the
request carries the model span's context either way.

Every test drives the real openai SDK (which retries 408/409/429/5xx answers) over HTTP to the
loopback fake server and reads what the real OTLP receiver got from the in-process agent.
"""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.support.agent import InProcessAgent
from tests.support.fake_openai import FakeOpenAI as FakeServer
from tests.support.fake_openai import (
    Reply,
    async_client,
    chat_chunks,
    chat_completion,
    client,
    error_body,
    llm_span,
)
from tests.support.http_server import traceparent_ids

MESSAGES = [{"role": "user", "content": "Say hi."}]
MODEL = "gpt-4o-mini"
# Retry at once: the SDK honours retry-after-ms below 60 s.
UNAVAILABLE = Reply(status=503, body=error_body(503), headers={"retry-after-ms": "1"})


def http_spans(agent: InProcessAgent) -> list:
    """The HTTP client spans the receiver got (after a flush), in start order."""
    agent.flush()
    found = [s for s in agent.receiver.spans if "http.request.method" in s.attributes]
    return sorted(found, key=lambda span: span.start_ns)


def sent_parents(server: FakeServer) -> list[tuple[str, str]]:
    """(trace id, parent span id) of the traceparent each request carried, in order."""
    return [traceparent_ids(request.headers["traceparent"]) for request in server.requests]


def test_a_single_successful_call_has_no_http_span_and_sends_the_model_span_context(
    agent: InProcessAgent, fake_openai: FakeServer
) -> None:
    client(fake_openai).chat.completions.create(model=MODEL, messages=MESSAGES)
    chat = llm_span(agent)
    assert http_spans(agent) == []
    assert sent_parents(fake_openai) == [(chat.trace_id, chat.span_id)]


def test_a_single_successful_stream_has_no_http_span(
    agent: InProcessAgent, fake_openai: FakeServer
) -> None:
    stream = client(fake_openai).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    assert [chunk.id for chunk in stream]
    chat = llm_span(agent)
    assert http_spans(agent) == []
    assert sent_parents(fake_openai) == [(chat.trace_id, chat.span_id)]


def test_a_retry_after_503_gives_each_attempt_its_span_with_its_resend_count(
    agent: InProcessAgent, fake_openai: FakeServer
) -> None:
    fake_openai.reply(UNAVAILABLE, Reply(body=chat_completion(model=MODEL)))
    client(fake_openai).with_options(max_retries=2).chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    chat = llm_span(agent)
    failed, retried = http_spans(agent)
    assert chat.status_code == "UNSET"
    assert {(s.trace_id, s.parent_span_id) for s in (failed, retried)} == {
        (chat.trace_id, chat.span_id)
    }
    assert failed.status_code == "ERROR"
    assert failed.attributes["error.type"] == "503"
    assert failed.attributes["http.response.status_code"] == 503
    assert "http.request.resend_count" not in failed.attributes
    assert retried.status_code == "UNSET"
    assert retried.attributes["http.response.status_code"] == 200
    assert retried.attributes["http.request.resend_count"] == 1
    assert "error.type" not in retried.attributes
    assert chat.start_ns <= failed.start_ns < failed.end_ns <= retried.start_ns <= chat.end_ns
    # The first attempt went out before it was known to need a span: the model span's context.
    assert sent_parents(fake_openai) == [
        (chat.trace_id, chat.span_id),
        (retried.trace_id, retried.span_id),
    ]


def test_async_retries_give_each_attempt_its_span(
    agent: InProcessAgent, fake_openai: FakeServer
) -> None:
    fake_openai.reply(UNAVAILABLE, UNAVAILABLE, Reply(body=chat_completion(model=MODEL)))

    async def main() -> None:
        await (
            async_client(fake_openai)
            .with_options(max_retries=2)
            .chat.completions.create(model=MODEL, messages=MESSAGES)
        )

    asyncio.run(main())
    chat = llm_span(agent)
    attempts = http_spans(agent)
    assert [s.attributes.get("http.request.resend_count") for s in attempts] == [None, 1, 2]
    assert [s.attributes["http.response.status_code"] for s in attempts] == [503, 503, 200]
    assert {s.parent_span_id for s in attempts} == {chat.span_id}


def test_a_failed_request_has_its_span_with_the_error(
    agent: InProcessAgent, fake_openai: FakeServer
) -> None:
    fake_openai.reply(Reply(status=400, body=error_body(400)))  # not retried
    with pytest.raises(openai.BadRequestError):
        client(fake_openai).with_options(max_retries=2).chat.completions.create(
            model=MODEL, messages=MESSAGES
        )
    chat = llm_span(agent)
    (http,) = http_spans(agent)
    assert (http.trace_id, http.parent_span_id) == (chat.trace_id, chat.span_id)
    assert http.status_code == "ERROR"
    assert http.attributes["error.type"] == "400"
    assert http.attributes["url.full"] == fake_openai.base_url + "/chat/completions"
    assert chat.attributes["error.type"] == "400"
    assert sent_parents(fake_openai) == [(chat.trace_id, chat.span_id)]


def test_a_stream_retried_after_503_has_both_attempts(
    agent: InProcessAgent, fake_openai: FakeServer
) -> None:
    fake_openai.reply(UNAVAILABLE, Reply(events=chat_chunks(model=MODEL)))
    stream = (
        client(fake_openai)
        .with_options(max_retries=1)
        .chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    )
    list(stream)
    chat = llm_span(agent)
    attempts = http_spans(agent)
    assert [s.attributes["http.response.status_code"] for s in attempts] == [503, 200]
    assert {s.parent_span_id for s in attempts} == {chat.span_id}


def test_always_records_the_single_request_too(
    agent: InProcessAgent, fake_openai: FakeServer
) -> None:
    with agent.configured(http_under_llm="always"):
        client(fake_openai).chat.completions.create(model=MODEL, messages=MESSAGES)
    chat = llm_span(agent)
    (http,) = http_spans(agent)
    assert http.parent_span_id == chat.span_id
    assert sent_parents(fake_openai) == [(http.trace_id, http.span_id)]


def test_never_records_no_http_span_even_for_retries(
    agent: InProcessAgent, fake_openai: FakeServer
) -> None:
    fake_openai.reply(UNAVAILABLE, Reply(body=chat_completion(model=MODEL)))
    with agent.configured(http_under_llm="never"):
        client(fake_openai).with_options(max_retries=1).chat.completions.create(
            model=MODEL, messages=MESSAGES
        )
    chat = llm_span(agent)
    assert http_spans(agent) == []
    assert sent_parents(fake_openai) == [(chat.trace_id, chat.span_id)] * 2
