"""The litellm instrumentor: the real litellm package, through its openai route to the loopback
OpenAI fake and through its own HTTP handler for Anthropic to the loopback Anthropic fake,
checked at the real OTLP receiver. One model call is one GenAI span, whichever SDK LiteLLM uses."""

from __future__ import annotations

import asyncio
import gc

import litellm
import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import (
    API_KEY,
    Reply,
    chat_completion,
    chat_usage,
    error_body,
    json_attribute,
    llm_span,
    llm_spans,
)

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Current weather", "parameters": {}},
}


def openai_route(fake_openai, **kwargs):
    return {
        "model": "openai/gpt-4o-mini",
        "api_base": fake_openai.base_url,
        "api_key": API_KEY,
        **kwargs,
    }


def test_openai_route_is_one_chat_span_with_the_real_response(agent, fake_openai):
    fake_openai.reply(Reply(body=chat_completion(usage=chat_usage(100, 20, cached=60))))

    response = litellm.completion(
        messages=MESSAGES, temperature=0.3, max_tokens=40, **openai_route(fake_openai)
    )

    assert isinstance(response, litellm.ModelResponse)
    assert len(fake_openai.requests) == 1
    span = llm_span(agent)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind == "CLIENT"
    attributes = span.attributes
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 40
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 20
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 60
    assert attributes[semconv.GEN_AI_USAGE_COST] > 0
    assert attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attributes[semconv.SERVER_PORT] == fake_openai.port
    assert span.scope == "llmtrace_agent.litellm"
    assert API_KEY not in repr(attributes)


def test_the_http_request_is_a_child_of_the_litellm_span(agent, fake_openai):
    with agent.configured(http_under_llm="always"):
        litellm.completion(messages=MESSAGES, **openai_route(fake_openai))

    span = llm_span(agent)
    http = agent.spans(1, name="POST", kind="CLIENT")
    assert [s.parent_span_id for s in http] == [span.span_id]


def test_an_sdk_call_made_inside_litellm_adds_no_second_span(agent, fake_openai):
    """A provider handler that calls the openai SDK's traced ``create`` (older LiteLLM releases'
    openai route does; here a custom provider) is part of the LiteLLM call: one GenAI span."""
    import openai
    from litellm import CustomLLM

    class Proxy(CustomLLM):
        def completion(self, *args, **kwargs):
            client = openai.OpenAI(base_url=fake_openai.base_url, api_key=API_KEY, max_retries=0)
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            return litellm.completion(model="gpt-4o-mini", mock_response="Hi!")

    litellm.custom_provider_map = [{"provider": "myproxy", "custom_handler": Proxy()}]
    try:
        litellm.completion(model="myproxy/any-model", messages=MESSAGES)
    finally:
        litellm.custom_provider_map = []

    assert len(fake_openai.requests) == 1
    span = llm_span(agent)  # exactly one GenAI span
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "myproxy"
    assert span.scope == "llmtrace_agent.litellm"


def test_positional_model_and_messages(agent, fake_openai):
    route = openai_route(fake_openai)
    litellm.completion(route.pop("model"), MESSAGES, **route)

    assert llm_span(agent).attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"


def test_stream_with_usage(agent, fake_openai):
    stream = litellm.completion(
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        **openai_route(fake_openai),
    )
    assert isinstance(stream, litellm.CustomStreamWrapper)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == "Hello from the fake server!"
    assert len(fake_openai.requests) == 1
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


def test_a_stream_left_early_ends_its_span(agent, fake_openai):
    stream = litellm.completion(messages=MESSAGES, stream=True, **openai_route(fake_openai))
    next(stream)
    del stream
    gc.collect()

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"


