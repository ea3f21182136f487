"""The Responses API over a WebSocket (openai 3.x ``responses.connect()``): one ``chat`` span per
``response.create`` sent, through the real SDK and a real loopback WebSocket server."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest
from opentelemetry import trace

from llmtrace_agent.toolkit import semconv
from tests.support.agent import code, run_traced
from tests.support.fake_openai import (
    TEXT,
    TOOL_ARGUMENTS,
    json_attribute,
    llm_span,
    llm_spans,
    skip_unless_sdk_has,
)

pytest.importorskip("websockets")
responses_module = pytest.importorskip("openai.resources.responses.responses")
if not hasattr(responses_module, "ResponsesConnection"):
    pytest.skip("this openai has no Responses WebSocket mode", allow_module_level=True)

from tests.support.fake_openai_ws import FakeOpenAIWebSocket, WsReply, client  # noqa: E402

# Lanes (``stream_id``) and steering came with openai 3.x; WebSocket mode itself with 2.x.
needs_lanes = skip_unless_sdk_has(
    "responses.responses.ResponsesResponseResource", "create", "stream_id"
)
needs_steering = skip_unless_sdk_has("responses.responses.ResponsesResponseResource", "steer")

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.fixture
def fake_ws():
    server = FakeOpenAIWebSocket()
    yield server
    server.close()


def read_response(connection) -> list:
    """The events of one response, up to its final one (the SDK example's loop)."""
    events = []
    for event in connection:
        events.append(event)
        if event.type in ("response.completed", "response.failed", "response.incomplete"):
            break
    return events


def tool_loop(connection) -> str:
    """The SDK example's loop: a function call, its output sent back, then the answer."""
    connection.response.create(model="gpt-4o-mini", input="Weather in Paris?", tools=TOOLS)
    events = read_response(connection)
    first = events[-1].response
    call = first.output[0]
    connection.response.create(
        model="gpt-4o-mini",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=TOOLS,
    )
    return read_response(connection)[-1].response.output_text


def test_each_response_on_a_connection_is_one_chat_span(agent, fake_ws):
    app = trace.get_tracer("app")
    with (
        app.start_as_current_span("turn") as turn,
        client(fake_ws).responses.connect() as connection,
    ):
        answer = tool_loop(connection)
        assert trace.get_current_span() is turn  # the model spans are never left current

    assert answer == TEXT
    first, second = sorted(llm_spans(agent, 2), key=lambda span: span.start_ns)
    parent = format(turn.get_span_context().span_id, "016x")
    expected = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.OPENAI_API_TYPE: "responses",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: fake_ws.port,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 20,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
        semconv.GEN_AI_REQUEST_STREAM: None,  # a socket, not SSE
    }
    for span in (first, second):
        assert (span.name, span.kind, span.parent_span_id) == ("chat gpt-4o-mini", "CLIENT", parent)
        assert {name: span.attributes.get(name) for name in expected} == expected
        assert span.status_code != "ERROR"
    assert first.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_1"
    assert first.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert second.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_2"
    assert second.attributes[semconv.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] == "resp_ws_1"
    assert second.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_content_is_not_recorded_by_default(agent, fake_ws):
    with client(fake_ws).responses.connect() as connection:
        tool_loop(connection)

    for span in llm_spans(agent, 2):
        assert semconv.GEN_AI_INPUT_MESSAGES not in span.attributes
        assert semconv.GEN_AI_OUTPUT_MESSAGES not in span.attributes
        assert semconv.GEN_AI_TOOL_DEFINITIONS not in span.attributes


def test_content_is_recorded_when_asked(agent, fake_ws):
    with agent.configured(capture_content=True), client(fake_ws).responses.connect() as connection:
        tool_loop(connection)

    first, second = sorted(llm_spans(agent, 2), key=lambda span: span.start_ns)
    assert json_attribute(first, semconv.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
    ]
    assert json_attribute(first, semconv.GEN_AI_TOOL_DEFINITIONS)[0]["name"] == "get_weather"
    [call_message] = json_attribute(first, semconv.GEN_AI_OUTPUT_MESSAGES)
    [part] = call_message["parts"]
    assert (part["type"], part["name"], part["arguments"]) == (
        "tool_call",
        "get_weather",
        json.loads(TOOL_ARGUMENTS),
    )
    [tool_result] = json_attribute(second, semconv.GEN_AI_INPUT_MESSAGES)
    assert tool_result["parts"][0]["type"] == "tool_call_response"
    [answer] = json_attribute(second, semconv.GEN_AI_OUTPUT_MESSAGES)
    assert answer["parts"] == [{"type": "text", "content": TEXT}]


