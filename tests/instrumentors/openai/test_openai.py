"""The openai instrumentor on chat completions, and what every surface shares: span shape,
request and response attributes, cost, errors, content capture, raw responses, metrics.

Every test drives the real openai SDK over HTTP to the loopback fake server and reads what the
real OTLP receiver got from the in-process agent.
"""

from __future__ import annotations

import asyncio
import socket
import traceback

import openai
import pytest
from pydantic import BaseModel

from llmtrace_agent.toolkit import semconv
from tests.support.agent import InProcessAgent
from tests.support.fake_openai import (
    API_KEY,
    AZURE_HOST,
    Reply,
    async_client,
    azure_client,
    chat_completion,
    chat_usage,
    client,
    error_body,
    json_attribute,
    llm_span,
    llm_spans,
    skip_unless_sdk_has,
)
from tests.support.http_server import RecordingHTTPServer

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}

needs_chat_parse = skip_unless_sdk_has("chat.completions.Completions", "parse")


def uninstrumented(method: object) -> object:
    """The SDK's own function behind our patch of ``method`` (a bound method of a resource)."""
    function = type(method.__self__).__dict__[method.__name__]  # type: ignore[attr-defined]
    original = function.__wrapped__

    def call(*args: object, **kwargs: object) -> object:
        return original(method.__self__, *args, **kwargs)  # type: ignore[attr-defined]

    return call


# --- span shape and request attributes -----------------------------------------------------------


def test_chat_completion_is_one_client_span_named_after_operation_and_model(agent, fake_openai):
    client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    span = llm_span(agent)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind == "CLIENT"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert span.attributes[semconv.OPENAI_API_TYPE] == "chat_completions"
    assert span.status_code == "UNSET"


def test_request_parameters_are_recorded(agent, fake_openai):
    client(fake_openai).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0,
        top_p=0.9,
        max_completion_tokens=100,
        seed=42,
        stop=["END", "STOP"],
        frequency_penalty=0.5,
        presence_penalty=-0.25,
        n=2,
        service_tier="flex",
        reasoning_effort="low",
        response_format={"type": "json_object"},
    )

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.0
    assert isinstance(attributes[semconv.GEN_AI_REQUEST_TEMPERATURE], float)
    assert attributes[semconv.GEN_AI_REQUEST_TOP_P] == 0.9
    assert attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 100
    assert attributes[semconv.GEN_AI_REQUEST_SEED] == 42
    assert attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END", "STOP")
    assert attributes[semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY] == 0.5
    assert attributes[semconv.GEN_AI_REQUEST_PRESENCE_PENALTY] == -0.25
    assert attributes[semconv.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    assert attributes[semconv.OPENAI_REQUEST_SERVICE_TIER] == "flex"
    assert attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] == "low"
    assert attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"


def test_max_tokens_a_single_stop_string_and_default_n_and_tier(agent, fake_openai):
    client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, max_tokens=64, stop="END", n=1, service_tier="auto"
    )

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert semconv.GEN_AI_REQUEST_CHOICE_COUNT not in attributes  # only when != 1
    assert semconv.OPENAI_REQUEST_SERVICE_TIER not in attributes  # not when "auto"
    assert semconv.GEN_AI_REQUEST_STREAM not in attributes


def test_server_address_and_port_come_from_the_client_base_url(agent, fake_openai):
    client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    attributes = llm_span(agent).attributes
    assert attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attributes[semconv.SERVER_PORT] == fake_openai.port


def test_the_sdk_http_request_is_a_child_of_the_llm_span(agent, fake_openai):
    with agent.configured(http_under_llm="always"):
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    span = llm_span(agent)
    children = [s for s in agent.receiver.spans if s.parent_span_id == span.span_id]
    assert [child.kind for child in children] == ["CLIENT"]
    assert semconv.GEN_AI_OPERATION_NAME not in children[0].attributes


# --- response attributes, usage, cost ------------------------------------------------------------


