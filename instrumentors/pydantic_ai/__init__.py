"""pydantic_ai: Pydantic AI's own GenAI spans, switched on with the agent's tracer provider.

Pydantic AI traces itself (``Agent.instrument_all``): agent runs (``invoke_agent {agent}``),
tools (``execute_tool {tool}``) and model requests (``chat {model}``). This instrumentor turns
that on with the agent's provider, content setting and the instrumentation format with the
GenAI v1.41 names, and keeps one model-call span per request: the provider instrumentor's
(openai, anthropic…) when it traces the request, Pydantic AI's only when none does.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class PydanticAIInstrumentor(Instrumentor):
    """Switches on Pydantic AI's instrumentation for every agent, deduplicated with ours."""

    name = "pydantic_ai"
    targets = ("pydantic_ai",)
    requires = "pydantic-ai-slim>=1.32,<3"

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.pydantic_ai._install import install

        install(self)

    def uninstrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.pydantic_ai._install import uninstall

        uninstall()
        super().uninstrument(module)


__all__ = ["PydanticAIInstrumentor"]
