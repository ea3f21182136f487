"""google-genai streams (``generate_content_stream``, ``chats.send_message_stream``, sync and
async): one span per streamed request, ended exactly once with the usage the stream reported."""

from __future__ import annotations

import asyncio
import gc
import json
import types as pytypes
from typing import Any

import pytest
from google.genai import errors, version

from tests.instrumentors.google_genai.test_generate_content import (
    INPUT_TOKENS,
    MODEL,
    OUTPUT_TOKENS,
    SPAN,
    client,
    genai_span,
    genai_spans,
)
from tests.support import fake_gemini as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_gemini import FakeGemini
from tests.support.http_server import traceparent_ids
from tests.support.otlp_receiver import ReceivedSpan


def assert_complete_stream(span: ReceivedSpan) -> None:
    """What a stream read to its end records: the final chunk's usage and finish reason."""
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.request.stream"] is True
    # responseId: recorded as the SDK parses it (older releases drop it).
    assert span.attributes.get("gen_ai.response.id", "fake-response-").startswith("fake-response-")
    assert span.attributes["gen_ai.response.model"] == MODEL
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS
    assert span.attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS
    assert span.attributes["gen_ai.usage.cost"] > 0
    assert 0 < span.attributes["gen_ai.response.time_to_first_chunk"] <= span.duration_s


def test_stream_read_to_the_end_records_the_final_usage(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    stream = client(fake_gemini).models.generate_content_stream(model=MODEL, contents="Hi")
    texts = [chunk.text for chunk in stream]
    assert isinstance(stream, pytypes.GeneratorType)
    assert texts == list(fake.TEXT_CHUNKS)
    assert_complete_stream(genai_span(agent))
    assert len(fake_gemini.requests) == 1


def test_the_stream_request_sent_on_the_first_read_is_a_child_http_span(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    with agent.configured(http_under_llm="always"):
        list(client(fake_gemini).models.generate_content_stream(model=MODEL, contents="Hi"))
    (http,) = agent.spans(1, name="POST")
    span = genai_span(agent)
    assert (http.trace_id, http.parent_span_id) == (span.trace_id, span.span_id)
    received = fake_gemini.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (http.trace_id, http.span_id)


def test_stream_left_early_ends_its_span_once_when_collected(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    stream = client(fake_gemini).models.generate_content_stream(model=MODEL, contents="Hi")
    for _chunk in stream:
        break
    del stream, _chunk
    gc.collect()
    span = genai_span(agent)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


def test_stream_closed_early_ends_its_span_once(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    stream = client(fake_gemini).models.generate_content_stream(model=MODEL, contents="Hi")
    next(stream)
    stream.close()
    gc.collect()
    span = genai_span(agent)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_stream_never_read_sends_nothing_and_leaves_no_span_open(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    stream = client(fake_gemini).models.generate_content_stream(model=MODEL, contents="Hi")
    del stream
    gc.collect()
    agent.flush()
    assert fake_gemini.requests == []  # nothing is sent before the first read, as without us
    # Depending on the SDK release, the request method is reached (a span ended unread) or not.
    spans = [s for s in agent.receiver.spans if "gen_ai.operation.name" in s.attributes]
    assert len(spans) <= 1
    assert all("gen_ai.usage.input_tokens" not in s.attributes for s in spans)


def test_error_event_inside_the_stream_ends_the_span_as_an_error(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    received = []
    try:
        for chunk in client(fake_gemini, "stream_error").models.generate_content_stream(
            model=MODEL, contents="Hi"
        ):
            received.append(chunk.text)
    except errors.ServerError as error:
        assert error.code == 503
    else:
        pytest.skip(f"google-genai {version.__version__} ignores error events in a stream")
    span = genai_span(agent)
    assert received == [fake.TEXT_CHUNKS[0]]
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "503"


def test_http_error_on_the_first_read_is_recorded(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    stream = client(fake_gemini, "status_429").models.generate_content_stream(
        model=MODEL, contents="Hi"
    )
    with pytest.raises(errors.ClientError):
        next(stream)
    assert genai_span(agent).attributes["error.type"] == "429"


def test_streamed_content_is_joined_into_the_output_message(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    with agent.configured(capture_content=True):
        list(client(fake_gemini).models.generate_content_stream(model=MODEL, contents="Hi"))
    span = genai_span(agent)
    assert json.loads(span.attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": fake.TEXT}],
            "finish_reason": "stop",
        }
    ]


def test_streamed_tool_call_is_recorded_with_its_arguments(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    with agent.configured(capture_content=True):
        list(
            client(fake_gemini, "tool_call").models.generate_content_stream(
                model=MODEL, contents="Weather?"
            )
        )
    (output,) = json.loads(genai_span(agent).attributes["gen_ai.output.messages"])
    assert output["parts"][-1] == {
        "type": "tool_call",
        "id": fake.TOOL_CALL_ID,
        "name": fake.TOOL_NAME,
        "arguments": fake.TOOL_ARGS,
    }


def test_chat_send_message_stream_is_one_streamed_span(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    chat = client(fake_gemini).chats.create(model=MODEL)
    text = "".join(chunk.text for chunk in chat.send_message_stream("Hello"))
    assert text == fake.TEXT
    assert_complete_stream(genai_span(agent))


# --- async -------------------------------------------------------------------------------------


def test_async_stream_read_to_the_end_records_the_final_usage(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    async def main() -> list[Any]:
        stream = await client(fake_gemini).aio.models.generate_content_stream(
            model=MODEL, contents="Hi"
        )
        return [chunk.text async for chunk in stream]

    with agent.configured(http_under_llm="always"):
        assert asyncio.run(main()) == list(fake.TEXT_CHUNKS)
    span = genai_span(agent)
    assert_complete_stream(span)
    http = [s for s in agent.receiver.spans if s.name == "POST"]
    assert len(http) == 1
    assert (http[0].trace_id, http[0].parent_span_id) == (span.trace_id, span.span_id)


def test_async_stream_left_early_ends_its_span_once(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    async def main() -> None:
        stream = await client(fake_gemini).aio.models.generate_content_stream(
            model=MODEL, contents="Hi"
        )
        async for _chunk in stream:
            break
        await stream.aclose()

    asyncio.run(main())
    gc.collect()
    span = genai_span(agent)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_async_chat_send_message_stream_is_one_span(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    async def main() -> str:
        chat = client(fake_gemini).aio.chats.create(model=MODEL)
        stream = await chat.send_message_stream("Hello")
        return "".join([chunk.text async for chunk in stream])

    assert asyncio.run(main()) == fake.TEXT
    assert_complete_stream(genai_spans(agent, 1, SPAN)[0])


def test_async_error_event_inside_the_stream_is_recorded(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    async def main() -> None:
        stream = await client(fake_gemini, "stream_error").aio.models.generate_content_stream(
            model=MODEL, contents="Hi"
        )
        async for _chunk in stream:
            pass

    try:
        asyncio.run(main())
    except errors.ServerError:
        pass
    else:
        pytest.skip(f"google-genai {version.__version__} ignores error events in a stream")
    span = genai_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "503"
