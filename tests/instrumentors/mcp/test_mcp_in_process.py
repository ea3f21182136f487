"""A client and a FastMCP server connected in this process by the SDK's memory streams
(``create_connected_server_and_client_session``): the fast checks of content capture, the merge
into a framework's tool span, what the caller sends and gets back."""

import asyncio
import json
from collections.abc import Awaitable, Callable

from mcp import types
from mcp.server.fastmcp import Context, FastMCP, Image
from mcp.shared.exceptions import McpError
from mcp.shared.memory import create_connected_server_and_client_session
from opentelemetry import baggage, context, trace

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.agent_spans import end_span, start_tool_span
from tests.support.agent import InProcessAgent
from tests.support.otlp_receiver import ReceivedSpan

PNG = b"\x89PNG\r\n\x1a\n" + bytes(300)

server = FastMCP("weather")


@server.tool()
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21 C"


@server.tool()
def radar(city: str) -> Image:
    """A radar picture."""
    return Image(data=PNG, format="png")


@server.tool()
def progress_token(ctx: Context) -> str:  # type: ignore[type-arg]
    """The progress token the request's ``_meta`` carried. (A real annotation, not a string
    from ``__future__.annotations``: FastMCP 1.10 finds its context parameter by its type.)"""
    meta = ctx.request_context.meta
    return str(meta.progressToken if meta else None)


@server.tool()
async def summarize(text: str, ctx: Context) -> str:  # type: ignore[type-arg]
    """Asks the client's model to summarize (a server-initiated ``sampling/createMessage``)."""
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=text))
    result = await ctx.session.create_message(messages=[message], max_tokens=20)
    return result.content.text  # type: ignore[union-attr]


@server.tool()
def whoami() -> str:
    """The ``user.id`` baggage the request brought."""
    return str(baggage.get_baggage("user.id"))


@server.tool()
async def chatty(ctx: Context) -> str:  # type: ignore[type-arg]
    """Sends the client a log message while it works (a server-to-client notification)."""
    await ctx.info("working")
    return "done"


@server.tool()
async def relay(city: str) -> str:
    """Calls ``get_weather`` through a second session (an MCP gateway's tool)."""
    async with create_connected_server_and_client_session(server._mcp_server) as session:
        result = await session.call_tool("get_weather", {"city": city})
    return result.content[0].text  # type: ignore[union-attr]


async def sample(context: object, params: types.CreateMessageRequestParams) -> object:
    """The client's sampling callback: a canned answer."""
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="Short."), model="tiny"
    )


def talk(action: Callable[[object], Awaitable[object]]) -> object:
    """Run ``action(session)`` against the server, over the SDK's in-memory transport."""

    async def main() -> object:
        async with create_connected_server_and_client_session(
            server._mcp_server, sampling_callback=sample
        ) as session:
            try:
                return await action(session)
            except McpError as error:  # raised out of the SDK's task groups as a group
                return error

    return asyncio.run(main())


def pair(agent: InProcessAgent, name: str) -> tuple[ReceivedSpan, ReceivedSpan]:
    spans = agent.spans(2, name=name)
    client = [s for s in spans if s.kind == "CLIENT"]
    served = [s for s in spans if s.kind == "SERVER"]
    assert len(client) == 1 and len(served) == 1, spans
    return client[0], served[0]


def test_a_tool_call_is_a_client_and_a_server_span_in_one_trace(agent: InProcessAgent) -> None:
    result = talk(lambda session: session.call_tool("get_weather", {"city": "Paris"}))
    assert isinstance(result, types.CallToolResult)
    assert result.content[0].text == "Sunny in Paris, 21 C"
    client, served = pair(agent, "tools/call get_weather")
    assert served.trace_id == client.trace_id
    assert served.parent_span_id == client.span_id
    assert client.attributes[semconv.GEN_AI_TOOL_NAME] == "get_weather"
    assert semconv.NETWORK_TRANSPORT not in client.attributes  # memory streams: no transport
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in client.attributes


