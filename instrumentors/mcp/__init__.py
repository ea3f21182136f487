"""mcp: MCP client and server spans per the MCP semantic conventions (``docs/gen-ai/mcp.md``).

One CLIENT span per request or notification a session sends, one SERVER span per request or
notification it handles, named ``{mcp.method.name} {target}``, over every transport (stdio,
streamable HTTP, SSE, in-memory). The sender's context travels in ``params._meta``, so a client
and a server traced by the agent form one trace. ``tools/call`` spans are also ``execute_tool``
spans; sent while a framework's ``execute_tool`` span is current, the call enriches that span
instead of adding a second one. See README.md for the attributes and the patched methods.

mcp 2.x rewrote the SDK and traces itself with the global tracer provider (client and server
spans, ``_meta`` propagation): this instrumentor stays out of it (``requires``), and the SDK's
own spans are exported as they are.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class MCPInstrumentor(Instrumentor):
    """Traces MCP sessions of the ``mcp`` SDK 1.x, client and server side."""

    name = "mcp"
    targets = ("mcp",)
    requires = "mcp>=1.10,<2"

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.mcp._install import install

        install(self, module)
