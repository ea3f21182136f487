"""The groq instrumentor: the real groq SDK over HTTP to the loopback OpenAI-wire fake (Groq
serves OpenAI's format under ``/openai/v1``), checked at the real OTLP receiver."""

from __future__ import annotations

import asyncio
import gc

import groq
import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import (
    Reply,
    chat_chunks,
    chat_completion,
    chat_usage,
    error_body,
    json_attribute,
    llm_span,
)

MODEL = "llama-3.3-70b-versatile"
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Current weather", "parameters": {}},
}


def client(server, **options):
    return groq.Groq(base_url=server.origin, api_key="gsk-secret", max_retries=0, **options)


def async_client(server):
    return groq.AsyncGroq(base_url=server.origin, api_key="gsk-secret", max_retries=0)


def groq_chunks(usage=None):
    """Groq's stream: OpenAI's chunks, the usage in the final chunk's ``x_groq``."""
    events = chat_chunks(model=MODEL)
    events[0]["x_groq"] = {"id": "req_1"}
    events[-1]["x_groq"] = {"id": "req_1", "usage": usage or chat_usage(prompt=30, completion=9)}
    return events


def test_chat_completion_is_one_groq_chat_span_with_usage_and_cost(agent, fake_openai):
    fake_openai.reply(Reply(body=chat_completion(model=MODEL, usage=chat_usage(100, 20, 40))))

    result = client(fake_openai).chat.completions.create(
        model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=50, seed=7, stop="END"
    )

    assert isinstance(result, groq.types.chat.ChatCompletion)
    assert len(fake_openai.requests) == 1
    assert fake_openai.last_request().path == "/openai/v1/chat/completions"
    span = llm_span(agent)
    assert span.name == f"chat {MODEL}"
    assert span.kind == "CLIENT"
    attributes = span.attributes
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "groq"
    assert attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attributes[semconv.GEN_AI_REQUEST_SEED] == 7
    assert attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == MODEL
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 20
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 40
    assert attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attributes[semconv.SERVER_PORT] == fake_openai.port
    assert attributes[semconv.GEN_AI_USAGE_COST] > 0
    assert not any(key.startswith("openai.") for key in attributes)
    assert "gsk-secret" not in repr(attributes)


def test_http_request_is_a_child_of_the_chat_span(agent, fake_openai):
    with agent.configured(http_under_llm="always"):
        client(fake_openai).chat.completions.create(model=MODEL, messages=MESSAGES)

    span = llm_span(agent)
    http = agent.spans(1, name="POST", kind="CLIENT")
    children = [s for s in http if s.parent_span_id == span.span_id]
    assert len(children) == 1


def test_stream_records_the_usage_groq_sends_in_x_groq(agent, fake_openai):
    fake_openai.reply(Reply(events=groq_chunks()))

    stream = client(fake_openai).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    assert isinstance(stream, groq.Stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == "Hello from the fake server!"
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 30
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 9
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


def test_stream_with_include_usage_records_the_top_level_usage(agent, fake_openai):
    stream = client(fake_openai).chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        extra_body={"stream_options": {"include_usage": True}},
    )
    for _ in stream:
        pass

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_a_stream_left_early_ends_its_span_once(agent, fake_openai):
    fake_openai.reply(Reply(events=groq_chunks()))

    with client(fake_openai).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as stream:
        next(iter(stream))

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


def test_an_abandoned_stream_ends_its_span_when_collected(agent, fake_openai):
    stream = client(fake_openai).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    next(iter(stream))
    del stream
    gc.collect()

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_MODEL] == MODEL


def test_async_chat_and_async_stream(agent, fake_openai):
    fake_openai.reply(Reply(body=chat_completion(model=MODEL)), Reply(events=groq_chunks()))

    async def main():
        aclient = async_client(fake_openai)
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        assert isinstance(stream, groq.AsyncStream)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(main())

    assert len(chunks) == len(groq_chunks())
    agent.flush()
    spans = agent.receiver.wait_for_spans(
        2, 10.0, lambda span: "gen_ai.operation.name" in span.attributes
    )
    assert len(spans) == 2
    streamed = next(s for s in spans if semconv.GEN_AI_REQUEST_STREAM in s.attributes)
    assert streamed.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 30
    assert len(fake_openai.requests) == 2