def test_content_capture_records_arguments_and_result_on_both_sides(
    agent: InProcessAgent,
) -> None:
    with agent.configured(capture_content=True):
        talk(lambda session: session.call_tool("get_weather", {"city": "Paris"}))
    for span in pair(agent, "tools/call get_weather"):
        assert json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris"}
        assert "Sunny in Paris, 21 C" in span.attributes[semconv.GEN_AI_TOOL_CALL_RESULT]


def test_content_is_clipped_and_stays_valid_json(agent: InProcessAgent) -> None:
    with agent.configured(capture_content=True, content_max_length=10):
        talk(lambda session: session.call_tool("get_weather", {"city": "P" * 50}))
    for span in pair(agent, "tools/call get_weather"):
        arguments = json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS])
        assert arguments["city"].startswith("PPPPPPPPPP…")
        assert len(arguments["city"]) < 30
        json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_RESULT])


def test_an_image_result_is_a_placeholder_not_base64(agent: InProcessAgent) -> None:
    with agent.configured(capture_content=True):
        result = talk(lambda session: session.call_tool("radar", {"city": "Oslo"}))
    assert result.content[0].type == "image"
    for span in pair(agent, "tools/call radar"):
        recorded = json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_RESULT])
        assert recorded == [
            {
                "type": "blob",
                "modality": "image",
                "mime_type": "image/png",
                "content": f"<image/png, {len(PNG)} bytes>",
            }
        ]


def test_a_tool_call_inside_a_framework_tool_span_enriches_it_instead_of_a_second_one(
    agent: InProcessAgent,
) -> None:
    tracer = trace.get_tracer("a-framework")

    async def in_tool_span(session: object) -> object:
        span = start_tool_span(tracer, "get_weather", call_id="call_1")
        with trace.use_span(span, end_on_exit=False):
            result = await session.call_tool("get_weather", {"city": "Paris"})  # type: ignore[attr-defined]
        end_span(span)
        return result

    talk(in_tool_span)
    (tool,) = agent.spans(1, name="execute_tool get_weather")
    (served,) = agent.spans(1, name="tools/call get_weather")
    assert served.kind == "SERVER"
    assert served.parent_span_id == tool.span_id
    assert tool.attributes[semconv.MCP_METHOD_NAME] == "tools/call"
    assert tool.attributes[semconv.JSONRPC_REQUEST_ID] == "1"
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert tool.attributes[semconv.GEN_AI_OPERATION_NAME] == "execute_tool"
    names = [s.name for s in agent.receiver.spans]
    assert names.count("tools/call get_weather") == 1  # the server's; no CLIENT one


def test_the_callers_request_is_left_alone_and_its_own_meta_kept(agent: InProcessAgent) -> None:
    params = types.CallToolRequestParams(
        name="progress_token", arguments={}, _meta=types.RequestParams.Meta(progressToken=7)
    )
    request = types.ClientRequest(types.CallToolRequest(method="tools/call", params=params))

    async def send(session: object) -> object:
        return await session.send_request(request, types.CallToolResult)  # type: ignore[attr-defined]

    result = talk(send)
    assert result.content[0].text == "7"
    assert request.root.params is params
    assert params.meta.model_extra == {}
    client, served = pair(agent, "tools/call progress_token")
    assert served.parent_span_id == client.span_id


def test_a_request_without_params_carries_the_context_too(agent: InProcessAgent) -> None:
    talk(lambda session: session.send_ping())
    client, served = pair(agent, "ping")
    assert served.parent_span_id == client.span_id


def test_an_error_response_reaches_the_caller_untouched_and_marks_both_spans(
    agent: InProcessAgent,
) -> None:
    error = talk(lambda session: session.get_prompt("no-such-prompt"))
    assert type(error) is McpError
    client, served = pair(agent, "prompts/get no-such-prompt")
    for span in (client, served):
        assert span.attributes[semconv.ERROR_TYPE] == str(error.error.code)
        assert span.status_code == "ERROR"
        assert span.status_message == error.error.message


