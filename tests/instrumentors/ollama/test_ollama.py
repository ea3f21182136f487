"""The ollama instrumentor: the real ollama SDK over HTTP to the loopback Ollama fake (JSON and
NDJSON streams), checked at the real OTLP receiver."""

from __future__ import annotations

import asyncio
import gc
import inspect

import ollama
import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_ollama import Reply, chat_lines, chat_response
from tests.support.fake_openai import json_attribute, llm_span, llm_spans

MODEL = "llama3.2"
HAS_THINK = "think" in inspect.signature(ollama.Client.chat).parameters  # not in ollama 0.4
needs_think = pytest.mark.skipif(not HAS_THINK, reason="this ollama has no think argument")
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]


def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
      city: The city.
    """
    return "sunny"


@pytest.fixture
def default_client(fake_ollama, monkeypatch):
    """ollama's module-level functions' own client, pointed at the fake."""
    monkeypatch.setattr(ollama._client._client, "base_url", fake_ollama.host)


def test_chat_is_one_chat_span_with_usage(agent, fake_ollama):
    response = ollama.Client(host=fake_ollama.host).chat(
        model=MODEL,
        messages=MESSAGES,
        options={"temperature": 0.1, "top_k": 40, "num_predict": 64, "seed": 3, "stop": ["END"]},
    )

    assert isinstance(response, ollama.ChatResponse)
    assert len(fake_ollama.requests) == 1
    span = llm_span(agent)
    assert span.name == f"chat {MODEL}"
    assert span.kind == "CLIENT"
    attributes = span.attributes
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "ollama"
    assert attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
    assert attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.1
    assert attributes[semconv.GEN_AI_REQUEST_TOP_K] == 40
    assert attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert attributes[semconv.GEN_AI_REQUEST_SEED] == 3
    assert attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == MODEL
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 26
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 8
    assert attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attributes[semconv.SERVER_PORT] == fake_ollama.port
    assert semconv.GEN_AI_REQUEST_STREAM not in attributes


def test_positional_model_and_messages_are_read(agent, fake_ollama):
    ollama.Client(host=fake_ollama.host).chat(MODEL, MESSAGES, format="json")

    attributes = llm_span(agent).attributes
    assert attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
    assert attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"
    assert fake_ollama.requests[0].body["messages"] == MESSAGES


def test_http_request_is_a_child_of_the_chat_span(agent, fake_ollama):
    with agent.configured(http_under_llm="always"):
        ollama.Client(host=fake_ollama.host).chat(model=MODEL, messages=MESSAGES)

    span = llm_span(agent)
    http = agent.spans(1, name="POST", kind="CLIENT")
    assert [s.parent_span_id for s in http] == [span.span_id]


def test_module_level_functions_are_traced(agent, fake_ollama, default_client):
    ollama.chat(MODEL, MESSAGES)
    ollama.generate(MODEL, "Why is the sky blue?")
    ollama.embed(MODEL, ["a", "b"])

    spans = llm_spans(agent, 3)
    assert sorted(span.name for span in spans) == [
        f"chat {MODEL}",
        f"embeddings {MODEL}",
        f"text_completion {MODEL}",
    ]
    assert len(fake_ollama.requests) == 3


def test_streamed_chat_records_the_done_line(agent, fake_ollama):
    stream = ollama.Client(host=fake_ollama.host).chat(model=MODEL, messages=MESSAGES, stream=True)
    text = "".join(part.message.content for part in stream)

    assert text == "Hello from Ollama!"
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 26
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 8
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


def test_a_stream_closed_early_ends_its_span_once(agent, fake_ollama):
    stream = ollama.Client(host=fake_ollama.host).chat(model=MODEL, messages=MESSAGES, stream=True)
    next(stream)
    stream.close()

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert span.attributes[semconv.GEN_AI_RESPONSE_MODEL] == MODEL
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes


def test_an_abandoned_stream_ends_its_span_when_collected(agent, fake_ollama):
    stream = ollama.Client(host=fake_ollama.host).generate(model=MODEL, prompt="Hi", stream=True)
    next(stream)
    del stream
    gc.collect()

    assert llm_span(agent).name == f"text_completion {MODEL}"


def test_a_dropped_stream_marks_the_span_with_the_error(agent, fake_ollama):
    fake_ollama.reply(Reply(lines=chat_lines(), drop_after=1))

    with pytest.raises(Exception) as caught:
        for _ in ollama.Client(host=fake_ollama.host).chat(
            model=MODEL, messages=MESSAGES, stream=True
        ):
            pass

    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE].endswith(type(caught.value).__name__)


def test_generate_is_a_text_completion(agent, fake_ollama):
    response = ollama.Client(host=fake_ollama.host).generate(
        model=MODEL, prompt="Why is the sky blue?", system="Be brief."
    )

    assert response.response == "Hello from Ollama!"
    span = llm_span(agent)
    assert span.name == f"text_completion {MODEL}"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "text_completion"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 14
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
    assert semconv.GEN_AI_INPUT_MESSAGES not in span.attributes


def test_async_client_plain_and_streamed(agent, fake_ollama):
    async def main():
        client = ollama.AsyncClient(host=fake_ollama.host)
        await client.chat(model=MODEL, messages=MESSAGES)
        stream = await client.generate(model=MODEL, prompt="Hi", stream=True)
        return [part.response async for part in stream]

    pieces = asyncio.run(main())

    assert "".join(pieces) == "Hello from Ollama!"
    spans = llm_spans(agent, 2)
    streamed = next(s for s in spans if s.name.startswith("text_completion"))
    assert streamed.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
    assert streamed.attributes[semconv.GEN_AI_REQUEST_STREAM] is True


def test_embed_span_with_input_tokens(agent, fake_ollama):
    ollama.Client(host=fake_ollama.host).embed(model="nomic-embed-text", input=["a", "b"])

    span = llm_span(agent)
    assert span.name == "embeddings nomic-embed-text"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert span.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "nomic-embed-text"


def test_legacy_embeddings_span(agent, fake_ollama):
    ollama.Client(host=fake_ollama.host).embeddings(model="nomic-embed-text", prompt="a")

    assert llm_span(agent).name == "embeddings nomic-embed-text"


def test_response_error_reaches_the_app_unchanged(agent, fake_ollama):
    fake_ollama.reply(Reply(status=404, body={"error": "model 'nope' not found"}))

    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=fake_ollama.host).chat(model="nope", messages=MESSAGES)

    assert caught.value.status_code == 404
    assert caught.value.error == "model 'nope' not found"
    span = llm_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "404"


def test_an_error_line_in_a_stream_marks_the_span(agent, fake_ollama):
    fake_ollama.reply(Reply(lines=[{"error": "out of memory"}]))

    with pytest.raises(ollama.ResponseError):
        list(ollama.Client(host=fake_ollama.host).chat(model=MODEL, messages=MESSAGES, stream=True))

    assert llm_span(agent).attributes[semconv.ERROR_TYPE] == "ollama._types.ResponseError"


def test_connection_refused_error_type_is_the_exception_class(agent):
    from tests.support.http_server import refused_url

    # ollama >= 0.4.5 raises the builtin ConnectionError; before, httpx's ConnectError.
    with pytest.raises(Exception) as caught:
        ollama.Client(host=refused_url().rstrip("/")).chat(model=MODEL, messages=MESSAGES)

    cls = type(caught.value)
    expected = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    assert llm_span(agent).attributes[semconv.ERROR_TYPE] == expected


def test_content_capture_records_messages_tools_tool_calls_and_hides_images(agent, fake_ollama):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is in this picture?", "images": [b"\x89PNG fake"]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}],
        },
        {"role": "tool", "content": "42", "tool_name": "f"},
    ]
    with agent.configured(capture_content=True):
        ollama.Client(host=fake_ollama.host).chat(
            model=MODEL, messages=messages, tools=[get_weather]
        )

    span = llm_span(agent)
    assert json_attribute(span, semconv.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": "Be brief."}
    ]
    inputs = json_attribute(span, semconv.GEN_AI_INPUT_MESSAGES)
    assert inputs[0] == {
        "role": "user",
        "parts": [
            {"type": "text", "content": "What is in this picture?"},
            {"type": "blob", "modality": "image", "content": "<image, 9 bytes>"},
        ],
    }
    assert inputs[1]["parts"] == [
        {"type": "tool_call", "id": None, "name": "f", "arguments": {"x": 1}}
    ]
    assert inputs[2] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": None, "response": "42"}],
        "name": "f",
    }
    assert "PNG" not in span.attributes[semconv.GEN_AI_INPUT_MESSAGES]
    assert json_attribute(span, semconv.GEN_AI_TOOL_DEFINITIONS) == [
        {"type": "function", "name": "get_weather", "description": "Current weather in a city."}
    ]
    assert json_attribute(span, semconv.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": None,
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
            "finish_reason": "stop",
        }
    ]


def test_streamed_output_is_assembled_with_capture(agent, fake_ollama):
    fake_ollama.reply(Reply(lines=chat_lines(pieces=("a", "b", "c"))))
    with agent.configured(capture_content=True, content_max_length=2):
        for _ in ollama.Client(host=fake_ollama.host).chat(
            model=MODEL, messages=MESSAGES, stream=True
        ):
            pass

    output = json_attribute(llm_span(agent), semconv.GEN_AI_OUTPUT_MESSAGES)
    assert output[0]["parts"] == [{"type": "text", "content": "ab…[truncated]"}]
    assert output[0]["finish_reason"] == "stop"


@needs_think
def test_think_level_is_the_reasoning_level(agent, fake_ollama):
    ollama.Client(host=fake_ollama.host).chat(MODEL, MESSAGES, think="low")

    assert llm_span(agent).attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] == "low"


@needs_think
def test_thinking_is_a_reasoning_part(agent, fake_ollama):
    fake_ollama.reply(Reply(body=chat_response(thinking="Let me see.")))
    with agent.configured(capture_content=True):
        ollama.Client(host=fake_ollama.host).chat(model=MODEL, messages=MESSAGES, think=True)

    output = json_attribute(llm_span(agent), semconv.GEN_AI_OUTPUT_MESSAGES)
    assert output[0]["parts"][0] == {"type": "reasoning", "content": "Let me see."}


def test_no_content_without_capture(agent, fake_ollama):
    ollama.Client(host=fake_ollama.host).chat(model=MODEL, messages=MESSAGES)

    attributes = llm_span(agent).attributes
    assert semconv.GEN_AI_INPUT_MESSAGES not in attributes
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in attributes