def test_response_id_model_finish_reasons_usage_and_openai_attributes(agent, fake_openai):
    fake_openai.reply(Reply(body=chat_completion(model="gpt-4o-mini-2024-07-18", n=2)))

    client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2)

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "stop")
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert attributes[semconv.OPENAI_RESPONSE_SERVICE_TIER] == "default"
    assert attributes[semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] == "fp_fake"


def test_cached_and_reasoning_tokens_are_recorded(agent, fake_openai):
    body = chat_completion(
        usage=chat_usage(prompt=2000, completion=300, cached=1536, reasoning=256)
    )
    fake_openai.reply(Reply(body=body))

    client(fake_openai).chat.completions.create(model="o4-mini", messages=MESSAGES)

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 2000
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 300
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1536
    assert attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 256


def test_cost_is_recorded_for_a_known_model(agent, fake_openai):
    client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    cost = llm_span(agent).attributes[semconv.GEN_AI_USAGE_COST]
    # gpt-4o-mini: $0.15 / 1M input tokens, $0.60 / 1M output tokens; 12 in, 5 out.
    assert cost == pytest.approx(12 * 0.15e-6 + 5 * 0.6e-6)


def test_no_cost_for_an_unknown_model(agent, fake_openai):
    client(fake_openai).chat.completions.create(model="my-finetune-xyz", messages=MESSAGES)

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert semconv.GEN_AI_USAGE_COST not in attributes


# --- sync and async, OpenAI and Azure ------------------------------------------------------------


def test_async_chat_completion_records_the_same_span(agent, fake_openai):
    async def main() -> object:
        return await async_client(fake_openai).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2
        )

    result = asyncio.run(main())

    span = llm_span(agent)
    assert result.choices[0].message.content == "Hello from the fake server!"
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_azure_client_is_provider_azure_ai_openai_on_its_own_host(agent, fake_openai):
    azure_client(fake_openai).chat.completions.create(
        model="my-gpt4o-deployment", messages=MESSAGES
    )

    span = llm_span(agent)
    assert span.name == "chat my-gpt4o-deployment"
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert span.attributes[semconv.SERVER_ADDRESS] == AZURE_HOST
    assert span.attributes[semconv.SERVER_PORT] == 443
    assert not any(name.startswith("openai.") for name in span.attributes)  # spec: not OpenAI's
    assert "/openai/deployments/my-gpt4o-deployment/" in fake_openai.last_request().path
    assert span.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert span.attributes[semconv.GEN_AI_USAGE_COST] > 0  # priced by the model Azure answered


def test_async_azure_client_is_provider_azure_ai_openai(agent, fake_openai):
    async def main() -> None:
        await azure_client(fake_openai, asynchronous=True).chat.completions.create(
            model="my-gpt4o-deployment", messages=MESSAGES
        )

    asyncio.run(main())

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert span.attributes[semconv.SERVER_ADDRESS] == AZURE_HOST


# --- the application sees what it would without us ----------------------------------------------


def test_result_equals_what_the_uninstrumented_sdk_returns(agent, fake_openai):
    completions = client(fake_openai).chat.completions

    traced = completions.create(model="gpt-4o-mini", messages=MESSAGES)
    plain = uninstrumented(completions.create)(model="gpt-4o-mini", messages=MESSAGES)

    assert type(traced) is type(plain) is openai.types.chat.ChatCompletion
    assert traced.model_dump() == plain.model_dump()
    assert len(llm_spans(agent, 1)) == 1  # the uninstrumented call made none


def test_api_status_error_is_recorded_and_reaches_the_caller_untouched(agent, fake_openai):
    fake_openai.reply(Reply(status=429, body=error_body(429)))

    with pytest.raises(openai.RateLimitError) as caught:
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "429"
    assert [name for name, _ in span.events] == ["exception"]
    assert span.events[0][1]["exception.type"].endswith("RateLimitError")
    error = caught.value
    assert error.status_code == 429 and error.body == error_body(429)["error"]
    # Raised by the SDK, passed through as is: its innermost frame is the SDK's own.
    innermost = traceback.extract_tb(error.__traceback__)[-1]
    assert "/openai/" in innermost.filename


