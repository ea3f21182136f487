"""Streamed chat completions: the proxy is transparent, and the span ends exactly once with what
the chunks said, whether the stream is exhausted, closed early, abandoned, broken or cancelled.
"""

from __future__ import annotations

import asyncio
import gc

import openai
import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import (
    Reply,
    async_client,
    chat_chunks,
    chat_usage,
    client,
    json_attribute,
    llm_span,
    llm_spans,
    skip_unless_sdk_has,
)

MESSAGES = [{"role": "user", "content": "Tell me about Paris."}]

needs_chat_stream = skip_unless_sdk_has("chat.completions.Completions", "stream")


def stream(fake_openai, **options):
    return client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, **options
    )


def no_llm_span_yet(agent) -> bool:
    agent.flush()
    return not [s for s in agent.receiver.spans if "gen_ai.operation.name" in s.attributes]


# --- what a complete stream records --------------------------------------------------------------


def test_a_stream_read_by_next_then_by_for_sees_each_chunk_once_and_ends_once(agent, fake_openai):
    # ``for`` iterates a generator of ours (no proxy attribute read per chunk), ``next()`` the
    # proxy's own __next__: both read the same chunks.
    whole = list(stream(fake_openai))
    agent.flush()
    agent.receiver.clear()
    read = stream(fake_openai)
    first = next(read)
    rest = []
    for chunk in read:
        rest.append(chunk)
        break
    rest += list(read)
    assert [c.model_dump() for c in [first, *rest]] == [c.model_dump() for c in whole]
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert 0 < span.attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < span.duration_s


def test_a_stream_left_inside_a_for_loop_ends_its_span_when_closed(agent, fake_openai):
    read = stream(fake_openai, stream_options={"include_usage": True})
    for _chunk in read:
        break
    assert no_llm_span_yet(agent)
    read.close()
    span = llm_span(agent)
    assert span.status_code == "UNSET"
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


def test_stream_without_usage_records_id_model_finish_reason_and_time_to_first_chunk(
    agent, fake_openai
):
    chunks = list(stream(fake_openai))

    span = llm_span(agent)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake server!"
    )
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"
    assert span.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert 0 < span.attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < span.duration_s
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    assert span.status_code == "UNSET"


def test_stream_with_include_usage_records_usage_from_the_final_chunk(agent, fake_openai):
    fake_openai.reply(Reply(events=chat_chunks(usage=chat_usage(40, 9, cached=32, reasoning=4))))

    list(stream(fake_openai, stream_options={"include_usage": True}))

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 40
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 9
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 32
    assert attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 4
    assert semconv.GEN_AI_USAGE_COST in attributes


def test_finish_reasons_are_aggregated_per_choice_index(agent, fake_openai):
    fake_openai.reply(Reply(events=chat_chunks(n=3)))

    list(stream(fake_openai, n=3))

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "stop", "stop")
    assert attributes[semconv.GEN_AI_REQUEST_CHOICE_COUNT] == 3


def test_streamed_text_is_assembled_when_capture_is_on(agent, fake_openai):
    with agent.configured(capture_content=True):
        list(stream(fake_openai))

    assert json_attribute(llm_span(agent), semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the fake server!"}],
            "finish_reason": "stop",
        }
    ]


def test_streamed_tool_call_arguments_are_assembled_when_capture_is_on(agent, fake_openai):
    fake_openai.reply(Reply(events=chat_chunks(tool_call=True)))

    with agent.configured(capture_content=True):
        list(stream(fake_openai, tools=[{"type": "function", "function": {"name": "get_weather"}}]))

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert json_attribute(span, semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
            "finish_reason": "tool_calls",
        }
    ]


def test_streamed_output_is_not_recorded_by_default(agent, fake_openai):
    list(stream(fake_openai))

    assert semconv.GEN_AI_OUTPUT_MESSAGES not in llm_span(agent).attributes
    assert b"fake server" not in agent.receiver.all_bytes()


# --- the proxy is transparent --------------------------------------------------------------------


def test_the_stream_is_still_the_sdk_stream_to_the_application(agent, fake_openai):
    chunks = stream(fake_openai)

    assert isinstance(chunks, openai.Stream)
    assert chunks.response.status_code == 200
    assert chunks.response.headers["x-request-id"] == "req_fake"
    with chunks as entered:
        assert entered is chunks
        first = next(entered)
    assert isinstance(first, openai.types.chat.ChatCompletionChunk)
    assert chunks.response.is_closed


def test_stream_span_is_open_until_the_stream_is_consumed(agent, fake_openai):
    chunks = stream(fake_openai)
    next(chunks)

    assert no_llm_span_yet(agent)
    list(chunks)
    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


