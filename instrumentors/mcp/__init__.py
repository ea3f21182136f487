"""mcp: MCP client and server spans per the MCP semantic conventions (``docs/gen-ai/mcp.md``).

One CLIENT span per request or notification a session sends, one SERVER span per request or
notification it handles, named ``{mcp.method.name} {target}``, over every transport (stdio,
streamable HTTP, SSE, in-memory). The sender's context travels in ``params._meta``, so a client
and a server traced by the agent form one trace. ``tools/call`` spans are also ``execute_tool``
spans; sent while a framework's ``execute_tool`` span is current, the call enriches that span
instead of adding a second one. See README.md for the attributes and the patched methods.

mcp 2.x rewrote the SDK (a JSON-RPC dispatcher, server middleware) and traces itself: there
our spans replace the SDK's own (``_install_v2``), so each message is still traced once per side.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class MCPInstrumentor(Instrumentor):
    """Traces MCP sessions of the ``mcp`` SDK 1.x and 2.x, client and server side."""

    name = "mcp"
    targets = ("mcp",)
    requires = "mcp>=1.10,<3"

    def instrument(self, module: ModuleType) -> None:
        import importlib.util

        if importlib.util.find_spec("mcp.shared.jsonrpc_dispatcher") is None:  # 1.x
            from llmtrace_agent.instrumentors.mcp._install import install

            install(self, module)
        else:
            from llmtrace_agent.instrumentors.mcp._install_v2 import install_v2

            install_v2(self, module)
