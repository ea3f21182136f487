"""cohere: the real SDK's v2 clients (sync and async) over loopback HTTP to a fake v2 API; what
the OTLP receiver got is what is asserted."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json
from typing import Any

import cohere
import pytest

from tests.support import fake_cohere as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_cohere import FakeCohere
from tests.support.http_server import refused_url, traceparent_ids
from tests.support.otlp_receiver import ReceivedSpan

MODEL = "command-a-03-2025"
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
TOOL_CALL = {
    "type": "tool_call",
    "id": fake.TOOL_ID,
    "name": fake.TOOL_NAME,
    "arguments": {"city": "Paris"},
}


def client(server: FakeCohere, scenario: str = "text") -> cohere.ClientV2:
    return cohere.ClientV2(api_key="fake-cohere-secret-key", base_url=server.scenario_url(scenario))


def async_client(server: FakeCohere, scenario: str = "text") -> cohere.AsyncClientV2:
    url = server.scenario_url(scenario)
    return cohere.AsyncClientV2(api_key="fake-cohere-secret-key", base_url=url)


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
    assert span.attributes["gen_ai.response.id"].endswith("-cohere")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.BILLED_INPUT
    assert span.attributes["gen_ai.usage.output_tokens"] == fake.BILLED_OUTPUT
    assert 0 < span.attributes["gen_ai.response.time_to_first_chunk"] <= span.duration_s


def assert_model_span_context_sent(
    agent: InProcessAgent, server: FakeCohere, parent: ReceivedSpan
) -> None:
    """The one, successful HTTP request records no span of its own (LLMTRACE_HTTP_UNDER_LLM's
    default) and carries the model span's context."""
    agent.flush()
    assert [span.name for span in agent.receiver.spans if span.name == "POST"] == []
    sent = server.only_request().headers["traceparent"]
    assert traceparent_ids(sent) == (parent.trace_id, parent.span_id)


# --- chat ------------------------------------------------------------------------------------


def test_chat_records_a_chat_span_with_request_and_response_attributes(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    response = client(fake_cohere).chat(
        model=MODEL,
        messages=MESSAGES,
        temperature=0.3,
        p=0.9,
        k=40,
        max_tokens=128,
        seed=7,
        stop_sequences=["END"],
        frequency_penalty=0.5,
        presence_penalty=0.25,
    )
    span = model_span(agent)
    assert response.message.content[0].text == fake.TEXT
    assert span.kind == "CLIENT"
    assert span.scope == "llmtrace_agent.cohere"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40.0,
        "gen_ai.request.max_tokens": 128,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.frequency_penalty": 0.5,
        "gen_ai.request.presence_penalty": 0.25,
        "server.address": "127.0.0.1",
        "server.port": fake_cohere.port,
        "gen_ai.response.id": response.id,
        "gen_ai.response.finish_reasons": ("COMPLETE",),
        "gen_ai.usage.input_tokens": fake.BILLED_INPUT,
        "gen_ai.usage.output_tokens": fake.BILLED_OUTPUT,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cost": pytest.approx(span.attributes["gen_ai.usage.cost"]),
    }


def test_tokens_are_the_billed_ones_and_the_model_is_priced(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    client(fake_cohere).chat(model=MODEL, messages=MESSAGES)
    span = model_span(agent)
    # command-a per million tokens: $2.50 input, $10 output (genai-prices).
    expected = (fake.BILLED_INPUT * 2.5 + fake.BILLED_OUTPUT * 10.0) / 1e6
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(expected)


def test_the_http_request_is_a_child_of_the_chat_span(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    client(fake_cohere).chat(model=MODEL, messages=MESSAGES)
    assert_model_span_context_sent(agent, fake_cohere, model_span(agent))


def test_json_output_is_recorded_as_the_output_type(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    client(fake_cohere).chat(
        model=MODEL, messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert model_span(agent).attributes["gen_ai.output.type"] == "json"


def test_no_content_is_recorded_by_default(agent: InProcessAgent, fake_cohere: FakeCohere) -> None:
    client(fake_cohere, "tool_calls").chat(model=MODEL, messages=MESSAGES, tools=TOOLS)
    span = model_span(agent)
    assert not [key for key in span.attributes if "messages" in key or "tool" in key]
    assert PROMPT not in json.dumps(span.attributes)


def test_content_capture_records_messages_tools_plan_and_tool_calls(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": PROMPT},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSk"}},
            ],
        },
    ]
    with agent.configured(capture_content=True):
        client(fake_cohere, "tool_calls").chat(model=MODEL, messages=messages, tools=TOOLS)
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
                    "content": "<image/jpeg, 7 bytes>",
                    "mime_type": "image/jpeg",
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
            "parts": [{"type": "reasoning", "content": fake.TOOL_PLAN}, TOOL_CALL],
            "finish_reason": "TOOL_CALL",
        }
    ]