# --- every way a stream can end ------------------------------------------------------------------


def test_break_then_close_ends_the_span_once_with_unfinished_choice_as_error(agent, fake_openai):
    chunks = stream(fake_openai)
    for _ in chunks:
        break
    chunks.close()
    chunks.close()

    span = llm_span(agent)
    assert span.status_code == "UNSET"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


def test_leaving_the_with_block_early_ends_the_span(agent, fake_openai):
    with stream(fake_openai) as chunks:
        next(chunks)

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"


def test_an_abandoned_stream_ends_its_span_when_garbage_collected(agent, fake_openai):
    chunks = stream(fake_openai)
    next(chunks)
    assert no_llm_span_yet(agent)

    del chunks
    gc.collect()

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


def test_a_connection_dropped_mid_stream_ends_the_span_with_the_error(agent, fake_openai):
    fake_openai.reply(Reply(events=chat_chunks(), drop_after=2))

    chunks = stream(fake_openai)
    with pytest.raises(Exception) as caught:  # httpx's or openai's, depending on the version
        for _ in chunks:
            pass

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    error_class = type(caught.value)
    assert (
        span.attributes[semconv.ERROR_TYPE]
        == f"{error_class.__module__}.{error_class.__qualname__}"
    )
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"


def test_an_error_event_in_the_stream_ends_the_span_with_the_sdk_error(agent, fake_openai):
    events = [*chat_chunks()[:2], {"error": {"message": "overloaded", "type": "server_error"}}]
    fake_openai.reply(Reply(events=events))

    with pytest.raises(openai.APIError):
        list(stream(fake_openai))

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "openai.APIError"


# --- async ---------------------------------------------------------------------------------------


def test_async_stream_records_the_same_span(agent, fake_openai):
    async def main() -> list:
        chunks = await async_client(fake_openai).chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        assert isinstance(chunks, openai.AsyncStream)
        return [chunk async for chunk in chunks]

    assert len(asyncio.run(main())) == 6
    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attributes


def test_async_break_then_close_ends_the_span(agent, fake_openai):
    async def main() -> None:
        chunks = await async_client(fake_openai).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        async for _ in chunks:
            break
        await chunks.close()

    asyncio.run(main())

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


def test_cancelling_a_streaming_call_ends_the_span_with_error_status(agent, fake_openai):
    fake_openai.reply(Reply(events=chat_chunks(), delay=0.3))

    async def consume() -> None:
        chunks = await async_client(fake_openai).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        async for _ in chunks:
            pass

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.45)  # headers are in, the first chunk too, waiting for the second
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE].endswith("CancelledError")


def test_cancelling_before_the_response_arrives_ends_the_span_with_error_status(agent, fake_openai):
    fake_openai.reply(Reply(body={}, delay=2.0))

    async def main() -> None:
        call = async_client(fake_openai).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
        task = asyncio.create_task(call)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE].endswith("CancelledError")


# --- the stream() helper -------------------------------------------------------------------------


@needs_chat_stream
def test_stream_helper_is_one_span_with_events_and_final_completion(agent, fake_openai):
    chat = client(fake_openai).chat.completions
    with chat.stream(
        model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
    ) as events:
        kinds = {event.type for event in events}
        final = events.get_final_completion()

    span = llm_span(agent)
    assert {"chunk", "content.delta", "content.done"} <= kinds
    assert final.choices[0].message.content == "Hello from the fake server!"
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


@needs_chat_stream
def test_leaving_the_stream_helper_early_ends_the_span_at_exit(agent, fake_openai):
    with client(fake_openai).chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as s:
        next(iter(s))
    kept = s  # the helper object is still referenced: only the exit can have ended the span

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert kept is s


@needs_chat_stream
def test_async_stream_helper_is_one_span(agent, fake_openai):
    async def main() -> object:
        chat = async_client(fake_openai).chat.completions
        async with chat.stream(model="gpt-4o-mini", messages=MESSAGES) as events:
            async for _ in events:
                pass
            return await events.get_final_completion()

    assert asyncio.run(main()).choices[0].finish_reason == "stop"
    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


@needs_chat_stream
def test_leaving_the_async_stream_helper_early_ends_the_span_at_exit(agent, fake_openai):
    async def main() -> object:
        chat = async_client(fake_openai).chat.completions
        async with chat.stream(model="gpt-4o-mini", messages=MESSAGES) as events:
            async for _ in events:
                break
        return events

    kept = asyncio.run(main())

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert kept is not None


def test_many_streams_make_one_span_each(agent, fake_openai):
    for _ in range(5):
        list(stream(fake_openai))

    assert len(llm_spans(agent, 5)) == 5