def test_acompletion_plain_and_streamed(agent, fake_openai):
    async def main():
        await litellm.acompletion(messages=MESSAGES, **openai_route(fake_openai))
        stream = await litellm.acompletion(
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **openai_route(fake_openai),
        )
        return [chunk async for chunk in stream]

    chunks = asyncio.run(main())

    assert chunks
    assert len(fake_openai.requests) == 2
    spans = llm_spans(agent, 2)
    streamed = next(s for s in spans if semconv.GEN_AI_REQUEST_STREAM in s.attributes)
    assert streamed.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert all(s.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai" for s in spans)


def test_anthropic_route_through_litellms_own_handler_has_tokens_and_cost(agent, fake_anthropic):
    response = litellm.completion(
        model="anthropic/claude-3-5-haiku-latest",
        messages=MESSAGES,
        api_base=fake_anthropic.base_url,
        api_key="sk-ant-secret",
        max_tokens=100,
    )

    assert response.choices[0].message.content == "Hello from the fake Claude."
    assert len(fake_anthropic.requests) == 1
    span = llm_span(agent)
    attributes = span.attributes
    assert span.name == "chat claude-3-5-haiku-latest"
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    # LiteLLM gives the response an id of its own (not Anthropic's): the one the app sees.
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == response.id
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    # Anthropic's 12 uncached + 200 cache-read + 30 cache-write input tokens, 9 output.
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 242
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 200
    assert attributes[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 30
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 9
    assert attributes[semconv.GEN_AI_USAGE_COST] > 0


def test_embedding(agent, fake_openai):
    litellm.embedding(
        model="openai/text-embedding-3-small",
        input=["a", "b"],
        api_base=fake_openai.base_url,
        api_key=API_KEY,
    )

    span = llm_span(agent)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert len(fake_openai.requests) == 1


def test_aembedding(agent, fake_openai):
    asyncio.run(
        litellm.aembedding(
            model="openai/text-embedding-3-small",
            input="a",
            api_base=fake_openai.base_url,
            api_key=API_KEY,
        )
    )

    assert llm_span(agent).name == "embeddings text-embedding-3-small"


def test_api_error_reaches_the_app_as_litellm_raises_it(agent, fake_openai):
    fake_openai.reply(Reply(status=429, body=error_body(429)))

    with pytest.raises(litellm.RateLimitError) as caught:
        litellm.completion(messages=MESSAGES, num_retries=0, **openai_route(fake_openai))

    assert caught.value.status_code == 429
    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "429"


def test_content_capture(agent, fake_openai):
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    with agent.configured(capture_content=True):
        litellm.completion(messages=messages, tools=[WEATHER_TOOL], **openai_route(fake_openai))

    span = llm_span(agent)
    assert json_attribute(span, semconv.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": "Be brief."}
    ]
    assert json_attribute(span, semconv.GEN_AI_INPUT_MESSAGES)[0]["role"] == "user"
    assert json_attribute(span, semconv.GEN_AI_TOOL_DEFINITIONS)[0]["name"] == "get_weather"
    output = json_attribute(span, semconv.GEN_AI_OUTPUT_MESSAGES)
    assert output[0]["parts"][0]["type"] == "tool_call"
    assert output[0]["parts"][0]["arguments"] == {"city": "Paris"}
    assert output[0]["finish_reason"] == "tool_calls"


def test_no_content_without_capture(agent, fake_openai):
    litellm.completion(messages=MESSAGES, **openai_route(fake_openai))

    assert semconv.GEN_AI_INPUT_MESSAGES not in llm_span(agent).attributes


def test_with_litellms_own_opentelemetry_callback_there_is_no_span_of_ours(agent, fake_openai):
    """The application's explicit choice of LiteLLM's own tracing wins: no span of ours, and
    none from the openai SDK underneath either."""
    import inspect

    from litellm.integrations.opentelemetry import OpenTelemetry
    from opentelemetry import trace

    if "tracer_provider" not in inspect.signature(OpenTelemetry).parameters:
        pytest.skip("this LiteLLM's OpenTelemetry logger makes its own provider and exporter")
    litellm.callbacks = [OpenTelemetry(tracer_provider=trace.get_tracer_provider())]
    try:
        litellm.completion(messages=MESSAGES, **openai_route(fake_openai))
    finally:
        litellm.callbacks = []

    agent.flush()
    spans = agent.receiver.wait_for_spans(
        1, 10.0, lambda span: span.scope.startswith("litellm") or "litellm" in span.name
    )
    assert spans, [s.name for s in agent.receiver.spans]
    ours = [
        s
        for s in agent.receiver.spans
        if s.scope in ("llmtrace_agent.litellm", "llmtrace_agent.openai")
    ]
    assert ours == []
    assert len(fake_openai.requests) == 1