def test_server_error_status_is_the_error_type(agent, fake_openai):
    fake_openai.reply(Reply(status=500, body=error_body(500)))

    with pytest.raises(openai.InternalServerError):
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "500"


def test_connection_error_type_is_the_exception_class(agent):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed once the block ends: nothing listens there
    broken = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=API_KEY, max_retries=0)

    with pytest.raises(openai.APIConnectionError):
        broken.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "openai.APIConnectionError"


# --- content capture -----------------------------------------------------------------------------

CONVERSATION = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "developer", "content": [{"type": "text", "text": "Answer in one line."}]},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_9", "content": "rainy, 14°C"},
    {
        "role": "user",
        "name": "ann",
        "content": [
            {"type": "text", "text": "And this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/sky.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    },
]


def test_content_is_captured_in_the_spec_json_shapes_when_enabled(agent, fake_openai):
    with agent.configured(capture_content=True):
        client(fake_openai).chat.completions.create(
            model="gpt-4o-mini", messages=CONVERSATION, tools=[WEATHER_TOOL]
        )

    span = llm_span(agent)
    assert json_attribute(span, semconv.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": "You are a weather bot."},
        {"type": "text", "content": "Answer in one line."},
    ]
    assert json_attribute(span, semconv.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_9",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_9", "response": "rainy, 14°C"}],
        },
        {
            "role": "user",
            "name": "ann",
            "parts": [
                {"type": "text", "content": "And this?"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/sky.png"},
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": "<image/png, 8 bytes>",  # the bytes themselves never exported
                },
            ],
        },
    ]
    assert json_attribute(span, semconv.GEN_AI_TOOL_DEFINITIONS) == [
        {"type": "function", "name": "get_weather", "description": "Current weather in a city"}
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


def test_output_text_is_captured_as_a_text_part(agent, fake_openai):
    with agent.configured(capture_content=True):
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert json_attribute(llm_span(agent), semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the fake server!"}],
            "finish_reason": "stop",
        }
    ]


def test_a_previous_response_message_passed_back_is_captured(agent, fake_openai):
    chat = client(fake_openai).chat.completions
    first = chat.create(model="gpt-4o-mini", messages=MESSAGES)
    with agent.configured(capture_content=True):
        chat.create(model="gpt-4o-mini", messages=[*MESSAGES, first.choices[0].message])

    second = llm_spans(agent, 2)[1]
    messages = json_attribute(second, semconv.GEN_AI_INPUT_MESSAGES)
    assert messages[-1] == {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Hello from the fake server!"}],
    }


def test_long_content_is_clipped_to_the_configured_length(agent, fake_openai):
    with agent.configured(capture_content=True, content_max_length=10):
        client(fake_openai).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 500}]
        )

    parts = json_attribute(llm_span(agent), semconv.GEN_AI_INPUT_MESSAGES)[0]["parts"]
    assert parts[0]["content"].startswith("x" * 10)
    assert len(parts[0]["content"]) < 30


def test_messages_given_as_a_generator_still_reach_the_server(agent, fake_openai):
    with agent.configured(capture_content=True):
        client(fake_openai).chat.completions.create(
            model="gpt-4o-mini", messages=(message for message in MESSAGES)
        )

    assert fake_openai.last_request().json["messages"] == MESSAGES
    assert semconv.GEN_AI_INPUT_MESSAGES not in llm_span(agent).attributes  # not consumed


def test_by_default_no_content_and_no_api_key_leave_the_process(agent, fake_openai):
    secret_prompt = "my-secret-prompt-7a1c"
    client(fake_openai).chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": secret_prompt},
            {"role": "user", "content": secret_prompt},
        ],
        tools=[WEATHER_TOOL],
    )

    span = llm_span(agent)
    agent.flush()
    exported = agent.receiver.all_bytes()
    assert secret_prompt.encode() not in exported
    assert b"Hello from the fake server" not in exported
    assert API_KEY.encode() not in exported
    assert b"Current weather in a city" not in exported
    for name in (
        semconv.GEN_AI_INPUT_MESSAGES,
        semconv.GEN_AI_OUTPUT_MESSAGES,
        semconv.GEN_AI_SYSTEM_INSTRUCTIONS,
        semconv.GEN_AI_TOOL_DEFINITIONS,
    ):
        assert name not in span.attributes