def test_a_tool_result_message_is_a_tool_call_response(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    call = {
        "id": fake.TOOL_ID,
        "type": "function",
        "function": {"name": fake.TOOL_NAME, "arguments": fake.TOOL_ARGUMENTS},
    }
    messages = [
        *MESSAGES,
        {"role": "assistant", "tool_plan": fake.TOOL_PLAN, "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": fake.TOOL_ID,
            "content": [{"type": "text", "text": "18C"}],
        },
    ]
    with agent.configured(capture_content=True):
        client(fake_cohere).chat(model=MODEL, messages=messages)
    inputs = content(model_span(agent), "gen_ai.input.messages")
    assert inputs[1] == {
        "role": "assistant",
        "parts": [{"type": "reasoning", "content": fake.TOOL_PLAN}, TOOL_CALL],
    }
    assert inputs[2] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": fake.TOOL_ID, "response": "18C"}],
    }


def test_an_http_error_sets_error_status_and_the_app_gets_the_sdks_exception(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    with pytest.raises(cohere.errors.TooManyRequestsError) as raised:
        client(fake_cohere, "status_429").chat(model=MODEL, messages=MESSAGES)
    assert type(raised.value) is cohere.errors.TooManyRequestsError
    span = model_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "429"
    assert [name for name, _attributes in span.events] == ["exception"]


def test_a_connection_failure_records_the_exception_class(agent: InProcessAgent) -> None:
    unreachable = cohere.ClientV2(api_key="k", base_url=refused_url().rstrip("/"))
    with pytest.raises(Exception) as raised:
        unreachable.chat(model=MODEL, messages=MESSAGES)
    span = model_span(agent)
    assert span.status_code == "ERROR"
    error = type(raised.value)
    assert span.attributes["error.type"] == f"{error.__module__}.{error.__qualname__}"


# --- chat_stream ---------------------------------------------------------------------------------


def test_chat_stream_sends_nothing_until_read_and_records_the_whole_stream(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    with agent.configured(capture_content=True):
        stream = client(fake_cohere).chat_stream(model=MODEL, messages=MESSAGES)
        assert fake_cohere.requests == []  # a generator, as without the agent
        texts = [e.delta.message.content.text for e in stream if e.type == "content-delta"]
    assert "".join(texts) == fake.TEXT
    span = model_span(agent)
    assert_complete_stream(span)
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": fake.TEXT}],
            "finish_reason": "COMPLETE",
        }
    ]
    assert_model_span_context_sent(agent, fake_cohere, span)


def test_a_streamed_tool_call_is_assembled(agent: InProcessAgent, fake_cohere: FakeCohere) -> None:
    with agent.configured(capture_content=True):
        list(client(fake_cohere, "tool_calls").chat_stream(model=MODEL, messages=MESSAGES))
    span = model_span(agent)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("TOOL_CALL",)
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": fake.TOOL_PLAN}, TOOL_CALL],
            "finish_reason": "TOOL_CALL",
        }
    ]


