"""mistralai: the real SDK (sync and async) over loopback HTTP to a fake Mistral API; what the
OTLP receiver got is what is asserted."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest

from tests.support import fake_mistral as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_mistral import FakeMistral
from tests.support.http_server import refused_url, traceparent_ids
from tests.support.otlp_receiver import ReceivedSpan

try:  # mistralai >= 2: the SDK lives in mistralai.client
    from mistralai.client import Mistral, errors
except ImportError:  # mistralai 1.x
    from mistralai import Mistral  # type: ignore[no-redef]
    from mistralai.models import SDKError  # type: ignore[attr-defined]
else:
    SDKError = errors.SDKError

MODEL = "mistral-small-latest"
SPAN = f"chat {MODEL}"
PROMPT = "What is the weather in Paris?"
MESSAGES = [{"role": "user", "content": PROMPT}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": fake.TOOL_NAME,
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def client(server: FakeMistral, scenario: str = "text") -> Mistral:
    return Mistral(api_key="fake-mistral-secret-key", server_url=server.scenario_url(scenario))


def model_span(agent: InProcessAgent, name: str = SPAN) -> ReceivedSpan:
    """The one GenAI span of this test (fails if there are several: a duplicate model span)."""
    agent.spans(1, name=name)
    spans = [s for s in agent.receiver.spans if "gen_ai.operation.name" in s.attributes]
    assert len(spans) == 1, [(span.name, span.scope) for span in spans]
    return spans[0]


def content(span: ReceivedSpan, key: str) -> Any:
    return json.loads(span.attributes[key])


def assert_complete_stream(span: ReceivedSpan) -> None:
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.id"].startswith("cmpl-fake")
    assert span.attributes["gen_ai.response.model"] == MODEL
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.USAGE["prompt_tokens"]
    assert span.attributes["gen_ai.usage.output_tokens"] == fake.USAGE["completion_tokens"]
    assert 0 < span.attributes["gen_ai.response.time_to_first_chunk"] <= span.duration_s


# --- chat.complete ---------------------------------------------------------------------------


def test_complete_records_a_chat_span_with_request_and_response_attributes(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    response = client(fake_mistral).chat.complete(
        model=MODEL,
        messages=MESSAGES,
        temperature=0.3,
        top_p=0.9,
        max_tokens=128,
        random_seed=7,
        stop=["END"],
    )
    span = model_span(agent)
    assert response.choices[0].message.content == fake.TEXT
    assert len(fake_mistral.requests) == 1
    assert span.kind == "CLIENT"
    assert span.scope == "llmtrace_agent.mistralai"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 128,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "server.address": "127.0.0.1",
        "server.port": fake_mistral.port,
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": fake.USAGE["prompt_tokens"],
        "gen_ai.usage.output_tokens": fake.USAGE["completion_tokens"],
        "gen_ai.usage.cost": pytest.approx(span.attributes["gen_ai.usage.cost"]),
    }


def test_a_known_mistral_model_is_priced(agent: InProcessAgent, fake_mistral: FakeMistral) -> None:
    client(fake_mistral).chat.complete(model=MODEL, messages=MESSAGES)
    span = model_span(agent)
    # mistral-small-latest per million tokens: $0.15 input, $0.60 output (genai-prices).
    expected = (fake.USAGE["prompt_tokens"] * 0.15 + fake.USAGE["completion_tokens"] * 0.6) / 1e6
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(expected)


def test_json_output_is_recorded_as_the_output_type(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    client(fake_mistral).chat.complete(
        model=MODEL, messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert model_span(agent).attributes["gen_ai.output.type"] == "json"


def test_the_http_request_is_a_child_of_the_chat_span_and_carries_its_context(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    with agent.configured(http_under_llm="always"):
        client(fake_mistral).chat.complete(model=MODEL, messages=MESSAGES)
    chat = model_span(agent)
    (http,) = agent.spans(1, name="POST")
    assert http.parent_span_id == chat.span_id
    assert http.trace_id == chat.trace_id
    sent = fake_mistral.only_request().headers["traceparent"]
    assert traceparent_ids(sent) == (http.trace_id, http.span_id)


def test_no_content_is_recorded_by_default(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    client(fake_mistral).chat.complete(model=MODEL, messages=MESSAGES, tools=TOOLS)
    span = model_span(agent)
    assert not [key for key in span.attributes if "messages" in key or "tool" in key]
    assert PROMPT not in json.dumps(span.attributes)


def test_content_capture_records_messages_tools_and_tool_calls(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": PROMPT},
                {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgoAAAANS"},
            ],
        },
    ]
    with agent.configured(capture_content=True):
        client(fake_mistral, "tool_calls").chat.complete(
            model=MODEL, messages=messages, tools=TOOLS
        )
    span = model_span(agent)
    assert content(span, "gen_ai.system_instructions") == [
        {"type": "text", "content": "Answer briefly."}
    ]
    assert content(span, "gen_ai.input.messages") == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": PROMPT},
                {
                    "type": "blob",
                    "modality": "image",
                    "content": "<image/png, 12 bytes>",
                    "mime_type": "image/png",
                },
            ],
        }
    ]
    assert content(span, "gen_ai.tool.definitions") == [
        {"type": "function", "name": fake.TOOL_NAME, "description": "The weather in a city."}
    ]
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": ""},
                {
                    "type": "tool_call",
                    "id": fake.TOOL_ID,
                    "name": fake.TOOL_NAME,
                    "arguments": {"city": "Paris"},
                },
            ],
            "finish_reason": "tool_calls",
        }
    ]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)


def test_a_tool_result_message_is_a_tool_call_response(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    call = {
        "id": fake.TOOL_ID,
        "type": "function",
        "function": {"name": fake.TOOL_NAME, "arguments": fake.TOOL_ARGUMENTS},
    }
    messages = [
        *MESSAGES,
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "name": fake.TOOL_NAME, "tool_call_id": fake.TOOL_ID, "content": "18C"},
    ]
    with agent.configured(capture_content=True):
        client(fake_mistral).chat.complete(model=MODEL, messages=messages)
    inputs = content(model_span(agent), "gen_ai.input.messages")
    assert inputs[1]["parts"][-1] == {
        "type": "tool_call",
        "id": fake.TOOL_ID,
        "name": fake.TOOL_NAME,
        "arguments": {"city": "Paris"},
    }
    assert inputs[2] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": fake.TOOL_ID, "response": "18C"}],
        "name": fake.TOOL_NAME,
    }


def test_captured_content_is_clipped_to_the_configured_length(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    with agent.configured(capture_content=True, content_max_length=7):
        client(fake_mistral).chat.complete(model=MODEL, messages=MESSAGES)
    output = content(model_span(agent), "gen_ai.output.messages")
    assert output[0]["parts"][0]["content"] == fake.TEXT[:7] + "…[truncated]"


# --- errors --------------------------------------------------------------------------------------


def test_an_http_error_sets_error_status_and_the_app_gets_the_sdks_exception(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    with pytest.raises(SDKError) as raised:
        client(fake_mistral, "status_429").chat.complete(model=MODEL, messages=MESSAGES)
    assert type(raised.value) is SDKError
    span = model_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "429"
    assert [name for name, _attributes in span.events] == ["exception"]


def test_a_connection_failure_records_the_exception_class(agent: InProcessAgent) -> None:
    unreachable = Mistral(api_key="k", server_url=refused_url().rstrip("/"))
    with pytest.raises(Exception) as raised:
        unreachable.chat.complete(model=MODEL, messages=MESSAGES)
    span = model_span(agent)
    assert span.status_code == "ERROR"
    error = type(raised.value)
    assert span.attributes["error.type"] == f"{error.__module__}.{error.__qualname__}"


# --- chat.stream ---------------------------------------------------------------------------------


def test_a_stream_read_to_the_end_records_its_chunks_usage(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    with agent.configured(capture_content=True):
        stream = client(fake_mistral).chat.stream(model=MODEL, messages=MESSAGES)
        texts = [event.data.choices[0].delta.content for event in stream]
    assert "".join(texts) == fake.TEXT
    span = model_span(agent)
    assert_complete_stream(span)
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": fake.TEXT}],
            "finish_reason": "stop",
        }
    ]
    assert len(fake_mistral.requests) == 1


def test_a_stream_left_early_ends_its_span_with_what_arrived(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    stream = client(fake_mistral).chat.stream(model=MODEL, messages=MESSAGES)
    if hasattr(type(stream.__wrapped__), "__enter__"):  # an EventStream (1.3 and later)
        with stream:
            for _event in stream:
                break
    else:  # a plain generator (1.2)
        next(stream)
        stream.close()
    span = model_span(agent)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.response.id"].startswith("cmpl-fake")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # no last chunk
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_an_abandoned_stream_ends_its_span_when_collected(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    stream = client(fake_mistral).chat.stream(model=MODEL, messages=MESSAGES)
    next(iter(stream))
    del stream
    gc.collect()
    span = model_span(agent)
    assert span.attributes["gen_ai.request.stream"] is True


def test_a_stream_cut_off_mid_way_ends_with_an_error(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    stream = client(fake_mistral, "cut").chat.stream(model=MODEL, messages=MESSAGES)
    with pytest.raises(Exception) as raised:
        list(stream)
    span = model_span(agent)
    assert span.status_code == "ERROR"
    error = type(raised.value)
    assert span.attributes["error.type"] == f"{error.__module__}.{error.__qualname__}"


def test_a_streamed_tool_call_is_recorded(agent: InProcessAgent, fake_mistral: FakeMistral) -> None:
    with agent.configured(capture_content=True):
        list(client(fake_mistral, "tool_calls").chat.stream(model=MODEL, messages=MESSAGES))
    span = model_span(agent)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    output = content(span, "gen_ai.output.messages")
    assert output[0]["parts"] == [
        {
            "type": "tool_call",
            "id": fake.TOOL_ID,
            "name": fake.TOOL_NAME,
            "arguments": {"city": "Paris"},
        }
    ]


# --- async -----------------------------------------------------------------------------------


def test_complete_async_records_the_same_span(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    async def main() -> str:
        response = await client(fake_mistral).chat.complete_async(model=MODEL, messages=MESSAGES)
        return response.id

    with agent.configured(http_under_llm="always"):
        response_id = asyncio.run(main())
    span = model_span(agent)
    assert span.attributes["gen_ai.response.id"] == response_id
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.USAGE["prompt_tokens"]
    (http,) = agent.spans(1, name="POST")
    assert http.parent_span_id == span.span_id


def test_stream_async_records_the_complete_stream(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    async def main() -> str:
        stream = await client(fake_mistral).chat.stream_async(model=MODEL, messages=MESSAGES)
        return "".join([event.data.choices[0].delta.content async for event in stream])

    assert asyncio.run(main()) == fake.TEXT
    assert_complete_stream(model_span(agent))


def test_an_async_http_error_reaches_the_app_unchanged(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    async def main() -> None:
        await client(fake_mistral, "status_500").chat.complete_async(model=MODEL, messages=MESSAGES)

    with pytest.raises(SDKError):
        asyncio.run(main())
    span = model_span(agent)
    assert span.attributes["error.type"] == "500"


# --- embeddings ------------------------------------------------------------------------------


def test_embeddings_create_records_an_embeddings_span(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    response = client(fake_mistral).embeddings.create(model="mistral-embed", inputs=["a", "b"])
    span = model_span(agent, "embeddings mistral-embed")
    assert len(response.data) == 2
    assert span.attributes == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": "mistral-embed",
        "server.address": "127.0.0.1",
        "server.port": fake_mistral.port,
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": "mistral-embed",
        "gen_ai.usage.input_tokens": fake.EMBEDDING_USAGE["prompt_tokens"],
        "gen_ai.usage.cost": pytest.approx(fake.EMBEDDING_USAGE["prompt_tokens"] * 0.1 / 1e6),
    }


def test_embeddings_create_async_records_an_embeddings_span(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    async def main() -> None:
        await client(fake_mistral).embeddings.create_async(model="mistral-embed", inputs=["a"])

    asyncio.run(main())
    span = model_span(agent, "embeddings mistral-embed")
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.EMBEDDING_USAGE["prompt_tokens"]


# --- the SDK's own tracing ---------------------------------------------------------------------


def test_the_sdks_own_tracing_adds_no_second_model_span(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    # mistralai 1.1x traces with the global provider by default; 2.x and later once told to.
    mistral = client(fake_mistral)
    try:
        from mistralai.extra.observability.telemetry import configure_telemetry
    except ImportError:
        pass
    else:
        configure_telemetry(mistral, provider="global")  # SDK spans to the agent's provider
    with agent.configured(http_under_llm="always"):
        mistral.chat.complete(model=MODEL, messages=MESSAGES)
    chat = model_span(agent)
    (http,) = agent.spans(1, name="POST")
    assert http.parent_span_id == chat.span_id
    assert {span.scope for span in agent.receiver.spans} <= {
        "llmtrace_agent.mistralai",
        "llmtrace_agent.httpx",
        "llmtrace_agent.httpx2",
    }


def test_parse_is_one_chat_span_with_json_output(
    agent: InProcessAgent, fake_mistral: FakeMistral
) -> None:
    pydantic = pytest.importorskip("pydantic")
    chat = client(fake_mistral).chat
    if not hasattr(chat, "parse"):
        pytest.skip("this mistralai has no chat.parse")

    class Answer(pydantic.BaseModel):
        text: str

    response = chat.parse(response_format=Answer, model=MODEL, messages=MESSAGES)
    assert response.choices[0].message.parsed == Answer(text="Bonjour")
    span = model_span(agent)
    assert span.attributes["gen_ai.output.type"] == "json"
    assert len(fake_mistral.requests) == 1