def test_the_api_key_is_not_exported_with_content_capture_on(agent, fake_openai):
    with agent.configured(capture_content=True):
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    llm_span(agent)
    assert API_KEY.encode() not in agent.receiver.all_bytes()
    assert fake_openai.last_request().headers["authorization"] == f"Bearer {API_KEY}"


# --- parse ----------------------------------------------------------------------------------------


class Weather(BaseModel):
    city: str
    degrees: int


def weather_completion() -> dict:
    return chat_completion(content='{"city": "Paris", "degrees": 14}')


@needs_chat_parse
def test_parse_is_one_span_with_json_output_type(agent, fake_openai):
    fake_openai.reply(Reply(body=weather_completion()))

    parsed = client(fake_openai).chat.completions.parse(
        model="gpt-4o-mini", messages=MESSAGES, response_format=Weather
    )

    span = llm_span(agent)
    assert parsed.choices[0].message.parsed == Weather(city="Paris", degrees=14)
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12


@needs_chat_parse
def test_async_parse_is_one_span(agent, fake_openai):
    fake_openai.reply(Reply(body=weather_completion()))

    async def main() -> object:
        return await async_client(fake_openai).chat.completions.parse(
            model="gpt-4o-mini", messages=MESSAGES, response_format=Weather
        )

    parsed = asyncio.run(main())

    assert parsed.choices[0].message.parsed.degrees == 14
    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


@needs_chat_parse
def test_parse_error_of_the_sdk_reaches_the_caller_and_the_span_ends(agent, fake_openai):
    fake_openai.reply(Reply(body=chat_completion(content='{"city": "Par', finish_reason="length")))

    with pytest.raises(openai.LengthFinishReasonError):
        client(fake_openai).chat.completions.parse(
            model="gpt-4o-mini", messages=MESSAGES, response_format=Weather
        )

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "openai.LengthFinishReasonError"


def test_beta_parse_is_one_span(agent, fake_openai):
    # A class of its own in openai 1.40 to 1.9x (run by hand with 1.60), the regular one since.
    fake_openai.reply(Reply(body=weather_completion()))

    parsed = client(fake_openai).beta.chat.completions.parse(
        model="gpt-4o-mini", messages=MESSAGES, response_format=Weather
    )

    assert parsed.choices[0].message.parsed.city == "Paris"
    assert llm_span(agent).attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"


# --- with_raw_response / with_streaming_response -------------------------------------------------


def assert_complete_chat_span(span: object) -> None:
    attributes = span.attributes  # type: ignore[attr-defined]
    assert span.name == "chat gpt-4o-mini"  # type: ignore[attr-defined]
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert semconv.GEN_AI_USAGE_COST in attributes


def test_with_raw_response_makes_the_same_span(agent, fake_openai):
    raw = client(fake_openai).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )

    assert raw.headers["x-request-id"] == "req_fake"
    assert raw.parse().choices[0].message.content == "Hello from the fake server!"
    assert_complete_chat_span(llm_span(agent))


def test_with_raw_response_parse_returns_the_sdk_object(agent, fake_openai):
    raw = client(fake_openai).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )

    assert type(raw).__name__ == "LegacyAPIResponse"
    assert isinstance(raw.parse(), openai.types.chat.ChatCompletion)
    assert raw.parse() is raw.parse()


def test_async_with_raw_response_makes_the_same_span(agent, fake_openai):
    async def main() -> object:
        raw = await async_client(fake_openai).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
        return raw.parse()

    assert asyncio.run(main()).id == "chatcmpl-fake-1"
    assert_complete_chat_span(llm_span(agent))


