"""The MCP client the tests run: ``python client_app.py stdio`` or ``... http URL``.

Sends each kind of request once and prints what the server answered, so the test sees the
client worked. Over stdio it starts the server as apps do: a plain ``python``, with the SDK's
scrubbed default environment (only the variable it needs added): the agent must hand itself on.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from mcp import ClientSession, StdioServerParameters, stdio_client

try:
    from mcp.shared.exceptions import McpError
except ImportError:  # mcp 2
    from mcp.shared.exceptions import MCPError as McpError

HERE = Path(__file__).resolve().parent


async def exercise(session: ClientSession) -> None:
    await session.initialize()
    tools = await session.list_tools()
    print("tools", sorted(tool.name for tool in tools.tools))
    ok = await session.call_tool("get_weather", {"city": "Paris"})
    print("ok", ok.content[0].text)
    failed = await session.call_tool("broken", {"city": "Oslo"})
    print("isError", getattr(failed, "isError", None) or getattr(failed, "is_error", None))
    answer = await session.call_tool("ask_model", {"question": "Weather?"})
    print("model", answer.content[0].text)
    prompt = await session.get_prompt("forecast", {"city": "Paris"})
    print("prompt", prompt.messages[0].content.text)
    resource = await session.read_resource("weather://stations")
    print("resource", resource.contents[0].text)
    try:
        await session.set_logging_level("info")  # FastMCP has no handler: a JSON-RPC error
    except McpError as error:
        print("error", error.error.code)


async def main() -> None:
    if sys.argv[1] == "http":
        try:
            from mcp.client.streamable_http import streamable_http_client as http_client
        except ImportError:  # mcp before 1.2x
            from mcp.client.streamable_http import streamablehttp_client as http_client

        async with http_client(sys.argv[2]) as streams, ClientSession(*streams[:2]) as session:
            await exercise(session)
    else:
        server = StdioServerParameters(
            command=sys.executable,
            args=[str(HERE / "server_app.py"), "stdio"],
            env={"FAKE_OPENAI_URL": os.environ["FAKE_OPENAI_URL"]},
        )
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await exercise(session)


asyncio.run(main())
