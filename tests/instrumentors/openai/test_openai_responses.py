"""The Responses API (create, stream, parse, the stream() helper), embeddings and the legacy
completions endpoint, through the real SDK to the fake server."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import (
    Reply,
    async_client,
    azure_client,
    client,
    completion_chunks,
    json_attribute,
    llm_span,
    response_events,
    response_object,
    response_usage,
    skip_unless_sdk_has,
)

# --- responses.create ----------------------------------------------------------------------------

needs_tier_and_conversation = skip_unless_sdk_has(
    "responses.Responses", "create", "service_tier", "conversation"
)


@needs_tier_and_conversation
def test_response_is_a_chat_span_with_request_and_response_attributes(agent, fake_openai):
    fake_openai.reply(
        Reply(body=response_object(usage=response_usage(100, 40, cached=64, reasoning=16)))
    )

    client(fake_openai).responses.create(
        model="gpt-4o-mini",
        input="Weather in Paris?",
        temperature=0.3,
        top_p=0.8,
        max_output_tokens=256,
        reasoning={"effort": "medium"},
        previous_response_id="resp_previous",
        service_tier="priority",
        text={"format": {"type": "text"}},
    )

    span = llm_span(agent)
    attributes = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert span.kind == "CLIENT"
    assert attributes[semconv.OPENAI_API_TYPE] == "responses"
    assert attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert attributes[semconv.GEN_AI_REQUEST_TOP_P] == 0.8
    assert attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 256
    assert attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] == "medium"
    assert attributes[semconv.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] == "resp_previous"
    assert attributes[semconv.OPENAI_REQUEST_SERVICE_TIER] == "priority"
    assert attributes[semconv.GEN_AI_OUTPUT_TYPE] == "text"
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_fake_1"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 40
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 64
    assert attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 16
    assert attributes[semconv.OPENAI_RESPONSE_SERVICE_TIER] == "default"
    assert semconv.GEN_AI_USAGE_COST in attributes


@needs_tier_and_conversation
def test_conversation_id_is_recorded(agent, fake_openai):
    fake_openai.reply(Reply(body=response_object(conversation={"id": "conv_123"})))

    client(fake_openai).responses.create(model="gpt-4o-mini", input="hi", conversation="conv_123")

    assert llm_span(agent).attributes[semconv.GEN_AI_CONVERSATION_ID] == "conv_123"


def test_function_call_output_finishes_with_tool_calls(agent, fake_openai):
    client(fake_openai).responses.create(
        model="gpt-4o-mini",
        input="Weather in Paris?",
        tools=[{"type": "function", "name": "get_weather", "parameters": {}}],
    )

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


def test_incomplete_response_finish_reason_is_its_reason(agent, fake_openai):
    body = response_object(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
    fake_openai.reply(Reply(body=body))

    client(fake_openai).responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=5)

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_output_tokens",)


def test_responses_content_is_captured_in_the_spec_shapes(agent, fake_openai):
    with agent.configured(capture_content=True):
        client(fake_openai).responses.create(
            model="gpt-4o-mini",
            instructions="You are a weather bot.",
            input=[
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "input_text", "text": "Paris?"}]},
                {
                    "type": "function_call",
                    "call_id": "call_7",
                    "name": "get_weather",
                    "arguments": '{"city": "Paris"}',
                },
                {"type": "function_call_output", "call_id": "call_7", "output": "rainy"},
            ],
            tools=[
                {"type": "function", "name": "get_weather", "description": "Weather"},
                {"type": "web_search"},
            ],
        )

    span = llm_span(agent)
    assert json_attribute(span, semconv.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": "You are a weather bot."},
        {"type": "text", "content": "Be brief."},
    ]
    assert json_attribute(span, semconv.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_7",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_7", "response": "rainy"}],
        },
    ]
    assert json_attribute(span, semconv.GEN_AI_TOOL_DEFINITIONS) == [
        {"type": "function", "name": "get_weather", "description": "Weather"},
        {"type": "web_search", "name": "web_search"},
    ]
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


def test_a_plain_string_input_is_one_user_message(agent, fake_openai):
    with agent.configured(capture_content=True):
        client(fake_openai).responses.create(model="gpt-4o-mini", input="Hi there")

    span = llm_span(agent)
    assert json_attribute(span, semconv.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}
    ]
    assert json_attribute(span, semconv.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [
        {"type": "text", "content": "Hello from the fake server!"}
    ]


def test_async_response_records_the_same_span(agent, fake_openai):
    async def main() -> object:
        return await async_client(fake_openai).responses.create(model="gpt-4o-mini", input="hi")

    assert asyncio.run(main()).output_text == "Hello from the fake server!"
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_fake_1"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20


def test_azure_responses_are_provider_azure_ai_openai(agent, fake_openai):
    azure_client(fake_openai).responses.create(model="my-deployment", input="hi")

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert semconv.OPENAI_API_TYPE not in span.attributes


# --- streaming -----------------------------------------------------------------------------------


def test_streamed_response_records_the_completed_event(agent, fake_openai):
    events = list(
        client(fake_openai).responses.create(model="gpt-4o-mini", input="hi", stream=True)
    )

    span = llm_span(agent)
    assert events[-1].type == "response.completed"
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_fake_1"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


def test_a_response_stream_cut_before_its_final_event_finishes_with_error(agent, fake_openai):
    fake_openai.reply(Reply(events=response_events()[:-1], done=False))

    with agent.configured(capture_content=True):
        list(client(fake_openai).responses.create(model="gpt-4o-mini", input="hi", stream=True))

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_fake_1"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert json_attribute(span, semconv.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [
        {"type": "text", "content": "Hello from the fake server!"}
    ]


def test_a_failed_response_event_finishes_with_error(agent, fake_openai):
    fake_openai.reply(Reply(events=response_events(final="response.failed"), done=False))

    list(client(fake_openai).responses.create(model="gpt-4o-mini", input="hi", stream=True))

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


def test_responses_stream_helper_is_one_span(agent, fake_openai):
    with client(fake_openai).responses.stream(model="gpt-4o-mini", input="hi") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()

    span = llm_span(agent)
    assert "".join(deltas) == final.output_text == "Hello from the fake server!"
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20


def test_leaving_the_responses_stream_helper_early_ends_the_span(agent, fake_openai):
    with client(fake_openai).responses.stream(model="gpt-4o-mini", input="hi") as stream:
        next(iter(stream))
    kept = stream

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert kept is stream


def test_async_responses_stream_helper_is_one_span(agent, fake_openai):
    async def main() -> object:
        responses = async_client(fake_openai).responses
        async with responses.stream(model="gpt-4o-mini", input="hi") as stream:
            async for _ in stream:
                pass
            return await stream.get_final_response()

    assert asyncio.run(main()).output_text == "Hello from the fake server!"
    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


# --- parse and raw responses ---------------------------------------------------------------------


class City(BaseModel):
    name: str


def test_responses_parse_is_one_span_with_json_output(agent, fake_openai):
    fake_openai.reply(Reply(body=response_object(text='{"name": "Paris"}')))

    parsed = client(fake_openai).responses.parse(model="gpt-4o-mini", input="hi", text_format=City)

    span = llm_span(agent)
    assert parsed.output_parsed == City(name="Paris")
    assert span.attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_fake_1"


def test_async_responses_parse_is_one_span(agent, fake_openai):
    fake_openai.reply(Reply(body=response_object(text='{"name": "Paris"}')))

    async def main() -> object:
        return await async_client(fake_openai).responses.parse(
            model="gpt-4o-mini", input="hi", text_format=City
        )

    assert asyncio.run(main()).output_parsed.name == "Paris"
    assert llm_span(agent).attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20


def test_responses_with_raw_response_makes_the_same_span(agent, fake_openai):
    raw = client(fake_openai).responses.with_raw_response.create(model="gpt-4o-mini", input="hi")

    assert raw.parse().id == "resp_fake_1"
    assert llm_span(agent).attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7


def test_responses_with_streaming_response_of_a_stream(agent, fake_openai):
    responses = client(fake_openai).responses
    with responses.with_streaming_response.create(
        model="gpt-4o-mini", input="hi", stream=True
    ) as response:
        kinds = [event.type for event in response.parse()]

    assert kinds[-1] == "response.completed"
    assert llm_span(agent).attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7


# --- embeddings ----------------------------------------------------------------------------------


def test_embeddings_span_has_model_usage_format_and_dimensions(agent, fake_openai):
    result = client(fake_openai).embeddings.create(
        model="text-embedding-3-small", input="hello", encoding_format="float", dimensions=3
    )

    span = llm_span(agent)
    assert result.data[0].embedding == [0.25, -0.5, 0.125]
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "embeddings"
    assert span.attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] == ("float",)
    assert span.attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 3
    assert span.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "text-embedding-3-small"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes
    assert semconv.GEN_AI_USAGE_COST in span.attributes


def test_embeddings_with_the_sdk_default_encoding_record_no_format(agent, fake_openai):
    result = client(fake_openai).embeddings.create(model="text-embedding-3-small", input=["a", "b"])

    span = llm_span(agent)
    assert [item.embedding for item in result.data] == [[0.25, -0.5, 0.125]] * 2
    assert semconv.GEN_AI_REQUEST_ENCODING_FORMATS not in span.attributes


def test_async_embeddings_record_the_same_span(agent, fake_openai):
    async def main() -> None:
        await async_client(fake_openai).embeddings.create(
            model="text-embedding-3-small", input="hello"
        )

    asyncio.run(main())

    assert llm_span(agent).name == "embeddings text-embedding-3-small"


def test_embeddings_input_is_never_captured(agent, fake_openai):
    with agent.configured(capture_content=True):
        client(fake_openai).embeddings.create(
            model="text-embedding-3-small", input="secret-embedding-text"
        )

    llm_span(agent)
    assert b"secret-embedding-text" not in agent.receiver.all_bytes()


# --- legacy completions --------------------------------------------------------------------------


def test_legacy_completion_is_a_text_completion_span(agent, fake_openai):
    client(fake_openai).completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=7, temperature=0.1, stop="\n"
    )

    span = llm_span(agent)
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "text_completion"
    assert span.attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 7
    assert span.attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("\n",)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "cmpl-fake-1"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_legacy_completion_content_is_captured(agent, fake_openai):
    with agent.configured(capture_content=True):
        client(fake_openai).completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")

    span = llm_span(agent)
    assert json_attribute(span, semconv.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}
    ]
    assert json_attribute(span, semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the fake server!"}],
            "finish_reason": "length",
        }
    ]


def test_streamed_legacy_completion_records_usage_and_text(agent, fake_openai):
    fake_openai.reply(Reply(events=completion_chunks(usage=True)))

    with agent.configured(capture_content=True):
        chunks = client(fake_openai).completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="Say hi",
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(chunk.choices[0].text for chunk in chunks if chunk.choices)

    span = llm_span(agent)
    assert text == "Hello there"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert json_attribute(span, semconv.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [
        {"type": "text", "content": "Hello there"}
    ]


def test_async_legacy_completion_records_the_same_span(agent, fake_openai):
    async def main() -> None:
        await async_client(fake_openai).completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Say hi"
        )

    asyncio.run(main())

    assert llm_span(agent).name == "text_completion gpt-3.5-turbo-instruct"