def test_events_read_with_recv_and_handlers_are_matched_too(agent, fake_ws):
    ended = []
    with client(fake_ws).responses.connect() as connection:
        connection.send({"type": "response.create", "model": "gpt-4o-mini", "input": "Hi"})
        while connection.recv().type != "response.completed":
            pass

        @connection.on("response.completed")
        def done(event) -> None:
            ended.append(event.response.id)
            connection.close()

        connection.response.create(model="gpt-4o-mini", input="Again")
        connection.dispatch_events()

    assert ended == ["resp_ws_2"]
    spans = sorted(llm_spans(agent, 2), key=lambda span: span.start_ns)
    assert [s.attributes[semconv.GEN_AI_RESPONSE_ID] for s in spans] == ["resp_ws_1", "resp_ws_2"]
    assert all(semconv.ERROR_TYPE not in span.attributes for span in spans)


def test_a_failed_response_is_an_error(agent, fake_ws):
    fake_ws.reply(WsReply(final="response.failed"))
    with client(fake_ws).responses.connect() as connection:
        connection.response.create(model="gpt-4o-mini", input="Hi")
        read_response(connection)

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_1"


def test_an_error_event_ends_the_response_with_its_error_type(agent, fake_ws):
    fake_ws.reply(WsReply(error={"type": "invalid_request_error", "code": "model_not_found"}))
    with client(fake_ws).responses.connect() as connection:
        connection.response.create(model="gpt-nope", input="Hi")
        assert connection.recv().type == "error"

    span = llm_span(agent)
    assert span.name == "chat gpt-nope"
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "model_not_found"


def test_a_connection_closed_by_the_server_mid_response_ends_the_span(agent, fake_ws):
    fake_ws.reply(WsReply(drop_after=3))
    with client(fake_ws).responses.connect() as connection:
        connection.response.create(model="gpt-4o-mini", input="Hi")
        events = [event.type for event in connection]  # ends when the server closes

    assert events[0] == "response.created"
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_1"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert "ConnectionClosed" in span.attributes[semconv.ERROR_TYPE]


def test_leaving_the_with_block_mid_response_ends_the_span_with_that_exception(agent, fake_ws):
    with pytest.raises(KeyError), client(fake_ws).responses.connect() as connection:
        connection.response.create(model="gpt-4o-mini", input="Hi")
        connection.recv()
        raise KeyError("app bug")

    span = llm_span(agent)
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


def test_closing_mid_response_ends_the_span_once(agent, fake_ws):
    connection = client(fake_ws).responses.connect().enter()
    connection.response.create(model="gpt-4o-mini", input="Hi")
    connection.recv()
    connection.close()
    connection.close()

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert semconv.ERROR_TYPE not in span.attributes


@needs_lanes
def test_lanes_are_matched_by_stream_id(agent, fake_ws):
    with client(fake_ws).responses.connect() as connection:
        connection.response.create(model="gpt-4o-mini", input="A", stream_id="a")
        assert read_response(connection)[-1].stream_id == "a"
        connection.response.create(model="gpt-4.1", input="B", stream_id="b")
        read_response(connection)

    spans = {span.name: span for span in llm_spans(agent, 2)}
    assert spans["chat gpt-4o-mini"].attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_1"
    assert spans["chat gpt-4.1"].attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_2"


def test_async_connection_traces_each_response(agent, fake_ws):
    async def main() -> str:
        async with client(fake_ws, asynchronous=True).responses.connect() as connection:
            await connection.response.create(model="gpt-4o-mini", input="Hi", tools=TOOLS)
            async for event in connection:
                if event.type == "response.completed":
                    call = event.response.output[0]
                    break
            await connection.response.create(
                model="gpt-4o-mini",
                previous_response_id=event.response.id,
                input=[{"type": "function_call_output", "call_id": call.call_id, "output": "x"}],
            )
            while (event := await connection.recv()).type != "response.completed":
                pass
            return event.response.output_text

    assert asyncio.run(main()) == TEXT
    first, second = sorted(llm_spans(agent, 2), key=lambda span: span.start_ns)
    assert first.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert second.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert second.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert first.trace_id != second.trace_id  # no span was left current between them