def test_a_server_initiated_request_is_a_client_span_on_the_server_and_a_server_span_on_the_client(
    agent: InProcessAgent,
) -> None:
    result = talk(lambda session: session.call_tool("summarize", {"text": "a long text"}))
    assert result.content[0].text == "Short."
    client, served = pair(agent, "tools/call summarize")
    asked, answered = pair(agent, "sampling/createMessage")
    assert asked.parent_span_id == served.span_id  # sent by the server while handling the call
    assert answered.parent_span_id == asked.span_id
    assert {span.trace_id for span in (client, served, asked, answered)} == {client.trace_id}


def test_a_tool_handler_calling_another_server_makes_a_client_span_under_its_server_span(
    agent: InProcessAgent,
) -> None:
    result = talk(lambda session: session.call_tool("relay", {"city": "Oslo"}))
    assert result.content[0].text == "Sunny in Oslo, 21 C"
    _, relaying = pair(agent, "tools/call relay")
    relayed, answered = pair(agent, "tools/call get_weather")
    assert relayed.parent_span_id == relaying.span_id
    assert answered.parent_span_id == relayed.span_id


def test_operation_durations_are_recorded_on_both_sides_without_ids(agent: InProcessAgent) -> None:
    talk(lambda session: session.call_tool("get_weather", {"city": "Paris"}))
    agent.flush()
    for metric in (semconv.MCP_CLIENT_OPERATION_DURATION, semconv.MCP_SERVER_OPERATION_DURATION):
        points = [
            p
            for p in agent.receiver.points(metric)
            if p.attributes.get(semconv.GEN_AI_TOOL_NAME) == "get_weather"
        ]
        assert points, metric
        assert points[-1].bucket_bounds == tuple(semconv.MCP_OPERATION_DURATION_BUCKETS)
        assert points[-1].attributes[semconv.MCP_METHOD_NAME] == "tools/call"
        assert semconv.JSONRPC_REQUEST_ID not in points[-1].attributes
        assert semconv.MCP_SESSION_ID not in points[-1].attributes


def test_a_server_notification_is_a_client_span_on_the_server_and_a_server_span_on_the_client(
    agent: InProcessAgent,
) -> None:
    talk(lambda session: session.call_tool("chatty", {}))
    _, served = pair(agent, "tools/call chatty")
    sent, received = pair(agent, "notifications/message")
    assert sent.parent_span_id == served.span_id
    assert received.parent_span_id == sent.span_id


def test_baggage_travels_with_the_request(agent: InProcessAgent) -> None:
    async def as_alice(session: object) -> object:
        token = context.attach(baggage.set_baggage("user.id", "alice"))
        try:
            return await session.call_tool("whoami", {})  # type: ignore[attr-defined]
        finally:
            context.detach(token)

    result = talk(as_alice)
    assert result.content[0].text == "alice"


def test_another_tool_calling_an_mcp_tool_gets_a_client_span_under_its_tool_span(
    agent: InProcessAgent,
) -> None:
    tracer = trace.get_tracer("a-framework")

    async def in_other_tool(session: object) -> object:
        span = start_tool_span(tracer, "plan_trip")
        with trace.use_span(span, end_on_exit=False):
            result = await session.call_tool("get_weather", {"city": "Oslo"})  # type: ignore[attr-defined]
        end_span(span)
        return result

    talk(in_other_tool)
    (tool,) = agent.spans(1, name="execute_tool plan_trip")
    client, served = pair(agent, "tools/call get_weather")
    assert client.parent_span_id == tool.span_id
    assert served.parent_span_id == client.span_id
    assert semconv.MCP_METHOD_NAME not in tool.attributes
