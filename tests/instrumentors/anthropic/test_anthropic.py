"""anthropic: the real SDK (sync and async) over loopback HTTP to a fake Messages API; what the
OTLP receiver got is what is asserted."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import textwrap
from typing import Any

import anthropic
import pytest
from anthropic.resources.messages import Messages

from tests.support import fake_anthropic as fake
from tests.support.agent import InProcessAgent, run_traced
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.http_server import refused_url, traceparent_ids
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

MODEL = "claude-haiku-4-5"
SPAN = f"chat {MODEL}"
API_KEY = "sk-ant-api03-fake-secret-key-0123456789"
PROMPT = "What is the weather in Paris today?"
MESSAGES = [{"role": "user", "content": PROMPT}]
# Anthropic reports input_tokens without the cached tokens; the spec's input count includes them.
INPUT_TOKENS = (
    fake.USAGE["input_tokens"]
    + fake.USAGE["cache_read_input_tokens"]
    + fake.USAGE["cache_creation_input_tokens"]
)
SDK_MAJOR = int(anthropic.__version__.split(".")[0])
has_parse = pytest.mark.skipif(
    not hasattr(Messages, "parse"), reason=f"anthropic {anthropic.__version__} has no parse"
)
has_sdk_spans = pytest.mark.skipif(
    not hasattr(anthropic._base_client, "get_tracer"),
    reason=f"anthropic {anthropic.__version__} has no OpenTelemetry spans of its own",
)


def client(server: FakeAnthropic, scenario: str = "text", **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.base_url,
        api_key=API_KEY,
        max_retries=0,
        default_headers={fake.SCENARIO_HEADER: scenario},
        **options,
    )


def async_client(server: FakeAnthropic, scenario: str = "text") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=server.base_url,
        api_key=API_KEY,
        max_retries=0,
        default_headers={fake.SCENARIO_HEADER: scenario},
    )


def chat_span(agent: InProcessAgent, name: str = SPAN) -> ReceivedSpan:
    """The one chat span this test produced (fails if there are several: a span ended twice or a
    duplicate LLM span)."""
    agent.spans(1, name=name)
    spans = [span for span in agent.receiver.spans if span.name.startswith("chat")]
    assert len(spans) == 1, [(span.name, span.scope) for span in spans]
    return spans[0]


def content(span: ReceivedSpan, key: str) -> Any:
    return json.loads(span.attributes[key])


def assert_complete_stream(span: ReceivedSpan) -> None:
    """What a stream read to its end records: usage split over message_start / message_delta."""
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.id"].startswith("msg_01Fake")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS
    assert span.attributes["gen_ai.usage.output_tokens"] == fake.USAGE["output_tokens"]
    assert 0 < span.attributes["gen_ai.response.time_to_first_chunk"] <= span.duration_s


# --- messages.create ---------------------------------------------------------------------------


def test_create_records_a_chat_span_with_request_and_response_attributes(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    response = client(fake_anthropic).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stop_sequences=["END"]
    )
    span = chat_span(agent)
    assert response.content[0].text == fake.TEXT
    assert span.kind == "CLIENT"
    assert span.scope == "llmtrace_agent.anthropic"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.stop_sequences": ("END",),
        "server.address": "127.0.0.1",
        "server.port": fake_anthropic.port,
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": INPUT_TOKENS,
        "gen_ai.usage.output_tokens": fake.USAGE["output_tokens"],
        "gen_ai.usage.cache_read.input_tokens": fake.USAGE["cache_read_input_tokens"],
        "gen_ai.usage.cache_creation.input_tokens": fake.USAGE["cache_creation_input_tokens"],
        "gen_ai.usage.cost": pytest.approx(span.attributes["gen_ai.usage.cost"]),
    }


def test_input_tokens_include_the_cache_reads_and_writes_anthropic_reports_apart(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    response = client(fake_anthropic).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = chat_span(agent)
    usage = response.usage
    assert span.attributes["gen_ai.usage.input_tokens"] == (
        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    )
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 200
    assert span.attributes["gen_ai.usage.cache_creation.input_tokens"] == 30


def test_a_known_claude_model_gets_its_cost_with_cache_prices(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    client(fake_anthropic).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = chat_span(agent)
    # claude-haiku-4-5 per million tokens: $1 input, $5 output, $0.10 cache read, $1.25 write.
    expected = (12 * 1.0 + 200 * 0.10 + 30 * 1.25 + 9 * 5.0) / 1e6
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(expected)


def test_sampling_parameters_given_in_extra_body_are_recorded(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    # anthropic >= 1 dropped temperature / top_p / top_k from its signature.
    client(fake_anthropic).messages.create(
        model=MODEL,
        max_tokens=64,
        messages=MESSAGES,
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 40},
    )
    span = chat_span(agent)
    assert span.attributes["gen_ai.request.temperature"] == 0.2
    assert span.attributes["gen_ai.request.top_p"] == 0.9
    assert span.attributes["gen_ai.request.top_k"] == 40.0
    assert fake_anthropic.only_request().body["top_k"] == 40


@pytest.mark.skipif(SDK_MAJOR >= 1, reason="anthropic >= 1 has no temperature argument")
def test_sampling_arguments_are_recorded(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    client(fake_anthropic).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, temperature=0.3, top_p=0.8, top_k=5
    )
    span = chat_span(agent)
    assert span.attributes["gen_ai.request.temperature"] == 0.3
    assert span.attributes["gen_ai.request.top_p"] == 0.8
    assert span.attributes["gen_ai.request.top_k"] == 5.0


def test_the_sdk_request_becomes_a_child_http_span_whose_id_the_server_receives(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    pytest.importorskip("llmtrace_agent.instrumentors.httpx")
    with agent.configured(http_under_llm="always"):
        client(fake_anthropic).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    (http,) = agent.spans(1, name="POST")
    chat = chat_span(agent)
    received = fake_anthropic.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (http.trace_id, http.span_id)
    assert (http.trace_id, http.parent_span_id) == (chat.trace_id, chat.span_id)


def test_create_stream_records_usage_split_over_message_start_and_message_delta(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    stream = client(fake_anthropic).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    events = [event.type for event in stream]
    span = chat_span(agent)
    assert isinstance(stream, anthropic.Stream)
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "ping" not in events
    assert_complete_stream(span)


def test_create_stream_left_early_and_closed_ends_its_span_once(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with client(fake_anthropic).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break
    span = chat_span(agent)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS
    assert "gen_ai.usage.output_tokens" not in span.attributes  # message_delta never read
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_create_stream_dropped_unfinished_ends_its_span_when_collected(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    stream = client(fake_anthropic).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    next(iter(stream))
    del stream
    gc.collect()
    span = chat_span(agent)
    assert span.attributes["gen_ai.response.id"].startswith("msg_01Fake")


# --- messages.stream() ---------------------------------------------------------------------------


def test_stream_helper_text_stream_records_the_whole_stream(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with client(fake_anthropic).messages.stream(
        model=MODEL, max_tokens=64, messages=MESSAGES
    ) as stream:
        text = "".join(stream.text_stream)
        request_id = stream.response.headers["request-id"]
    assert (text, request_id) == (fake.TEXT, "req_01FakeRequest")
    assert_complete_stream(chat_span(agent))


def test_stream_helper_get_final_message_records_the_whole_stream(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with client(fake_anthropic).messages.stream(
        model=MODEL, max_tokens=64, messages=MESSAGES
    ) as stream:
        final = stream.get_final_message()
    span = chat_span(agent)
    assert final.content[0].text == fake.TEXT
    assert final.usage.output_tokens == fake.USAGE["output_tokens"]
    assert span.attributes["gen_ai.response.id"] == final.id
    assert_complete_stream(span)


def test_stream_helper_iterated_event_by_event_records_the_whole_stream(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with client(fake_anthropic).messages.stream(
        model=MODEL, max_tokens=64, messages=MESSAGES
    ) as stream:
        kinds = [event.type for event in stream]
        stream.until_done()
    assert "text" in kinds and kinds[-1] == "message_stop"  # the helper's own events still come
    assert_complete_stream(chat_span(agent))


def test_stream_helper_left_early_ends_its_span_once_on_exit(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with client(fake_anthropic).messages.stream(
        model=MODEL, max_tokens=64, messages=MESSAGES
    ) as stream:
        for _text in stream.text_stream:
            break
    span = chat_span(agent)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_stream_helper_starts_its_span_when_entered_not_when_created(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    manager = client(fake_anthropic).messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES)
    agent.flush()
    assert fake_anthropic.requests == [] and agent.receiver.spans == []
    with manager as stream:
        stream.until_done()
    assert_complete_stream(chat_span(agent))


def test_stream_helper_request_failing_records_the_error(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with (
        pytest.raises(anthropic.APIStatusError) as raised,
        client(fake_anthropic, "status_529").messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES
        ),
    ):
        pass
    span = chat_span(agent)
    assert raised.value.status_code == 529
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "529"


@has_parse
def test_parse_records_one_chat_span_asking_for_json(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temperature: int

    parsed = client(fake_anthropic).messages.parse(
        model=MODEL, max_tokens=64, messages=MESSAGES, output_format=Weather
    )
    span = chat_span(agent)
    assert parsed.parsed_output == Weather(city="Paris", temperature=18)
    assert span.attributes["gen_ai.output.type"] == "json"
    assert span.attributes["gen_ai.response.id"] == parsed.id
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


def test_beta_messages_create_is_traced(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    response = client(fake_anthropic).beta.messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES
    )
    span = chat_span(agent)
    assert span.attributes["gen_ai.response.id"] == response.id
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


def test_beta_messages_stream_is_traced(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with client(fake_anthropic).beta.messages.stream(
        model=MODEL, max_tokens=64, messages=MESSAGES
    ) as stream:
        text = stream.get_final_text()
    assert text == fake.TEXT
    assert_complete_stream(chat_span(agent))


def test_raw_response_call_is_traced_and_returned_untouched(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    raw = client(fake_anthropic).messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=MESSAGES
    )
    span = chat_span(agent)
    assert raw.headers["request-id"] == "req_01FakeRequest"
    message = raw.parse()
    assert message.content[0].text == fake.TEXT
    assert raw.parse() is message  # the SDK's cached object, parsed once
    assert span.attributes["gen_ai.request.model"] == MODEL
    # LangChain's ChatAnthropic makes every call this way: the response is recorded too.
    assert span.attributes["gen_ai.response.id"] == message.id
    assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


def test_a_raw_response_stream_is_recorded_when_the_parsed_stream_ends(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    raw = client(fake_anthropic).messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    stream = raw.parse()
    assert isinstance(stream, anthropic.Stream)
    events = [event.type for event in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert_complete_stream(chat_span(agent))


def test_an_async_raw_response_stream_is_recorded_when_the_parsed_stream_ends(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> list[str]:
        messages = async_client(fake_anthropic).messages
        raw = await messages.with_raw_response.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
        )
        stream = raw.parse()  # anthropic 2.x: a coroutine; before: the stream itself
        stream = await stream if inspect.isawaitable(stream) else stream
        assert isinstance(stream, anthropic.AsyncStream)
        return [event.type async for event in stream]

    events = asyncio.run(main())
    assert events[-1] == "message_stop"
    assert_complete_stream(chat_span(agent))


# --- async ------------------------------------------------------------------------------------


def test_async_create_records_a_chat_span(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> Any:
        async with async_client(fake_anthropic) as api:
            return await api.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)

    response = asyncio.run(main())
    span = chat_span(agent)
    assert span.attributes["gen_ai.response.id"] == response.id
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS
    assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)


def test_async_create_stream_records_the_whole_stream(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> Any:
        async with async_client(fake_anthropic) as api:
            stream = await api.messages.create(
                model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
            )
            return stream, [event.type async for event in stream]

    stream, events = asyncio.run(main())
    assert isinstance(stream, anthropic.AsyncStream)
    assert events[-1] == "message_stop"
    assert_complete_stream(chat_span(agent))


def test_async_create_stream_left_early_and_closed_ends_its_span_once(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> None:
        async with async_client(fake_anthropic) as api:
            stream = await api.messages.create(
                model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
            )
            async for _event in stream:
                break
            await stream.close()

    asyncio.run(main())
    span = chat_span(agent)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_async_stream_helper_text_stream_records_the_whole_stream(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> str:
        async with (
            async_client(fake_anthropic) as api,
            api.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
        ):
            return "".join([text async for text in stream.text_stream])

    assert asyncio.run(main()) == fake.TEXT
    assert_complete_stream(chat_span(agent))


def test_async_stream_helper_get_final_message_records_the_whole_stream(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> Any:
        async with (
            async_client(fake_anthropic) as api,
            api.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
        ):
            return await stream.get_final_message()

    final = asyncio.run(main())
    span = chat_span(agent)
    assert span.attributes["gen_ai.response.id"] == final.id
    assert_complete_stream(span)


def test_async_stream_helper_iterated_event_by_event_records_the_whole_stream(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> list[str]:
        async with (
            async_client(fake_anthropic) as api,
            api.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
        ):
            return [event.type async for event in stream]

    kinds = asyncio.run(main())
    assert kinds[-1] == "message_stop"
    assert_complete_stream(chat_span(agent))


def test_async_stream_helper_left_early_ends_its_span_once_on_exit(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> None:
        async with (
            async_client(fake_anthropic) as api,
            api.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
        ):
            async for _text in stream.text_stream:
                break

    asyncio.run(main())
    span = chat_span(agent)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_async_stream_helper_never_entered_sends_nothing_and_records_nothing(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    async def main() -> None:
        async with async_client(fake_anthropic) as api:
            api.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES)

    with pytest.warns(RuntimeWarning, match="never awaited"):  # the SDK's own request coroutine
        asyncio.run(main())
        gc.collect()
    agent.flush()
    assert fake_anthropic.requests == [] and agent.receiver.spans == []


@has_parse
def test_async_parse_records_one_chat_span_asking_for_json(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temperature: int

    async def main() -> Any:
        async with async_client(fake_anthropic) as api:
            return await api.messages.parse(
                model=MODEL, max_tokens=64, messages=MESSAGES, output_format=Weather
            )

    parsed = asyncio.run(main())
    span = chat_span(agent)
    assert parsed.parsed_output.city == "Paris"
    assert span.attributes["gen_ai.output.type"] == "json"
    assert span.attributes["gen_ai.response.id"] == parsed.id


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 529])
def test_an_api_error_status_ends_the_span_with_error_type_the_status_code(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic, status: int
) -> None:
    with pytest.raises(anthropic.APIStatusError) as raised:
        client(fake_anthropic, f"status_{status}").messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES
        )
    span = chat_span(agent)
    error = raised.value
    assert error.status_code == status
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == str(status)
    ((event, attributes),) = span.events
    assert event == "exception"
    assert attributes["exception.type"].endswith(type(error).__name__)
    assert attributes["exception.message"] == str(error)


def test_a_400_raises_the_sdk_bad_request_error_unchanged(
    fake_anthropic: FakeAnthropic, agent: InProcessAgent
) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        client(fake_anthropic, "status_400").messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES
        )
    assert raised.value.body["error"]["type"] == "invalid_request_error"
    assert raised.value.request_id == "req_01FakeRequest"


def test_a_refused_connection_ends_the_span_with_the_connection_error(
    agent: InProcessAgent,
) -> None:
    api = anthropic.Anthropic(base_url=refused_url(), api_key=API_KEY, max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        api.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = chat_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"].endswith("APIConnectionError")
    assert span.attributes["server.address"] == "127.0.0.1"


def test_an_error_event_mid_stream_ends_the_span_with_an_error(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    stream = client(fake_anthropic, "stream_error").messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        for _event in stream:
            pass
    span = chat_span(agent)
    assert span.status_code == "ERROR"
    # The stream answered 200: error.type is the exception class, not that status.
    assert span.attributes["error.type"].endswith("APIStatusError")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


# --- content ----------------------------------------------------------------------------------


def test_content_is_not_captured_by_default(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    client(fake_anthropic).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, system="You are a weather bot."
    )
    span = chat_span(agent)
    exported = agent.receiver.all_bytes()
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output.m")) for key in span.attributes)
    assert "gen_ai.system_instructions" not in span.attributes
    for secret in (PROMPT, "weather bot", fake.TEXT, API_KEY):
        assert secret.encode() not in exported


def test_captured_content_follows_the_spec_schemas(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Current weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 1},
    ]
    with agent.configured(capture_content=True):
        client(fake_anthropic).messages.create(
            model=MODEL,
            max_tokens=64,
            system=[{"type": "text", "text": "You are a weather bot."}],
            messages=[
                {"role": "user", "content": PROMPT},
                {"role": "assistant", "content": [{"type": "text", "text": "Which unit?"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Celsius, and this map:"},
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/map.png"},
                        },
                    ],
                },
            ],
            tools=tools,
        )
    span = chat_span(agent)
    assert content(span, "gen_ai.system_instructions") == [
        {"type": "text", "content": "You are a weather bot."}
    ]
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Which unit?"}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Celsius, and this map:"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/map.png"},
            ],
        },
    ]
    assert content(span, "gen_ai.tool.definitions") == [
        {"type": "function", "name": "get_weather", "description": "Current weather in a city"},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": fake.TEXT}],
            "finish_reason": "end_turn",
        }
    ]


def test_a_tool_use_round_trip_records_tool_calls_and_their_results(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    tools = [{"name": fake.TOOL_NAME, "description": "Weather", "input_schema": {}}]
    with agent.configured(capture_content=True):
        first = client(fake_anthropic, "tool_use").messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, tools=tools
        )
        (tool_use,) = [block for block in first.content if block.type == "tool_use"]
        history = [
            *MESSAGES,
            {"role": "assistant", "content": first.content},  # the SDK's own blocks, passed back
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use.id, "content": "18°C, sunny"}
                ],
            },
        ]
        client(fake_anthropic).messages.create(
            model=MODEL, max_tokens=64, messages=history, tools=tools
        )
    asked, answered = sorted(agent.spans(2, name=SPAN), key=lambda span: span.start_ns)
    tool_call = {
        "type": "tool_call",
        "id": fake.TOOL_ID,
        "name": fake.TOOL_NAME,
        "arguments": fake.TOOL_INPUT,
    }
    assert asked.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert content(asked, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Let me check the weather."}, tool_call],
            "finish_reason": "tool_use",
        }
    ]
    assert content(answered, "gen_ai.input.messages")[1:] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Let me check the weather."}, tool_call],
        },
        {
            "role": "user",
            "parts": [
                {"type": "tool_call_response", "id": fake.TOOL_ID, "response": "18°C, sunny"}
            ],
        },
    ]


def test_a_streamed_tool_call_is_rebuilt_from_its_json_deltas(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with (
        agent.configured(capture_content=True),
        client(fake_anthropic, "tool_use").messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES
        ) as stream,
    ):
        final = stream.get_final_message()
    span = chat_span(agent)
    assert final.content[1].input == fake.TOOL_INPUT
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    (output,) = content(span, "gen_ai.output.messages")
    assert output["parts"][1] == {
        "type": "tool_call",
        "id": fake.TOOL_ID,
        "name": fake.TOOL_NAME,
        "arguments": fake.TOOL_INPUT,
    }


def test_thinking_blocks_become_reasoning_parts_and_reasoning_tokens(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with agent.configured(capture_content=True):
        client(fake_anthropic, "thinking").messages.create(
            model=MODEL, max_tokens=2048, messages=MESSAGES
        )
    span = chat_span(agent)
    (output,) = content(span, "gen_ai.output.messages")
    assert output["parts"] == [
        {"type": "reasoning", "content": fake.THINKING},
        {"type": "text", "content": fake.TEXT},
    ]
    if SDK_MAJOR >= 2:  # older SDKs do not know output_tokens_details
        assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == fake.THINKING_TOKENS


def test_streamed_thinking_deltas_become_a_reasoning_part(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with agent.configured(capture_content=True):
        stream = client(fake_anthropic, "thinking").messages.create(
            model=MODEL, max_tokens=2048, messages=MESSAGES, stream=True
        )
        for _event in stream:
            pass
    span = chat_span(agent)
    (output,) = content(span, "gen_ai.output.messages")
    assert output == {
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "content": fake.THINKING},
            {"type": "text", "content": fake.TEXT},
        ],
        "finish_reason": "end_turn",
    }


def test_captured_text_is_clipped_to_the_configured_length(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    with agent.configured(capture_content=True, content_max_length=10):
        client(fake_anthropic).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = chat_span(agent)
    (message,) = content(span, "gen_ai.input.messages")
    assert message["parts"][0]["content"] == PROMPT[:10] + "…[truncated]"


# --- metrics ------------------------------------------------------------------------------------


def test_token_usage_and_duration_metrics_are_recorded(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    model = "claude-metrics-test"  # a model no other test uses: metrics are cumulative
    client(fake_anthropic).messages.create(model=model, max_tokens=64, messages=MESSAGES)
    agent.flush()
    tokens = {
        point.attributes["gen_ai.token.type"]: point
        for point in agent.receiver.points("gen_ai.client.token.usage")
        if point.attributes.get("gen_ai.request.model") == model
    }
    assert (tokens["input"].count, tokens["input"].sum) == (1, INPUT_TOKENS)
    assert (tokens["output"].count, tokens["output"].sum) == (1, fake.USAGE["output_tokens"])
    assert tokens["input"].attributes["gen_ai.provider.name"] == "anthropic"
    (duration,) = [
        point
        for point in agent.receiver.points("gen_ai.client.operation.duration")
        if point.attributes.get("gen_ai.request.model") == model
    ]
    assert duration.count == 1
    assert duration.attributes["gen_ai.operation.name"] == "chat"
    assert "error.type" not in duration.attributes


# --- the SDK's own spans -------------------------------------------------------------------------


@has_sdk_spans
def test_the_sdk_own_span_of_a_call_we_trace_is_dropped_so_each_call_has_one_llm_span(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    client(fake_anthropic).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    chat_span(agent)
    scopes = {span.scope for span in agent.receiver.spans}
    assert "com.anthropic.sdk.python" not in scopes


@has_sdk_spans
def test_the_sdk_own_span_of_a_call_we_do_not_trace_is_kept(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    client(fake_anthropic).messages.count_tokens(model=MODEL, messages=MESSAGES)
    agent.flush()
    (sdk_span,) = agent.receiver.wait_for_spans(
        1, where=lambda span: span.scope == "com.anthropic.sdk.python"
    )
    assert (sdk_span.kind, sdk_span.name) == ("CLIENT", "anthropic.messages.count_tokens")
    assert not [span for span in agent.receiver.spans if span.name.startswith("chat")]


@has_sdk_spans
def test_a_client_given_its_own_tracer_provider_keeps_the_sdk_spans(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic, receiver: OTLPReceiver
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
    )
    own = client(fake_anthropic, open_telemetry={"tracer_provider": provider})
    own.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    provider.shutdown()
    (sdk_span,) = receiver.wait_for_spans(1)
    assert sdk_span.scope == "com.anthropic.sdk.python"
    chat_span(agent)  # ours too, in the agent's pipeline


# --- platform clients ---------------------------------------------------------------------------


def test_bedrock_client_reports_the_aws_bedrock_provider(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    from anthropic import AnthropicBedrock

    if "api_key" not in inspect.signature(AnthropicBedrock).parameters:
        pytest.skip(f"anthropic {anthropic.__version__}'s Bedrock client signs with botocore only")
    model = "anthropic.claude-haiku-4-5-20251001-v1:0"
    bedrock = AnthropicBedrock(
        api_key="bedrock-api-key",
        aws_region="us-east-1",
        base_url=fake_anthropic.base_url,
        max_retries=0,
    )
    bedrock.messages.create(model=model, max_tokens=64, messages=MESSAGES)
    span = chat_span(agent, f"chat {model}")
    assert fake_anthropic.only_request().path.startswith("/model/")
    assert span.attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


def test_vertex_client_reports_the_gcp_vertex_ai_provider_when_streaming(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic
) -> None:
    from anthropic import AnthropicVertex

    model = "claude-haiku-4-5@20251001"
    vertex = AnthropicVertex(
        region="us-east5",
        project_id="fake-project",
        access_token="vertex-token",
        base_url=fake_anthropic.base_url,
        max_retries=0,
    )
    with vertex.messages.stream(model=model, max_tokens=64, messages=MESSAGES) as stream:
        text = stream.get_final_text()
    span = chat_span(agent, f"chat {model}")
    assert text == fake.TEXT
    assert fake_anthropic.only_request().path.endswith(":streamRawPredict")
    assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert_complete_stream(span)


# --- zero-code ------------------------------------------------------------------------------------


def test_the_launcher_traces_an_unmodified_app(
    receiver: OTLPReceiver, fake_anthropic: FakeAnthropic
) -> None:
    app = textwrap.dedent(
        f"""
        import anthropic
        api = anthropic.Anthropic(base_url={fake_anthropic.base_url!r}, api_key="k", max_retries=0)
        api.messages.create(model={MODEL!r}, max_tokens=8, messages={MESSAGES!r})
        with api.messages.stream(model={MODEL!r}, max_tokens=8, messages={MESSAGES!r}) as s:
            s.until_done()
        """
    )
    result = run_traced(["-c", app], receiver)
    assert result.returncode == 0, result.stderr
    spans = receiver.wait_for_spans(2, where=lambda span: span.name == SPAN)
    assert [span.attributes.get("gen_ai.request.stream", False) for span in spans] == [False, True]
    assert all(span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS for span in spans)


@has_sdk_spans
def test_with_this_instrumentor_disabled_the_sdk_own_spans_come_back(
    receiver: OTLPReceiver, fake_anthropic: FakeAnthropic
) -> None:
    app = textwrap.dedent(
        f"""
        import anthropic
        api = anthropic.Anthropic(base_url={fake_anthropic.base_url!r}, api_key="k", max_retries=0)
        api.messages.create(model={MODEL!r}, max_tokens=8, messages={MESSAGES!r})
        """
    )
    result = run_traced(["-c", app], receiver, env={"LLMTRACE_DISABLED_INSTRUMENTORS": "anthropic"})
    assert result.returncode == 0, result.stderr
    spans = receiver.wait_for_spans(1, where=lambda span: span.scope == "com.anthropic.sdk.python")
    assert [(span.kind, span.name) for span in spans] == [("CLIENT", "anthropic.messages.create")]