def test_async_connection_dropped_mid_response_ends_the_span(agent, fake_ws):
    fake_ws.reply(WsReply(drop_after=2))

    async def main() -> None:
        async with client(fake_ws, asynchronous=True).responses.connect() as connection:
            await connection.response.create(model="gpt-4o-mini", input="Hi")
            async for _event in connection:
                pass

    asyncio.run(main())
    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert "ConnectionClosed" in span.attributes[semconv.ERROR_TYPE]


def test_a_websocket_app_is_traced_under_the_launcher(receiver, fake_ws):
    app = code(
        f"""
        import openai
        client = openai.OpenAI(base_url={fake_ws.base_url!r}, api_key="k", max_retries=0)
        with client.responses.connect() as connection:
            for prompt in ("one", "two"):
                connection.response.create(model="gpt-4o-mini", input=prompt)
                for event in connection:
                    if event.type == "response.completed":
                        print(event.response.output_text)
                        break
        """
    )
    run = run_traced(app, receiver)

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [TEXT, TEXT]
    spans = receiver.wait_for_spans(2, 10, lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes)
    assert [s.name for s in spans] == ["chat gpt-4o-mini"] * 2
    assert {s.attributes[semconv.GEN_AI_RESPONSE_ID] for s in spans} == {"resp_ws_1", "resp_ws_2"}


def test_a_connection_dropped_unclosed_ends_its_span_when_collected(agent, fake_ws):
    manager = client(fake_ws).responses.connect()
    connection = manager.enter()
    connection.response.create(model="gpt-4o-mini", input="Hi")
    connection.recv()
    socket = connection._connection
    del connection, manager
    gc.collect()

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    socket.close()


def test_a_response_queued_on_the_manager_before_it_opens_is_traced(agent, fake_ws):
    manager = client(fake_ws).responses.connect()
    manager.send({"type": "response.create", "model": "gpt-4o-mini", "input": "queued"})
    with manager as connection:
        read_response(connection)

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_1"
    assert span.attributes[semconv.SERVER_PORT] == fake_ws.port
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_an_azure_client_reports_azure_without_openai_attributes(agent, fake_ws):
    import openai

    azure = openai.AzureOpenAI(
        azure_endpoint=fake_ws.base_url.removesuffix("/v1"), api_key="k", api_version="v1"
    )
    with azure.responses.connect() as connection:
        connection.response.create(model="my-deployment", input="Hi")
        read_response(connection)

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert semconv.OPENAI_API_TYPE not in span.attributes
    assert span.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"


@needs_steering
def test_the_successor_the_server_starts_after_a_steer_is_traced(agent, fake_ws):
    app = trace.get_tracer("app")
    with (
        app.start_as_current_span("turn") as turn,
        client(fake_ws).responses.connect() as connection,
    ):
        connection.response.create(model="gpt-4o-mini", input="Plan a trip", temperature=0.2)
        first = read_response(connection)[-1].response.id
        connection.response.steer(input="Make it cheaper", previous_response_id=first)
        successor = read_response(connection)

    assert successor[0].type == "response.steer.accepted"
    steered, started = sorted(llm_spans(agent, 2), key=lambda span: span.start_ns)
    parent = format(turn.get_span_context().span_id, "016x")
    assert steered.parent_span_id == started.parent_span_id == parent
    assert started.name == "chat gpt-4o-mini"
    assert started.attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2  # inherited
    assert started.attributes[semconv.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] == "resp_ws_1"
    assert started.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_2"
    assert started.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7


@needs_steering
def test_a_failed_steer_starts_no_span_and_the_next_response_is_matched(agent, fake_ws):
    fake_ws.reply(WsReply(), WsReply(error={"error": {"message": "too late"}}))
    with client(fake_ws).responses.connect() as connection:
        connection.response.create(model="gpt-4o-mini", input="Hi")
        first = read_response(connection)[-1].response.id
        connection.response.steer(input="No", previous_response_id=first)
        assert connection.recv().type == "response.steer.failed"
        connection.response.create(model="gpt-4.1", input="Again")
        read_response(connection)

    spans = {span.name: span for span in llm_spans(agent, 2)}
    assert spans["chat gpt-4.1"].attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_2"


def test_the_older_response_done_final_event_ends_the_span(agent, fake_ws):
    fake_ws.reply(WsReply(final="response.done"))
    with client(fake_ws).responses.connect() as connection:
        connection.response.create(model="gpt-4o-mini", input="Hi")
        for event in connection:
            if event.type == "response.done":
                break

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_ws_1"
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20
