"""The MCP server the tests talk to: ``python server_app.py stdio`` or ``... http PORT``.

A FastMCP server (mcp 1; ``MCPServer`` in mcp 2: the SDK's high-level API on its low-level
``Server``) with a tool that works,
one that fails (a ``CallToolResult`` with ``isError``), one that asks a model (the loopback fake
OpenAI at ``FAKE_OPENAI_URL``), a prompt and a resource.

(No ``from __future__ import annotations``: FastMCP 1.10 reads its tools' annotations as types.)
"""

import os
import sys

PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
try:
    from mcp.server.fastmcp import FastMCP

    server = FastMCP("weather", host="127.0.0.1", port=PORT)
    RUN_OPTIONS: dict[str, object] = {}
except ModuleNotFoundError:  # mcp 2: FastMCP became MCPServer
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("weather")
    RUN_OPTIONS = {"host": "127.0.0.1", "port": PORT}


@server.tool()
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21 C"


@server.tool()
def broken(city: str) -> str:
    """A tool that fails."""
    raise ValueError(f"no station in {city}")


@server.tool()
async def ask_model(question: str) -> str:
    """Ask the model (its chat span is under this tool's server span)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="test-key")
    completion = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
    )
    return completion.choices[0].message.content or ""


@server.prompt()
def forecast(city: str) -> str:
    """A forecast prompt."""
    return f"Write a forecast for {city}."


@server.resource("weather://stations")
def stations() -> str:
    """The weather stations."""
    return "Paris, Oslo"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", **RUN_OPTIONS)
    else:
        server.run("stdio")