def test_api_error_reaches_the_app_unchanged_and_marks_the_span(agent, fake_openai):
    fake_openai.reply(Reply(status=429, body=error_body(429)))

    with pytest.raises(groq.RateLimitError) as caught:
        client(fake_openai).chat.completions.create(model=MODEL, messages=MESSAGES)

    assert caught.value.status_code == 429
    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "429"


def test_connection_error_type_is_the_sdk_exception_class(agent):
    from tests.support.http_server import refused_url

    bad = groq.Groq(base_url=refused_url(), api_key="gsk-secret", max_retries=0)
    with pytest.raises(groq.APIConnectionError):
        bad.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert llm_span(agent).attributes[semconv.ERROR_TYPE] == "groq.APIConnectionError"


def test_content_capture_records_messages_tools_and_tool_calls(agent, fake_openai):
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    with agent.configured(capture_content=True):
        client(fake_openai).chat.completions.create(
            model=MODEL, messages=messages, tools=[WEATHER_TOOL]
        )

    span = llm_span(agent)
    assert json_attribute(span, semconv.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": "Be brief."}
    ]
    assert json_attribute(span, semconv.GEN_AI_INPUT_MESSAGES)[0]["role"] == "user"
    assert json_attribute(span, semconv.GEN_AI_TOOL_DEFINITIONS)[0]["name"] == "get_weather"
    output = json_attribute(span, semconv.GEN_AI_OUTPUT_MESSAGES)
    assert output[0]["finish_reason"] == "tool_calls"
    assert output[0]["parts"][0] == {
        "type": "tool_call",
        "id": "call_1",
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }


def test_no_content_without_capture(agent, fake_openai):
    client(fake_openai).chat.completions.create(model=MODEL, messages=MESSAGES)

    attributes = llm_span(agent).attributes
    assert semconv.GEN_AI_INPUT_MESSAGES not in attributes
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in attributes


def test_streamed_output_is_assembled_with_capture(agent, fake_openai):
    fake_openai.reply(Reply(events=groq_chunks()))
    with agent.configured(capture_content=True):
        for _ in client(fake_openai).chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True
        ):
            pass

    output = json_attribute(llm_span(agent), semconv.GEN_AI_OUTPUT_MESSAGES)
    assert output == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the fake server!"}],
            "finish_reason": "stop",
        }
    ]


def test_embeddings_span(agent, fake_openai):
    client(fake_openai).embeddings.create(model="nomic-embed-text-v1_5", input=["a", "b"])

    span = llm_span(agent)
    assert span.name == "embeddings nomic-embed-text-v1_5"
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "groq"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 8


def test_a_raw_response_call_records_its_response_and_returns_the_sdks_object(agent, fake_openai):
    fake_openai.reply(Reply(body=chat_completion(model=MODEL, usage=chat_usage(12, 5))))

    raw = client(fake_openai).chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES
    )
    completion = raw.parse()

    assert isinstance(completion, groq.types.chat.ChatCompletion)
    assert raw.parse() is completion  # the SDK's cached object, parsed once
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_a_streaming_response_is_recorded_when_its_parsed_stream_ends(agent, fake_openai):
    fake_openai.reply(Reply(events=groq_chunks()))

    with client(fake_openai).chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as response:
        assert not agent.receiver.spans  # the body is still on the wire: the span is open
        text = "".join(
            chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices
        )

    assert text == "Hello from the fake server!"
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 30
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_an_async_raw_response_call_is_recorded(agent, fake_openai):
    fake_openai.reply(Reply(body=chat_completion(model=MODEL, usage=chat_usage(7, 3))))

    async def main():
        raw = await async_client(fake_openai).chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES
        )
        parsed = raw.parse()  # a coroutine where the SDK returns an AsyncAPIResponse
        return await parsed if asyncio.iscoroutine(parsed) else parsed

    completion = asyncio.run(main())

    assert isinstance(completion, groq.types.chat.ChatCompletion)
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"