def test_with_streaming_response_makes_the_same_span_once_parsed(agent, fake_openai):
    chat = client(fake_openai).chat.completions
    with chat.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as response:
        assert isinstance(response, openai._response.APIResponse)
        completion = response.parse()

    assert completion.id == "chatcmpl-fake-1"
    assert_complete_chat_span(llm_span(agent))


def test_with_streaming_response_read_without_parse_ends_the_span_on_exit(agent, fake_openai):
    chat = client(fake_openai).chat.completions
    with chat.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as response:
        lines = list(response.iter_lines())

    span = llm_span(agent)
    assert any("chatcmpl-fake-1" in line for line in lines)
    assert span.name == "chat gpt-4o-mini"
    assert span.status_code == "UNSET"
    assert semconv.GEN_AI_RESPONSE_ID not in span.attributes  # the body never went through us


def test_async_with_streaming_response_makes_the_same_span(agent, fake_openai):
    async def main() -> object:
        chat = async_client(fake_openai).chat.completions
        async with chat.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        ) as response:
            return await response.parse()

    assert asyncio.run(main()).id == "chatcmpl-fake-1"
    assert_complete_chat_span(llm_span(agent))


def test_raw_streamed_response_records_the_chunks_it_yields(agent, fake_openai):
    raw = client(fake_openai).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(raw.parse())  # the raw response is dropped; the stream carries the span on

    span = llm_span(agent)
    assert len(chunks) == 6
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_streaming_response_of_a_stream_records_the_parsed_stream(agent, fake_openai):
    async def main() -> list:
        chat = async_client(fake_openai).chat.completions
        async with chat.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as response:
            return [chunk async for chunk in await response.parse()]

    chunks = asyncio.run(main())

    span = llm_span(agent)
    assert len(chunks) == 5
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


@needs_chat_parse
def test_raw_response_of_parse_is_one_span(agent, fake_openai):
    fake_openai.reply(Reply(body=weather_completion()))

    raw = client(fake_openai).chat.completions.with_raw_response.parse(
        model="gpt-4o-mini", messages=MESSAGES, response_format=Weather
    )

    assert raw.parse().choices[0].message.parsed.city == "Paris"
    assert llm_span(agent).attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"


# --- metrics -------------------------------------------------------------------------------------


def test_token_usage_and_duration_metrics_are_exported(agent, fake_openai):
    client(fake_openai).chat.completions.create(model="metrics-test-model", messages=MESSAGES)
    agent.flush()

    def ours(points: list) -> list:
        return [
            p for p in points if p.attributes.get("gen_ai.request.model") == "metrics-test-model"
        ]

    tokens = ours(agent.receiver.points(semconv.GEN_AI_CLIENT_TOKEN_USAGE))
    durations = ours(agent.receiver.points(semconv.GEN_AI_CLIENT_OPERATION_DURATION))
    by_type = {p.attributes[semconv.GEN_AI_TOKEN_TYPE]: p for p in tokens}
    assert by_type["input"].sum == 12 and by_type["input"].count == 1
    assert by_type["output"].sum == 5
    assert by_type["input"].bucket_bounds == tuple(semconv.TOKEN_USAGE_BUCKETS)
    assert durations and durations[-1].bucket_bounds == tuple(semconv.OPERATION_DURATION_BUCKETS)
    expected = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "metrics-test-model",
        semconv.GEN_AI_RESPONSE_MODEL: "metrics-test-model",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: fake_openai.port,
        semconv.OPENAI_RESPONSE_SERVICE_TIER: "default",
        semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_fake",
    }
    assert expected.items() <= durations[-1].attributes.items()
    assert expected.items() <= by_type["input"].attributes.items()