def test_a_stream_left_early_ends_its_span_when_closed(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    stream = client(fake_cohere).chat_stream(model=MODEL, messages=MESSAGES)
    for _event in stream:
        break
    # Older SDKs' bare ``except`` swallows GeneratorExit: close() raises their RuntimeError.
    with contextlib.suppress(RuntimeError):
        stream.close()
    span = model_span(agent)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.response.id"].endswith("-cohere")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # no message-end
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_an_abandoned_stream_ends_its_span_when_collected(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    stream = client(fake_cohere).chat_stream(model=MODEL, messages=MESSAGES)
    next(stream)
    del stream
    gc.collect()
    assert model_span(agent).attributes["gen_ai.request.stream"] is True


def test_a_stream_never_read_sends_nothing_and_ends_its_span_when_collected(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    stream = client(fake_cohere).chat_stream(model=MODEL, messages=MESSAGES)
    del stream
    gc.collect()
    span = model_span(agent)
    assert fake_cohere.requests == []
    assert "gen_ai.response.id" not in span.attributes


def test_a_stream_error_status_reaches_the_app_and_the_span(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    stream = client(fake_cohere, "status_500").chat_stream(model=MODEL, messages=MESSAGES)
    with pytest.raises(cohere.errors.InternalServerError):
        next(stream)
    span = model_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "500"


def test_a_stream_cut_off_mid_way_ends_with_an_error(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    stream = client(fake_cohere, "cut").chat_stream(model=MODEL, messages=MESSAGES)
    with pytest.raises(Exception) as raised:
        list(stream)
    span = model_span(agent)
    assert span.status_code == "ERROR"
    error = type(raised.value)
    assert span.attributes["error.type"] == f"{error.__module__}.{error.__qualname__}"


# --- async -----------------------------------------------------------------------------------


def test_async_chat_records_the_same_span(agent: InProcessAgent, fake_cohere: FakeCohere) -> None:
    async def main() -> str:
        response = await async_client(fake_cohere).chat(model=MODEL, messages=MESSAGES)
        return response.id

    response_id = asyncio.run(main())
    span = model_span(agent)
    assert span.attributes["gen_ai.response.id"] == response_id
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.BILLED_INPUT
    assert_model_span_context_sent(agent, fake_cohere, span)


def test_async_chat_stream_records_the_complete_stream(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    async def main() -> str:
        stream = async_client(fake_cohere).chat_stream(model=MODEL, messages=MESSAGES)
        return "".join(
            [e.delta.message.content.text async for e in stream if e.type == "content-delta"]
        )

    assert asyncio.run(main()) == fake.TEXT
    span = model_span(agent)
    assert_complete_stream(span)
    assert_model_span_context_sent(agent, fake_cohere, span)


def test_an_async_http_error_reaches_the_app_unchanged(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    async def main() -> None:
        await async_client(fake_cohere, "status_500").chat(model=MODEL, messages=MESSAGES)

    with pytest.raises(cohere.errors.InternalServerError):
        asyncio.run(main())
    assert model_span(agent).attributes["error.type"] == "500"


# --- embed and rerank ------------------------------------------------------------------------


def test_embed_records_an_embeddings_span(agent: InProcessAgent, fake_cohere: FakeCohere) -> None:
    embed = client(fake_cohere).embed
    dimensions = {"output_dimension": 1024}  # not an argument of older SDKs (5.11)
    if "output_dimension" not in inspect.signature(embed).parameters:
        dimensions = {}
    response = embed(
        model="embed-v4.0",
        texts=["a", "b"],
        input_type="search_document",
        embedding_types=["float", "int8"],
        **dimensions,
    )
    span = model_span(agent, "embeddings embed-v4.0")
    assert span.attributes == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": "embed-v4.0",
        "gen_ai.request.encoding_formats": ("float", "int8"),
        **({"gen_ai.embeddings.dimension.count": 1024} if dimensions else {}),
        "server.address": "127.0.0.1",
        "server.port": fake_cohere.port,
        "gen_ai.response.id": response.id,
        "gen_ai.usage.input_tokens": fake.EMBED_TOKENS,
        "gen_ai.usage.cost": pytest.approx(fake.EMBED_TOKENS * 0.12 / 1e6),
    }


def test_async_embed_records_an_embeddings_span(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    async def main() -> None:
        await async_client(fake_cohere).embed(
            model="embed-v4.0", texts=["a"], input_type="search_query"
        )

    asyncio.run(main())
    span = model_span(agent, "embeddings embed-v4.0")
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.EMBED_TOKENS


def test_rerank_records_a_rerank_span(agent: InProcessAgent, fake_cohere: FakeCohere) -> None:
    response = client(fake_cohere).rerank(
        model="rerank-v3.5", query="capital of France", documents=["Berlin", "Paris"], top_n=1
    )
    span = model_span(agent, "rerank rerank-v3.5")
    assert [result.index for result in response.results] == [1]
    assert span.kind == "CLIENT"
    assert span.attributes == {
        "gen_ai.operation.name": "rerank",
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": "rerank-v3.5",
        "server.address": "127.0.0.1",
        "server.port": fake_cohere.port,
        "gen_ai.response.id": response.id,
    }
    assert_model_span_context_sent(agent, fake_cohere, span)


def test_async_rerank_records_a_rerank_span(agent: InProcessAgent, fake_cohere: FakeCohere) -> None:
    async def main() -> None:
        await async_client(fake_cohere).rerank(model="rerank-v3.5", query="q", documents=["a"])

    asyncio.run(main())
    assert model_span(agent, "rerank rerank-v3.5").status_code == "UNSET"


def test_the_v2_client_of_a_v1_client_is_traced(
    agent: InProcessAgent, fake_cohere: FakeCohere
) -> None:
    v1 = cohere.Client(api_key="k", base_url=fake_cohere.scenario_url())
    v1.v2.chat(model=MODEL, messages=MESSAGES)
    assert model_span(agent).attributes["gen_ai.provider.name"] == "cohere"
