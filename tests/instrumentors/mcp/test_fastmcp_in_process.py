"""FastMCP (the ``fastmcp`` package, on the mcp SDK) in this process: a ``fastmcp.Client``
talking to a ``fastmcp.FastMCP`` server in memory. FastMCP traces itself, its client around the
SDK session's send: our span for the request merges into its span instead of nesting a second.
Skipped where FastMCP is not installed (4.x needs mcp 2.x: the SDK matrix's mcp-2 run)."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from opentelemetry import trace

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.agent_spans import end_span, start_tool_span
from tests.support.agent import InProcessAgent

fastmcp = pytest.importorskip("fastmcp")
pytest.importorskip(
    "fastmcp.client.telemetry", reason="a FastMCP release that does not trace itself"
)

server = fastmcp.FastMCP("weather")


@server.tool()
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21 C"


def talk(action: Callable[[object], Awaitable[object]]) -> object:
    async def main() -> object:
        async with fastmcp.Client(server) as client:
            return await action(client)

    return asyncio.run(main())


def test_each_request_is_one_client_span_fastmcps_with_ours_merged_in(
    agent: InProcessAgent,
) -> None:
    result = talk(lambda client: client.call_tool("get_weather", {"city": "Paris"}))

    assert result.content[0].text == "Sunny in Paris, 21 C"
    spans = agent.spans(2, name="tools/call get_weather")
    agent.flush()
    calls = [s for s in agent.receiver.spans if s.name == "tools/call get_weather"]
    (client,) = [s for s in calls if s.kind == "CLIENT"]
    (served,) = [s for s in calls if s.kind == "SERVER"]
    assert served.parent_span_id == client.span_id
    assert client.attributes[semconv.JSONRPC_REQUEST_ID]  # ours, on FastMCP's span
    assert len(spans) == 2


def test_a_tool_call_inside_a_framework_tool_span_is_one_client_span_under_it(
    agent: InProcessAgent,
) -> None:
    tracer = trace.get_tracer("a-framework")

    async def in_tool_span(client: object) -> object:
        span = start_tool_span(tracer, "get_weather", call_id="call_1")
        with trace.use_span(span, end_on_exit=False):
            result = await client.call_tool("get_weather", {"city": "Paris"})  # type: ignore[attr-defined]
        end_span(span)
        return result

    talk(in_tool_span)

    (tool,) = agent.spans(1, name="execute_tool get_weather")
    agent.spans(2, name="tools/call get_weather")
    calls = [s for s in agent.receiver.spans if s.name == "tools/call get_weather"]
    (client,) = [s for s in calls if s.kind == "CLIENT"]  # FastMCP's, under the tool span
    assert client.parent_span_id == tool.span_id