def test_failed_call_duration_metric_carries_the_error_type(agent, fake_openai):
    fake_openai.reply(Reply(status=503, body=error_body(503)))
    with pytest.raises(openai.InternalServerError):
        client(fake_openai).chat.completions.create(model="metrics-error-model", messages=MESSAGES)
    agent.flush()

    durations = [
        p
        for p in agent.receiver.points(semconv.GEN_AI_CLIENT_OPERATION_DURATION)
        if p.attributes.get(semconv.GEN_AI_REQUEST_MODEL) == "metrics-error-model"
    ]
    assert durations and durations[-1].attributes[semconv.ERROR_TYPE] == "503"


# --- other libraries wrapping the client ---------------------------------------------------------


def test_instructor_call_is_one_llm_span(agent, fake_openai):
    instructor = pytest.importorskip(
        "instructor",
        reason="instructor is not installed: it needs openai>=2 and (1.17) jiter<0.15, which "
        "openai 3.x excludes; scripts/test-sdk-matrix runs this test with openai 2.x",
    )
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "Weather", "arguments": '{"city": "Paris", "degrees": 14}'},
    }
    choice = {
        "index": 0,
        "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": None, "tool_calls": [call]},
    }
    fake_openai.reply(Reply(body=chat_completion(choices=[choice])))
    patched = instructor.from_openai(client(fake_openai))

    weather = patched.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, response_model=Weather, max_retries=0
    )

    span = llm_span(agent)
    assert weather.model_dump() == {"city": "Paris", "degrees": 14}
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


def test_a_second_patch_around_create_still_gives_one_llm_span(agent, fake_openai):
    import wrapt

    chat = client(fake_openai).chat.completions
    inner = chat.create

    @wrapt.decorator
    def another_library(wrapped, instance, args, kwargs):  # like Langfuse's or Instructor's
        return wrapped(*args, **kwargs)

    chat.create = another_library(inner)
    chat.create(model="gpt-4o-mini", messages=MESSAGES)

    assert len(llm_spans(agent, 1)) == 1


def test_module_level_client_is_traced(agent, fake_openai, monkeypatch):
    monkeypatch.setattr(openai, "api_key", API_KEY)
    monkeypatch.setattr(openai, "base_url", fake_openai.base_url)
    monkeypatch.setattr(openai, "max_retries", 0)
    monkeypatch.setattr(openai, "_client", None)

    openai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert llm_span(agent).attributes[semconv.SERVER_PORT] == fake_openai.port


def test_custom_tool_definitions_are_captured(agent, fake_openai):
    custom = {"type": "custom", "custom": {"name": "sql", "description": "Run SQL"}}
    with agent.configured(capture_content=True):
        client(fake_openai).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, tools=[custom]
        )

    assert json_attribute(llm_span(agent), semconv.GEN_AI_TOOL_DEFINITIONS) == [
        {"type": "custom", "name": "sql", "description": "Run SQL"}
    ]


def test_openai_sdk_retries_carry_their_resend_count(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    client = openai.OpenAI(
        api_key="sk-test", base_url=http_server.url("/status/500/v1"), max_retries=1
    )
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    spans = sorted(agent.spans(2, name="POST"), key=lambda s: s.start_ns)
    assert [s.attributes.get("http.request.resend_count") for s in spans] == [None, 1]
    assert [s.attributes["error.type"] for s in spans] == ["500", "500"]
    assert b"sk-test" not in agent.receiver.all_bytes()


@pytest.mark.parametrize(
    ("factory", "provider"), [("bedrock", "aws.bedrock"), ("vertex", "gcp.vertex_ai")]
)
def test_a_client_on_a_cloud_provider_names_that_provider(agent, fake_openai, factory, provider):
    providers = pytest.importorskip("openai.providers", reason="openai 3.x's cloud providers")
    make = getattr(providers, factory, None)
    if make is None:
        pytest.skip(f"openai {openai.__version__} has no {factory} provider")
    if factory == "bedrock":
        cloud = make(base_url=fake_openai.base_url, api_key=API_KEY)
    else:
        cloud = make(base_url=fake_openai.base_url, token_provider=lambda: API_KEY)
    openai.OpenAI(provider=cloud, max_retries=0).responses.create(model="gpt-5", input="Hi")

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == provider
    assert span.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
