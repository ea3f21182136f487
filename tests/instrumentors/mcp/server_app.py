"""The MCP server the tests talk to: ``python server_app.py stdio`` or ``... http PORT``.

A FastMCP server (the SDK's high-level API on its low-level ``Server``) with a tool that works,
one that fails (a ``CallToolResult`` with ``isError``), a prompt and a resource.
"""

from __future__ import annotations

import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("weather", host="127.0.0.1", port=int(sys.argv[2]) if len(sys.argv) > 2 else 0)


@server.tool()
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21 C"


@server.tool()
def broken(city: str) -> str:
    """A tool that fails."""
    raise ValueError(f"no station in {city}")


@server.prompt()
def forecast(city: str) -> str:
    """A forecast prompt."""
    return f"Write a forecast for {city}."


@server.resource("weather://stations")
def stations() -> str:
    """The weather stations."""
    return "Paris, Oslo"


if __name__ == "__main__":
    server.run("streamable-http" if sys.argv[1:2] == ["http"] else "stdio")
