"""What the one-process benchmarks share: the agent started against the loopback sink, an OpenAI
client on the mock transport (``workload.py``), the traced and the SDK's own ``create``, the
floor's calls, and a switch for the HTTP instrumentor underneath."""

from __future__ import annotations

import sys

from workload import floor_calls, make_client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from run import Sink


class InProcess:
    """The agent in this process, exporting to ``sink``, and the client the ways call."""

    def __init__(self, sink: Sink) -> None:
        import llmtrace_agent

        llmtrace_agent.start(exporters=["otlp"], otlp_endpoint=sink.endpoint)
        import openai  # noqa: F401 (patched on import)
        from opentelemetry import trace

        from llmtrace_agent._runtime import agent

        self.client, self.server = make_client()
        http_name = "httpx2" if "httpx2" in sys.modules else "httpx"
        assert agent.registry is not None
        self._http = agent.registry.statuses[http_name].instrumentor
        self._http_module = sys.modules[http_name]
        chat = self.client.chat.completions  # type: ignore[attr-defined]
        self.traced: Callable[..., object] = chat.create
        self.untraced: Callable[..., object] = self.traced.__wrapped__  # type: ignore[attr-defined]
        chat.create = self.untraced  # the floor's span wraps the SDK's own method
        floor_tracer = trace.get_tracer("bench.floor")
        self.floor_call, self.floor_stream = floor_calls(self.client, floor_tracer)
        del chat.create

    def trace_http(self, on: bool) -> None:
        """The HTTP instrumentor patched (traced ways) or not (untraced and floor ways)."""
        if on:
            self._http.instrument(self._http_module)  # type: ignore[union-attr]
        else:
            self._http.uninstrument(self._http_module)  # type: ignore[union-attr]
