"""mcp 2.x in this process: ``Client(server)`` connects to an ``MCPServer`` in memory. The checks
where our spans replace the SDK's own: content, the merge into a framework's tool span, baggage,
errors, and no span of the SDK's beside ours."""

import asyncio
import json
from collections.abc import Awaitable, Callable

from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from opentelemetry import baggage, context, trace

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.agent_spans import end_span, start_tool_span
from tests.support.agent import InProcessAgent
from tests.support.otlp_receiver import ReceivedSpan

server = MCPServer("weather")


@server.tool()
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21 C"


@server.tool()
def whoami() -> str:
    """The ``user.id`` baggage the request brought."""
    return str(baggage.get_baggage("user.id"))


# In memory the SDK calls the server directly: no JSON-RPC, so no jsonrpc.request.id (the
# two-process tests check it on the wire).


def talk(action: Callable[[Client], Awaitable[object]]) -> object:
    async def main() -> object:
        async with Client(server) as client:
            try:
                return await action(client)
            except MCPError as error:  # raised out of the SDK's task groups as a group
                return error

    return asyncio.run(main())


def pair(agent: InProcessAgent, name: str) -> tuple[ReceivedSpan, ReceivedSpan]:
    spans = agent.spans(2, name=name)
    client = [s for s in spans if s.kind == "CLIENT"]
    served = [s for s in spans if s.kind == "SERVER"]
    assert len(client) == 1 and len(served) == 1, spans
    return client[0], served[0]


def test_one_client_and_one_server_span_and_none_of_the_sdks(agent: InProcessAgent) -> None:
    result = talk(lambda client: client.call_tool("get_weather", {"city": "Paris"}))
    assert result.content[0].text == "Sunny in Paris, 21 C"
    client, served = pair(agent, "tools/call get_weather")
    assert served.parent_span_id == client.span_id
    assert client.attributes[semconv.GEN_AI_OPERATION_NAME] == "execute_tool"
    agent.flush()
    assert not [s for s in agent.receiver.spans if s.scope == "mcp-python-sdk"]
    assert not [s for s in agent.receiver.spans if s.name.startswith("MCP send")]


def test_content_capture_records_arguments_and_result_on_both_sides(
    agent: InProcessAgent,
) -> None:
    with agent.configured(capture_content=True):
        talk(lambda client: client.call_tool("get_weather", {"city": "Paris"}))
    for span in pair(agent, "tools/call get_weather"):
        assert json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris"}
        assert "Sunny in Paris, 21 C" in span.attributes[semconv.GEN_AI_TOOL_CALL_RESULT]


def test_a_tool_call_inside_a_framework_tool_span_enriches_it(agent: InProcessAgent) -> None:
    tracer = trace.get_tracer("a-framework")

    async def in_tool_span(client: Client) -> object:
        span = start_tool_span(tracer, "get_weather", call_id="call_1")
        with trace.use_span(span, end_on_exit=False):
            result = await client.call_tool("get_weather", {"city": "Paris"})
        end_span(span)
        return result

    talk(in_tool_span)
    (tool,) = agent.spans(1, name="execute_tool get_weather")
    (served,) = agent.spans(1, name="tools/call get_weather")
    assert served.kind == "SERVER"
    assert served.parent_span_id == tool.span_id
    assert tool.attributes[semconv.MCP_METHOD_NAME] == "tools/call"
    assert [s.name for s in agent.receiver.spans].count("tools/call get_weather") == 1


def test_baggage_travels_with_the_request(agent: InProcessAgent) -> None:
    async def as_alice(client: Client) -> object:
        token = context.attach(baggage.set_baggage("user.id", "alice"))
        try:
            return await client.call_tool("whoami", {})
        finally:
            context.detach(token)

    assert talk(as_alice).content[0].text == "alice"


def test_an_error_response_marks_both_spans(agent: InProcessAgent) -> None:
    error = talk(lambda client: client.get_prompt("no-such-prompt"))
    assert type(error) is MCPError
    client, served = pair(agent, "prompts/get no-such-prompt")
    for span in (client, served):
        assert span.attributes[semconv.ERROR_TYPE] == str(error.error.code)
        assert span.status_code == "ERROR"
