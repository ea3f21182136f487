"""openai_agents: the OpenAI Agents SDK's runs, agents, tools, handoffs and guardrails as GenAI
agent spans, with the model calls left to the provider instrumentors underneath.

The SDK traces itself: a run is a ``Trace`` and each step a ``Span`` (agent, function,
handoff, guardrail, generation/response…), started and finished by its own tracing code. So we
wrap that code, ``TraceImpl.start/finish`` and ``SpanImpl.start/finish``, rather than adding a
trace processor (which ``set_trace_processors`` would remove): each SDK trace or span becomes an
OpenTelemetry span, made current exactly while the SDK marks its own span current, in the same
context. The model request the SDK makes inside an agent is then traced once, by the openai (or
litellm…) instrumentor, as a child of the agent span; generation and response spans become no
span of ours, but an offer (``toolkit.genai.delegation``) that the provider span takes.

The SDK's own upload of its traces to OpenAI is kept (``LLMTRACE_OPENAI_AGENTS_EXPORT=false``
stops it) and marked ``telemetry_upload``, so it is no HTTP span of the application's.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class OpenAIAgentsInstrumentor(Instrumentor):
    """Traces OpenAI Agents SDK runs (``openai-agents``) through its own tracing code."""

    name = "openai_agents"
    targets = ("agents",)
    requires = "openai-agents>=0.2,<1"

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.openai_agents import _install

        _install.install(self)


__all__ = ["OpenAIAgentsInstrumentor"]
